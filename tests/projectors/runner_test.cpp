// The projection runtime: Kafka in, batch + checkpoint in one transaction,
// idempotent re-delivery, rebuild into shadow tables with an atomic swap.
#include "projectors/runner.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "commands/pipeline.h"
#include "infra/journal.h"
#include "infra/kafka.h"
#include "infra/metrics.h"
#include "infra/relay.h"
#include "projectors/credit_projection.h"
#include "projectors/ledger_projection.h"
#include "tests/support/grants.h"
#include "tests/support/support.h"

namespace tally::projectors {
namespace {

constexpr const char* kTopic = "tally.events";

int64_t clock_ms() { return 1'800'000'000'000; }

struct Fixture {
    std::string url = testing::fresh_database();
    sql::Pool pool{url, 6};
    kafka::MockCluster cluster{1};
    infra::Relay relay{pool, url, (cluster.create_topic(kTopic, 3), cluster.bootstraps()), kTopic, 3};
    commands::Pipeline pipeline{pool, commands::PipelineOptions{128, 0, 100000, 3}, clock_ms, [this] { relay.notify(); }};

    Fixture() {
        testing::token_for(url, "admin-1", "admin");
        relay.start();
        pipeline.start();
    }
    ~Fixture() {
        pipeline.stop();
        relay.stop();
    }

    // n grants of `minor` each, round-robin over `customers`; returns the journal head.
    int64_t grant(int n, int customers, int64_t minor, const std::string& prefix) {
        std::vector<std::promise<commands::Outcome>> answers(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i)
            EXPECT_TRUE(pipeline.submit(testing::grant_submission("admin-1", prefix + std::to_string(i),
                                                                   "c" + std::to_string(i % customers), minor,
                                                                   answers[static_cast<size_t>(i)])));
        for (auto& a : answers) EXPECT_TRUE(std::holds_alternative<commands::Reply>(a.get_future().get()));
        int64_t h = 0;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { h = tx.exec("SELECT position FROM journal_head").at(0).i64(0); }));
        return h;
    }

    int64_t scalar(const std::string& q) {
        int64_t v = -1;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            auto rows = tx.exec(q);
            v = rows.empty() || rows[0].is_null(0) ? 0 : rows[0].i64(0);
        }));
        return v;
    }
};

}  // namespace

TEST(Runner, ProjectsBalancesEntriesAndLedger) {
    Fixture f;
    Runner credit(f.pool, f.cluster.bootstraps(), kTopic, credit_projection());
    Runner ledger(f.pool, f.cluster.bootstraps(), kTopic, ledger_projection());
    credit.start();
    ledger.start();
    const int64_t head = f.grant(400, 10, 25, "a");
    // applied_position is the highest over the partitions: wait for every partition's data.
    ASSERT_TRUE(testing::eventually([&] {
        return f.scalar("SELECT count(*) FROM credit_entries") == 400 &&
               f.scalar("SELECT debit_minor FROM ledger_accounts WHERE account = 'promotions_expense'") == 400 * 25;
    }));
    EXPECT_TRUE(testing::eventually([&] { return credit.lag().applied_position == head && ledger.lag().applied_position == head; }));
    EXPECT_EQ(f.scalar("SELECT count(*) FROM credit_entries"), 400);
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 400 * 25);
    EXPECT_EQ(f.scalar("SELECT balance_minor FROM credit_balances WHERE customer_id = 'c3'"), 40 * 25);
    EXPECT_EQ(f.scalar("SELECT sum(debit_minor) - sum(credit_minor) FROM ledger_accounts"), 0);
    EXPECT_EQ(f.scalar("SELECT credit_minor FROM ledger_accounts WHERE account = 'store_credit_liability:c3'"), 40 * 25);
    EXPECT_TRUE(testing::eventually([&] { return credit.lag().events == 0; }));
}

// A projection that matters to no event: it issues no statement, ever.
class Indifferent final : public Projection {
public:
    std::string name() const override { return "indifferent"; }
    std::vector<std::string> tables() const override { return {}; }
    void apply(sql::Tx&, const std::vector<v1::EventEnvelope>& events, const TableMap&) const override {
        seen += static_cast<int64_t>(events.size());
    }
    static inline std::atomic<int64_t> seen{0};
};

