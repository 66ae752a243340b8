// PostgreSQL hurt under the mixed load: a fast shutdown and restart of the whole cluster,
// every connection terminated (pg_terminate_backend) again and again, and a projector's
// batches held past their statement timeout by a lock. Clients see 503/5xx while the
// database is away and never a false success (check_invariants compares every answer
// with what was stored); service is back within 5 s of the database; the projectors
// retry and recover by themselves.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "http/client.h"
#include "tests/faults/harness.h"

namespace tally::faults {
namespace {

using namespace std::chrono_literals;

// A cluster of this test's own (tests/faults/pg.sh), so stopping it hurts no other test.
class PrivatePostgres {
public:
    PrivatePostgres() : port_(testing::free_port()) {
        char tmpl[] = "/tmp/tally-faults-pg-XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        run("start " + dir_ + " " + std::to_string(port_));
    }
    ~PrivatePostgres() { std::system(("bash " + script() + " remove " + dir_ + " >/dev/null 2>&1").c_str()); }
    std::string admin_url() const { return "postgresql://tally@127.0.0.1:" + std::to_string(port_) + "/postgres"; }
    void stop() { run("stop " + dir_); }
    void start() { run("start " + dir_ + " " + std::to_string(port_)); }

private:
    static std::string script() { return std::string(TALLY_SOURCE_DIR) + "/tests/faults/pg.sh"; }
    static void run(const std::string& args) {
        ASSERT_EQ(std::system(("bash " + script() + " " + args).c_str()), 0) << "pg.sh " << args;
    }
    int port_;
    std::string dir_;
};

void more_acknowledged(Load& load, size_t n) {
    const size_t before = load.acknowledged();
    ASSERT_TRUE(testing::eventually([&] { return load.acknowledged() >= before + n; }, 90s)) << "the load stalled";
}

void projectors_apply(Stack& s, const std::string& when) {
    const auto since = projected(s);
    ASSERT_TRUE(testing::eventually([&] { return all_moved(s, since); }, 120s)) << "a projector stalled " << when;
}

// How long until every node accepts a write again (a credit grant, fresh key each try).
std::chrono::milliseconds until_writes_pass(Stack& s, const std::string& tag) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t node = 0; node < s.nodes.size(); ++node) {
        for (int attempt = 0;; ++attempt) {
            http::Client c("127.0.0.1", s.nodes[node]->port());
            auto r = c.request("POST", "/v1/customers/c0/credit-grants",
                               nlohmann::json{{"amount_minor", 1}, {"currency", "USD"}, {"reason", "probe"}}.dump(),
                               {{"Authorization", "Bearer " + s.admin},
                                {"Idempotency-Key", "probe-" + tag + "-" + std::to_string(node) + "-" + std::to_string(attempt)}});
            if (r.status == 201) break;
            if (std::chrono::steady_clock::now() - t0 > 60s) {
                ADD_FAILURE() << "node " << node << " still answers " << r.status << " " << r.body;
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

int server_errors(const std::map<int, int>& transient) {
    int n = 0;
    for (const auto& [status, count] : transient)
        if (status >= 500) n += count;
    return n;
}

void print_transient(Stack& s) {
    for (const auto& [status, n] : s.transient()) std::printf("retried answers %d: %d\n", status, n);
}

// The load started, some of it acknowledged and every projector past its first batch.
void warm_up(Stack& s, Load& load) {
    load.start();
    more_acknowledged(load, 60);
    projectors_apply(s, "warming up");
    progress(s, load, "warmed up");
}

StackOptions two_nodes_on(const PrivatePostgres& pg, uint32_t seed) {
    StackOptions options;
    options.nodes = 2;
    options.seed = seed;
    options.pg_admin_url = pg.admin_url();
    return options;
}

TEST(Faults, PostgresFastShutdownMidLoadNeverGivesAFalseSuccessAndServiceReturnsWithinFiveSeconds) {
    PrivatePostgres pg;
    Stack s(two_nodes_on(pg, 5));
    Load load(s, 5);
    warm_up(s, load);

    for (int round = 0; round < 2; ++round) {
        const int errors_before = server_errors(s.transient());
        pg.stop();
        std::this_thread::sleep_for(3s);  // the load goes on against a database that is gone
        EXPECT_GT(server_errors(s.transient()), errors_before) << "no 5xx while the database was down";
        pg.start();
        const auto back = until_writes_pass(s, "restart" + std::to_string(round));
        std::printf("round %d: writes pass on both nodes %lld ms after the database is back\n", round,
                    static_cast<long long>(back.count()));
        EXPECT_LT(back, 5s) << "service did not return within 5 s of the database";
        progress(s, load, "database back " + std::to_string(round + 1));
        more_acknowledged(load, 60);
        projectors_apply(s, "after the restart");
        progress(s, load, "after restart " + std::to_string(round + 1));
    }
    load.stop();
    progress(s, load, "load stopped");
    print_transient(s);
    check_invariants(s);
}

TEST(Faults, PostgresConnectionsTerminatedUnderLoadNeverGiveAFalseSuccess) {
    PrivatePostgres pg;
    Stack s(two_nodes_on(pg, 6));
    Load load(s, 6);
    warm_up(s, load);

    sql::Pool admin(pg.admin_url(), 1);
    const std::string db = s.url.substr(s.url.rfind('/') + 1);
    int64_t terminated = 0;
    for (int round = 0; round < 6; ++round) {
        ASSERT_TRUE(admin.transact([&](sql::Tx& tx) {
            auto rows = tx.exec(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND backend_type = 'client backend'",
                {db});
            terminated += rows[0].i64(0);
        }));
        const auto back = until_writes_pass(s, "terminate" + std::to_string(round));
        EXPECT_LT(back, 5s) << "service did not return within 5 s";
        std::this_thread::sleep_for(std::chrono::milliseconds(300 + 200 * round));
    }
    std::printf("terminated %lld connections in 6 rounds\n", static_cast<long long>(terminated));
    EXPECT_GT(terminated, 6) << "the test cut nothing";
    more_acknowledged(load, 60);
    projectors_apply(s, "after the terminations");
    load.stop();
    print_transient(s);
    check_invariants(s);
}

TEST(Faults, AProjectorPastItsStatementTimeoutRetriesAndRecovers) {
    StackOptions options;
    options.nodes = 1;
    options.seed = 7;
    options.env = {{"TALLY_PROJECTOR_STATEMENT_TIMEOUT_MS", "500"}};
    Stack s(options);
    Load load(s, options.seed);
    warm_up(s, load);

    // An operator's long transaction holds the ledger projection's table and the ledger
    // projector's checkpoint rows (a batch without postings never touches the table, but
    // every batch locks its checkpoints first): the ledger projector's batches wait on the
    // locks until their statements time out, roll back and are read again; the other
    // projectors and the write path go on.
    sql::Pool holder(s.url, 1);
    std::atomic<bool> locked{false};
    std::thread hold([&] {
        EXPECT_TRUE(holder.transact([&](sql::Tx& tx) {
            // Rows first, the order a batch takes them in, so the two never deadlock.
            tx.exec("SELECT 1 FROM projector_checkpoints WHERE projector = 'ledger' FOR UPDATE");
            tx.exec("LOCK TABLE ledger_accounts IN ACCESS EXCLUSIVE MODE");
            locked = true;
            tx.exec("SELECT pg_sleep(5)");
        }));
    });
    ASSERT_TRUE(testing::eventually([&] { return locked.load(); }, 10s));
    std::this_thread::sleep_for(1s);  // a batch that was mid-commit when the lock came has landed
    const auto during = projected(s);
    std::this_thread::sleep_for(2500ms);
    const auto later = projected(s);
    EXPECT_EQ(later.at("ledger"), during.at("ledger")) << "the ledger projector wrote through the lock";
    EXPECT_GT(later.at("credit"), during.at("credit")) << "the other projectors stopped too";
    hold.join();
    projectors_apply(s, "after the lock");
    const std::string log = s.nodes[0]->log();
    EXPECT_NE(log.find("canceling statement due to statement timeout"), std::string::npos)
        << "the ledger projector never hit its statement timeout";
    load.stop();
    check_invariants(s);
}

}  // namespace
}  // namespace tally::faults
