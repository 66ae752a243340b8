// Crash safety: tallyd is killed with SIGKILL during a burst of concurrent
// grants and restarted. Every acknowledged grant is present exactly once in the
// journal, in Kafka and in the projection; nothing unacknowledged is half-written.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "commands/pipeline.h"
#include "events/envelope.h"
#include "http/client.h"
#include "infra/journal.h"
#include "infra/sql.h"
#include "tests/support/kafka_read.h"
#include "tests/support/support.h"

namespace tally {
namespace {

using nlohmann::json;

std::string grant_body(int i) {
    return json{{"amount_minor", 1 + i % 5}, {"currency", "USD"}, {"reason", "burst"}}.dump();
}

struct Burst {
    std::mutex mu;
    std::map<std::string, std::string> acked;  // key -> grant_id
    std::map<std::string, std::string> sent;   // key -> customer, for every attempt
    std::map<std::string, int> index;          // key -> i (to rebuild the body)
};

void run_burst(int port, const std::string& token, Burst& b, std::atomic<bool>& stop, int threads) {
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
        ts.emplace_back([&, t] {
            http::Client c("127.0.0.1", port);
            for (int i = 0; !stop; ++i) {
                const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
                const std::string customer = "c" + std::to_string((t * 7 + i) % 20);
                {
                    std::lock_guard lock(b.mu);
                    b.sent[key] = customer;
                    b.index[key] = i;
                }
                auto r = c.request("POST", "/v1/customers/" + customer + "/credit-grants", grant_body(i),
                                   {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
                if (r.status == 201) {
                    std::lock_guard lock(b.mu);
                    b.acked[key] = json::parse(r.body)["grant_id"];
                } else if (r.status == 0) {
                    return;  // the server is gone
                }
            }
        });
    for (auto& t : ts) t.join();
}

// Waits until the burst has `n` acknowledged grants.
bool acked_at_least(Burst& b, size_t n) {
    return testing::eventually([&] {
        std::lock_guard lock(b.mu);
        return b.acked.size() >= n;
    });
}

int64_t scalar(sql::Pool& pool, const std::string& q) {
    int64_t v = -1;
    EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { v = tx.exec(q).at(0).i64(0); }));
    return v;
}

// Journal, snapshots and idempotency records agree: no command is half-written.
void expect_consistent(sql::Pool& pool) {
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        std::multiset<std::string> causes;
        for (const auto& r : tx.exec("SELECT causation_id FROM journal")) causes.insert(r.str(0));
        std::set<std::string> commands;
        for (const auto& r : tx.exec("SELECT principal, key FROM idempotency"))
            commands.insert(commands::command_id_for(r.str(0), r.str(1)));
        EXPECT_EQ(causes.size(), commands.size());
        for (const auto& c : commands) EXPECT_EQ(causes.count(c), 1u) << "command " << c;
        for (const auto& r : tx.exec("SELECT stream_id, version FROM snapshots")) {
            auto evs = journal::read_stream(tx, r.str(0), 0, 1000000);
            EXPECT_EQ(static_cast<int64_t>(evs.size()), r.i64(1)) << r.str(0);
            EXPECT_FALSE(events::verify_stream(evs)) << r.str(0);
        }
        auto head = tx.exec("SELECT position FROM journal_head").at(0).i64(0);
        auto count = tx.exec("SELECT count(*), coalesce(max(position), 0) FROM journal").at(0);
        EXPECT_EQ(count.i64(0), head);
        EXPECT_EQ(count.i64(1), head);
    }));
}

// A fresh database, a broker that outlives tallyd, an admin token.
struct CrashStack {
    std::string url = testing::fresh_database();
    testing::Broker broker;
    std::string token = testing::token_for(url, "admin-1", "admin");
    sql::Pool pool{url, 2};
    Burst burst;

    // Sends grants from `threads` connections until `acks` are acknowledged, then stops
    // tallyd with `stop_server` while the burst is still going.
    void burst_then(testing::Tallyd& tallyd, int threads, size_t acks, const std::function<void()>& stop_server) {
        std::atomic<bool> stop{false};
        std::thread load([&] { run_burst(tallyd.port(), token, burst, stop, threads); });
        const bool reached = acked_at_least(burst, acks);
        stop_server();
        stop = true;
        load.join();
        ASSERT_TRUE(reached) << "only " << burst.acked.size() << " grants acknowledged";
    }
};

}  // namespace

