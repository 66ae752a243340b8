// The relay: journal -> Kafka (librdkafka mock cluster, real protocol), exactly
// once, in order per partition, and republishing what a new broker lacks.
#include "infra/relay.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "commands/pipeline.h"
#include "infra/kafka.h"
#include "infra/metrics.h"
#include "tests/support/grants.h"
#include "tests/support/kafka_read.h"
#include "tests/support/support.h"

namespace tally::infra {
namespace {

constexpr const char* kTopic = "tally.events";

int64_t clock_ms() { return 1'800'000'000'000; }

// Writes n grants over `customers` customers through the real pipeline.
void write_grants(sql::Pool& pool, int n, int customers, const std::string& prefix) {
    commands::Pipeline p(pool, commands::PipelineOptions{128, 0, 100000, 3}, clock_ms, {});
    std::vector<std::promise<commands::Outcome>> answers(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        ASSERT_TRUE(p.submit(testing::grant_submission("admin-1", prefix + std::to_string(i),
                                                        "c" + std::to_string(i % customers), 1, answers[static_cast<size_t>(i)])));
    p.start();
    p.stop();
    for (auto& a : answers) ASSERT_TRUE(std::holds_alternative<commands::Reply>(a.get_future().get()));
}

int64_t head(sql::Pool& pool) {
    int64_t h = 0;
    EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { h = tx.exec("SELECT position FROM journal_head").at(0).i64(0); }));
    return h;
}

// Every journal position exactly once, ascending within each partition, keyed by stream.
void expect_exactly_once(const std::vector<testing::TopicMessage>& msgs, int64_t head_position) {
    std::map<int64_t, int> seen;
    std::map<int32_t, int64_t> last_in_partition;
    for (const auto& m : msgs) {
        ++seen[m.envelope.position()];
        EXPECT_EQ(m.key, m.envelope.stream_id());
        EXPECT_GT(m.envelope.position(), last_in_partition[m.partition]) << "out of order in partition " << m.partition;
        last_in_partition[m.partition] = m.envelope.position();
        EXPECT_EQ(m.partition, kafka::partition_for(m.envelope.stream_id(), 3));
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), head_position);
    for (const auto& [pos, count] : seen) EXPECT_EQ(count, 1) << "position " << pos << " published " << count << " times";
}

struct Fixture {
    std::string url = testing::fresh_database();
    sql::Pool pool{url, 4};
    kafka::MockCluster cluster{1};
    Fixture() {
        testing::token_for(url, "admin-1", "admin");
        cluster.create_topic(kTopic, 3);
    }
};

}  // namespace

TEST(Relay, PublishesEveryEventOnceInPositionOrder) {
    Fixture f;
    write_grants(f.pool, 300, 17, "a");
    Relay relay(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    relay.start();
    ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 300; }));
    write_grants(f.pool, 50, 5, "b");  // published while running
    relay.notify();
    ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 350; }));
    relay.stop();
    expect_exactly_once(testing::read_topic(f.cluster.bootstraps(), kTopic), head(f.pool));
}

// Commits of another process do not wake the relay: it finds them by polling, also after
// a quiet spell has backed its poll off.
TEST(Relay, ACommitNobodyAnnouncesIsPublishedAfterAQuietSpell) {
    Fixture f;
    write_grants(f.pool, 30, 7, "a");
    Relay relay(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    relay.start();
    ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 30; }));
    std::this_thread::sleep_for(std::chrono::seconds(2));  // idle polls: 50, 100, 200, 250, 250 ms...
    write_grants(f.pool, 20, 5, "b");                      // no notify()
    EXPECT_TRUE(testing::eventually([&] { return relay.watermark() == 50; }, std::chrono::seconds(5)));
    relay.stop();
    expect_exactly_once(testing::read_topic(f.cluster.bootstraps(), kTopic), head(f.pool));
}

TEST(Relay, CrashBeforeSavingProgressDoesNotDuplicate) {
    Fixture f;
    write_grants(f.pool, 200, 11, "a");
    {
        Relay relay(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
        relay.start();
        ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 200; }));
        relay.stop();
    }
    // As if the relay died after Kafka acknowledged but before Postgres recorded it.
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) { tx.exec("DELETE FROM relay_progress"); }));
    write_grants(f.pool, 40, 3, "b");
    Relay again(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    again.start();
    ASSERT_TRUE(testing::eventually([&] { return again.watermark() == 240; }));
    again.stop();
    expect_exactly_once(testing::read_topic(f.cluster.bootstraps(), kTopic), 240);
}