// Batches a projection ignores are not stored one by one: their progress is stored when
// the topic goes quiet (here, long before the minute the option allows while events keep
// coming), so a runner started after it reads nothing again; and that store is fenced like
// any other.
TEST(Runner, ProgressThroughIgnoredBatchesIsStoredWhenQuietAndFenced) {
    Fixture f;
    Indifferent::seen = 0;
    const int64_t head = f.grant(300, 12, 7, "a");
    {
        Runner first(f.pool, f.cluster.bootstraps(), kTopic, std::make_unique<Indifferent>(), RunnerOptions{10000, "one", 60000});
        first.start();
        ASSERT_TRUE(testing::eventually([&] { return Indifferent::seen.load() >= 300; }));
        ASSERT_TRUE(testing::eventually([&] {
            return f.scalar("SELECT max(position) FROM projector_checkpoints WHERE projector = 'indifferent'") == head;
        }));
        std::this_thread::sleep_for(std::chrono::seconds(1));  // quiet: every partition's progress stored
        first.stop();
    }
    // The next runner starts after what was stored: it sees the one new event and nothing old.
    Indifferent::seen = 0;
    Runner runner(f.pool, f.cluster.bootstraps(), kTopic, std::make_unique<Indifferent>(), RunnerOptions{10000, "two", 60000});
    runner.start();
    const int64_t head1 = f.grant(1, 12, 7, "b");
    ASSERT_TRUE(testing::eventually([&] { return runner.lag().applied_position == head1; }));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_EQ(Indifferent::seen.load(), 1);
    // Another owner (or a rebuild) moves the checkpoints on; this runner's next store,
    // however long after its last, is refused, and it rejoins from what is stored.
    auto& fenced = metrics::global().counter("tally_projector_fenced_batches_total", "projector=\"indifferent\"");
    const uint64_t before = fenced.value();
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE projector_checkpoints SET position = position + 1000 WHERE projector = 'indifferent'");
    }));
    const int64_t head2 = f.grant(30, 12, 7, "c");
    EXPECT_TRUE(testing::eventually([&] { return fenced.value() > before; }));
    // Rejoined: the stored positions stand (events below them are skipped as applied).
    EXPECT_TRUE(testing::eventually([&] { return runner.lag().applied_position >= head1 + 1000; }));
    EXPECT_GE(f.scalar("SELECT min(position) FROM projector_checkpoints WHERE projector = 'indifferent'"), 1000);
    EXPECT_LT(head2, head1 + 1000);
}

TEST(Runner, RedeliveredEventsChangeNothing) {
    Fixture f;
    const int64_t head = f.grant(150, 5, 10, "a");
    {
        Runner credit(f.pool, f.cluster.bootstraps(), kTopic, credit_projection());
        credit.start();
        ASSERT_TRUE(testing::eventually([&] { return credit.lag().applied_position == head; }));
        credit.stop();
    }
    // Forget the Kafka offsets (keep positions): the next runner reads every partition from the start.
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) { tx.exec("UPDATE projector_checkpoints SET kafka_offset = -1"); }));
    Runner again(f.pool, f.cluster.bootstraps(), kTopic, credit_projection());
    again.start();
    const int64_t head2 = f.grant(10, 5, 10, "b");
    ASSERT_TRUE(testing::eventually([&] { return again.lag().applied_position == head2; }));
    // The head is one partition's; the others may be a moment behind. Once all 160 are in,
    // the redelivered 150 must not have added a row or a cent more.
    ASSERT_TRUE(testing::eventually([&] { return f.scalar("SELECT count(*) FROM credit_entries") >= 160; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(f.scalar("SELECT count(*) FROM credit_entries"), 160);
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 1600);
}

TEST(Runner, RebuildReplaysTheJournalIntoShadowTablesAndSwaps) {
    Fixture f;
    Runner credit(f.pool, f.cluster.bootstraps(), kTopic, credit_projection());
    credit.start();
    const int64_t head = f.grant(300, 12, 7, "a");
    ASSERT_TRUE(testing::eventually([&] { return credit.lag().applied_position == head; }));
    // Corrupt the cache: the journal must win.
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE credit_balances SET balance_minor = 0");
        tx.exec("DELETE FROM credit_entries WHERE position % 2 = 0");
    }));
    // Writes keep flowing during the rebuild.
    std::thread writer([&] { f.grant(100, 12, 7, "during"); });
    auto replayed = credit.rebuild();
    writer.join();
    ASSERT_TRUE(replayed) << replayed.error();
    EXPECT_GE(*replayed, 300);
    const int64_t head2 = f.grant(20, 12, 7, "after");
    ASSERT_TRUE(testing::eventually([&] { return credit.lag().applied_position >= head2 &&
                                                 f.scalar("SELECT count(*) FROM credit_entries") == 420; }));
    EXPECT_EQ(f.scalar("SELECT count(*) FROM credit_entries"), 420);
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 420 * 7);
    EXPECT_EQ(f.scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%_rebuild' OR tablename LIKE '%_retired'"), 0);
    // A second rebuild works too (index names from the first swap do not collide).
    auto again = credit.rebuild();
    ASSERT_TRUE(again) << again.error();
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 420 * 7);
}