TEST(Crash, KilledDuringABurstLosesNothingAcknowledgedAndHalfWritesNothing) {
    CrashStack s;
    auto& [url, broker, token, pool, burst] = s;
    {
        testing::Tallyd tallyd(url, broker.bootstraps());
        tallyd.start();
        s.burst_then(tallyd, 8, 300, [&] { tallyd.kill9(); });
    }
    ASSERT_GE(burst.acked.size(), 300u);
    expect_consistent(pool);
    const int64_t committed = scalar(pool, "SELECT count(*) FROM journal");
    std::printf("crash: %zu requests sent, %zu acknowledged, %lld committed (%lld committed but unanswered)\n",
                burst.sent.size(), burst.acked.size(), static_cast<long long>(committed),
                static_cast<long long>(committed - static_cast<int64_t>(burst.acked.size())));
    ASSERT_GT(burst.sent.size(), burst.acked.size()) << "the kill must land mid-burst";

    // Every acknowledged grant is in the journal exactly once.
    std::multiset<std::string> journal_ids;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT event_id FROM journal")) journal_ids.insert(r.str(0));
    }));
    for (const auto& [key, id] : burst.acked) EXPECT_EQ(journal_ids.count(id), 1u) << key;

    // Restart: the relay and projectors catch up from where they were.
    testing::Tallyd again(url, broker.bootstraps());
    again.start();
    const int64_t head = scalar(pool, "SELECT position FROM journal_head");
    ASSERT_TRUE(testing::eventually([&] {
        return scalar(pool, "SELECT coalesce(max(position), 0) FROM relay_progress WHERE partition = -1") == head &&
               scalar(pool, "SELECT count(*) FROM credit_entries") == head;
    }, std::chrono::seconds(60)));

    // Kafka (the broker outlived tallyd): every journal event exactly once.
    auto msgs = testing::read_topic(broker.bootstraps(), "tally.events");
    std::map<std::string, int> in_kafka;
    for (const auto& m : msgs) ++in_kafka[m.envelope.event_id()];
    EXPECT_EQ(static_cast<int64_t>(msgs.size()), head);
    for (const auto& [id, n] : in_kafka) EXPECT_EQ(n, 1) << id;
    for (const auto& [key, id] : burst.acked) EXPECT_EQ(in_kafka[id], 1) << key;

    // The projection: every acknowledged grant exactly once.
    std::multiset<std::string> projected;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT event_id FROM credit_entries")) projected.insert(r.str(0));
    }));
    for (const auto& [key, id] : burst.acked) EXPECT_EQ(projected.count(id), 1u) << key;
    EXPECT_EQ(scalar(pool, "SELECT sum(balance_minor) FROM credit_balances"),
              scalar(pool, "SELECT coalesce(sum(amount_minor), 0) FROM credit_entries"));

    // A client retrying its unanswered requests after the restart gets each applied exactly once.
    http::Client c("127.0.0.1", again.port());
    for (const auto& [key, customer] : burst.sent) {
        if (burst.acked.contains(key)) continue;
        auto r = c.request("POST", "/v1/customers/" + customer + "/credit-grants", grant_body(burst.index[key]),
                           {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
        EXPECT_EQ(r.status, 201) << key << " " << r.body;
    }
    EXPECT_EQ(scalar(pool, "SELECT count(*) FROM journal"), static_cast<int64_t>(burst.sent.size()));
    expect_consistent(pool);
}

TEST(Crash, GracefulStopAnswersWhatItAccepted) {
    CrashStack s;
    auto& [url, broker, token, pool, burst] = s;
    testing::Tallyd tallyd(url, broker.bootstraps());
    tallyd.start();
    s.burst_then(tallyd, 4, 100, [&] { tallyd.stop(); });  // SIGTERM
    expect_consistent(pool);
    std::set<std::string> ids;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT event_id FROM journal")) ids.insert(r.str(0));
    }));
    for (const auto& [key, id] : burst.acked) EXPECT_TRUE(ids.contains(id)) << key;
}

}  // namespace tally