TEST(Relay, ABrokerThatRestartedEmptyGetsEverythingAgain) {
    Fixture f;
    write_grants(f.pool, 120, 9, "a");
    {
        Relay relay(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
        relay.start();
        ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 120; }));
        relay.stop();
    }
    kafka::MockCluster fresh(1);  // the embedded broker after a restart: empty
    fresh.create_topic(kTopic, 3);
    Relay relay(f.pool, f.url, fresh.bootstraps(), kTopic, 3);
    relay.start();
    ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 120; }));
    relay.stop();
    expect_exactly_once(testing::read_topic(fresh.bootstraps(), kTopic), 120);
}

TEST(Relay, OnlyOneRelayLeadsAtATime) {
    Fixture f;
    Relay a(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    Relay b(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    a.start();
    ASSERT_TRUE(testing::eventually([&] { return a.leader(); }));
    b.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_FALSE(b.leader());
    a.stop();  // releases the advisory lock with its session
    EXPECT_TRUE(testing::eventually([&] { return b.leader(); }));
    write_grants(f.pool, 30, 4, "x");
    b.notify();
    ASSERT_TRUE(testing::eventually([&] { return b.watermark() == 30; }));
    b.stop();
    expect_exactly_once(testing::read_topic(f.cluster.bootstraps(), kTopic), 30);
}

}  // namespace tally::infra

namespace tally::infra {

// The relay's fence: a leader whose epoch was taken over (as after its session was lost
// and another process won the lock) publishes nothing more under the old epoch; it
// steps down, and whoever leads next resumes after what Kafka holds.
TEST(Relay, ALeaderWhoseEpochWasTakenOverStopsBeforeItsNextBatch) {
    Fixture f;
    Relay a(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    a.start();
    ASSERT_TRUE(testing::eventually([&] { return a.leader(); }));
    write_grants(f.pool, 20, 4, "x");
    a.notify();
    ASSERT_TRUE(testing::eventually([&] { return a.watermark() == 20; }));
    int64_t epoch = 0;
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        epoch = tx.exec("UPDATE relay_leader SET epoch = epoch + 1, owner = 'elsewhere' RETURNING epoch").at(0).i64(0);
    }));
    auto fenced = [] {
        std::istringstream lines(metrics::global().render());
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("tally_relay_fenced_total ", 0) == 0) return std::stol(line.substr(line.find(' ') + 1));
        return 0L;
    };
    const long fenced_before = fenced();
    write_grants(f.pool, 10, 4, "y");
    a.notify();
    // It notices before publishing, steps down, and (the only relay here) wins the lock
    // again under a newer epoch than the one that superseded it.
    ASSERT_TRUE(testing::eventually([&] { return fenced() > fenced_before; }));
    ASSERT_TRUE(testing::eventually([&] { return a.leader() && a.watermark() == 30; }));
    int64_t now_epoch = 0;
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) { now_epoch = tx.exec("SELECT epoch FROM relay_leader").at(0).i64(0); }));
    EXPECT_GT(now_epoch, epoch);
    a.stop();
    expect_exactly_once(testing::read_topic(f.cluster.bootstraps(), kTopic), 30);
}

}  // namespace tally::infra

namespace tally::infra {

// Under load the relay records its progress at most every 100 ms, not per batch; once it
// has caught up the record holds the head and, per partition, the last position Kafka has,
// gathered over every batch since the last record (the last batch here holds one event, so
// the other partitions' positions come from the batch before it, which is not recorded
// by itself when it follows the first within 100 ms).
TEST(Relay, ProgressRecordedOnCatchingUpCoversEveryBatchSinceTheLast) {
    Fixture f;
    write_grants(f.pool, 4000, 97, "a");  // two batches of 2000
    write_grants(f.pool, 1, 1, "z");      // and a third of one event
    Relay relay(f.pool, f.url, f.cluster.bootstraps(), kTopic, 3);
    relay.start();
    ASSERT_TRUE(testing::eventually([&] { return relay.watermark() == 4001; }));
    relay.stop();
    std::map<int32_t, int64_t> last_in_partition;
    const auto msgs = testing::read_topic(f.cluster.bootstraps(), kTopic);
    expect_exactly_once(msgs, 4001);
    for (const auto& m : msgs) last_in_partition[m.partition] = std::max(last_in_partition[m.partition], m.envelope.position());
    std::map<int32_t, int64_t> recorded;
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT partition, position FROM relay_progress WHERE topic = $1", {kTopic}))
            recorded[static_cast<int32_t>(row.i64(0))] = row.i64(1);
    }));
    last_in_partition[-1] = 4001;
    EXPECT_EQ(recorded, last_in_partition);
}

}  // namespace tally::infra