TEST(Runner, OnlyOneRebuildAtATime) {
    Fixture f;
    Runner credit(f.pool, f.cluster.bootstraps(), kTopic, credit_projection());
    credit.start();
    ASSERT_TRUE(testing::eventually([&] { return credit.running(); }));
    // Three concurrent rebuilds: each either completes or is refused; none fails half-way
    // (two owners would collide on the shadow tables).
    std::atomic<int> refused{0}, done{0};
    f.grant(2000, 50, 1, "bulk");
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
        ts.emplace_back([&] {
            auto r = credit.rebuild();
            if (r) ++done;
            else if (r.error().find("already running") != std::string::npos) ++refused;
        });
    for (auto& t : ts) t.join();
    EXPECT_GE(done.load(), 1);
    EXPECT_EQ(done.load() + refused.load(), 3);
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 2000);
}

// The fence alone: a batch that does not continue from the stored checkpoint (a stale
// owner's, a zombie's) is refused whole and writes nothing; the owner's batch applies.
TEST(Runner, TheFenceRefusesABatchThatDoesNotContinueFromTheStoredCheckpoint) {
    Fixture f;
    const int64_t head = f.grant(30, 3, 10, "a");
    std::vector<v1::EventEnvelope> first, second;
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        first = journal::read_after(tx, 0, 20);
        second = journal::read_after(tx, 20, 100);
        tx.exec("INSERT INTO projector_checkpoints (projector, partition, position, kafka_offset)"
                " VALUES ('credit', 0, 0, -1)");
    }));
    ASSERT_EQ(first.size() + second.size(), static_cast<size_t>(head));
    auto projection = credit_projection();
    TableMap live;
    for (const auto& t : projection->tables()) live[t] = t;
    auto apply = [&](const std::vector<v1::EventEnvelope>& events, int64_t base) {
        std::expected<void, Fenced> out;
        EXPECT_TRUE(f.pool.transact([&](sql::Tx& tx) {
            out = apply_fenced(tx, *projection, live, events, {{0, base, events.back().position(), 0}});
        }));
        return out;
    };
    ASSERT_TRUE(apply(first, 0));
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 200);
    // The same batch again, as a zombie that read it before the owner applied it.
    auto stale = apply(first, 0);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().partition, 0);
    EXPECT_EQ(stale.error().stored_position, 20);
    EXPECT_EQ(stale.error().expected_position, 0);
    // A batch that skips ahead is refused too: it does not continue from what is stored.
    EXPECT_FALSE(apply(second, 25));
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 200);
    EXPECT_EQ(f.scalar("SELECT count(*) FROM credit_entries"), 20);
    EXPECT_EQ(f.scalar("SELECT position FROM projector_checkpoints WHERE projector = 'credit' AND partition = 0"), 20);
    // The owner's next batch continues from 20 and applies.
    ASSERT_TRUE(apply(second, 20));
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 300);
    // A partition without a checkpoint row is never applied to (the runner seeds them first).
    std::expected<void, Fenced> missing;
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        missing = apply_fenced(tx, *projection, live, first, {{2, 0, first.back().position(), 0}});
    }));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().stored_position, -1);
}

// Two runners of one projection, as two processes would run them: the group splits the
// partitions between them and every event is applied once. (Before the consumer groups
// and the fence, each applied every event: every balance was doubled.)
TEST(Runner, TwoRunnersShareThePartitionsAndApplyEachEventOnce) {
    Fixture f;
    Runner one(f.pool, f.cluster.bootstraps(), kTopic, credit_projection(), RunnerOptions{3000, "one", 1000});
    Runner two(f.pool, f.cluster.bootstraps(), kTopic, credit_projection(), RunnerOptions{3000, "two", 1000});
    one.start();
    two.start();
    ASSERT_TRUE(testing::eventually([&] { return one.owned().size() + two.owned().size() == 3 && !one.owned().empty() &&
                                                 !two.owned().empty(); }))
        << one.owned().size() << " + " << two.owned().size();
    f.grant(400, 20, 5, "a");
    ASSERT_TRUE(testing::eventually([&] { return f.scalar("SELECT count(*) FROM credit_entries") == 400 &&
                                                 f.scalar("SELECT sum(balance_minor) FROM credit_balances") == 2000; }))
        << f.scalar("SELECT sum(balance_minor) FROM credit_balances");
    // Ownership is recorded for operators, and matches the assignment.
    EXPECT_EQ(f.scalar("SELECT count(*) FROM projector_owners WHERE projector = 'credit' AND owner = 'one'"),
              static_cast<int64_t>(one.owned().size()));
    // One leaves: the other takes every partition over and carries on from the checkpoints.
    two.stop();
    ASSERT_TRUE(testing::eventually([&] { return one.owned().size() == 3; }));
    f.grant(100, 20, 5, "b");
    ASSERT_TRUE(testing::eventually([&] { return f.scalar("SELECT count(*) FROM credit_entries") == 500; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances"), 2500);
    EXPECT_EQ(f.scalar("SELECT sum(balance_minor) FROM credit_balances WHERE customer_id = 'c7'"), 125);
}

}  // namespace tally::projectors
