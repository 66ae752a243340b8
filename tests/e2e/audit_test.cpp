// tally-replay audit: the topic read from the beginning, no database needed; with one,
// Kafka and the journal compared both ways. Clean after a mixed workload; an event
// deleted from the journal and a position missing from a topic are each named.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "events/envelope.h"
#include "infra/journal.h"
#include "infra/kafka.h"
#include "tests/support/kafka_read.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

TEST(Audit, TheTopicIsCheckedAloneAndAgainstTheJournal) {
    testing::ProviderShop shop;
    // A mixed workload: grants, a paid order, a refund, production.
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(shop.send("POST", "/v1/customers/c" + std::to_string(i % 3) + "/credit-grants",
                            {{"amount_minor", 100 + i}, {"currency", "USD"}, {"reason", "goodwill"}}, shop.admin)
                      .status,
                  201);
    const std::string order = shop.paid_order("cus-1");
    ASSERT_EQ(shop.send("POST", "/v1/orders/" + order + "/refunds",
                        {{"amount_minor", 500}, {"destination", "credit"}, {"reason", "late"}}, shop.admin)
                  .status,
              200);
    auto made = shop.send("POST", "/v1/orders/" + order + "/fulfilment", {{"vendor_id", "ana"}, {"status", "in_production"}},
                          shop.admin);
    ASSERT_EQ(made.status, 200) << made.body;
    // Everything the journal holds is in Kafka.
    int64_t head = 0;
    ASSERT_TRUE(testing::eventually([&] {
        head = shop.number("SELECT position FROM journal_head");
        return static_cast<int64_t>(testing::read_topic(shop.broker.bootstraps(), "tally.events").size()) == head;
    }));
    shop.tallyd.stop();

    std::string out;
    const std::string brokers = shop.broker.bootstraps();
    ASSERT_EQ(testing::run_replay(shop.url, std::vector<std::string>{"audit", "--brokers", brokers}, out), 0) << out;
    EXPECT_NE(out.find("positions 1.." + std::to_string(head)), std::string::npos) << out;
    EXPECT_NE(out.find("the topic is intact"), std::string::npos) << out;
    ASSERT_EQ(testing::run_replay(shop.url, std::vector<std::string>{"audit", "--brokers", brokers, "--pg", shop.url}, out),
              0)
        << out;
    EXPECT_NE(out.find("compared " + std::to_string(head) + " journal events"), std::string::npos) << out;

    // An event deleted from the journal behind the trigger's back.
    const int64_t victim = head / 2;
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("ALTER TABLE journal DISABLE TRIGGER journal_no_update_delete");
        tx.exec("DELETE FROM journal WHERE position = $1::bigint", {std::to_string(victim)});
        tx.exec("ALTER TABLE journal ENABLE TRIGGER journal_no_update_delete");
    }));
    EXPECT_EQ(testing::run_replay(shop.url, std::vector<std::string>{"audit", "--brokers", brokers, "--pg", shop.url}, out),
              1)
        << out;
    EXPECT_NE(out.find("position " + std::to_string(victim) + ": in Kafka, missing from the journal"), std::string::npos)
        << out;

    // A topic with a position missing (produced so on purpose) names the gap, and the
    // chain of the stream that lost it.
    auto messages = testing::read_topic(brokers, "tally.events");
    kafka::MockCluster other(1);  // another broker, in this process, for the copy with a gap
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(other.create_topic("gap.events", 3));
    auto producer = kafka::Producer::create(other.bootstraps());
    ASSERT_TRUE(producer) << producer.error();
    // The first event of a stream that has a second one.
    std::map<std::string, int64_t> firsts;
    std::set<std::string> longer;
    for (const auto& m : messages) {
        if (m.envelope.stream_version() == 1) firsts[m.envelope.stream_id()] = m.envelope.position();
        if (m.envelope.stream_version() == 2) longer.insert(m.envelope.stream_id());
    }
    std::string lost_stream;
    int64_t lost = 0;
    for (const auto& [stream, position] : firsts)
        if (longer.contains(stream) && (lost == 0 || position < lost)) {
            lost_stream = stream;
            lost = position;
        }
    ASSERT_GT(lost, 0);
    std::vector<kafka::OutMessage> copy;
    for (const auto& m : messages) {
        if (m.envelope.position() == lost) continue;
        copy.push_back({kafka::partition_for(m.envelope.stream_id(), 3), m.envelope.stream_id(), m.envelope.SerializeAsString()});
    }
    ASSERT_TRUE((*producer)->produce_all("gap.events", copy, std::chrono::seconds(10)));
    EXPECT_EQ(testing::run_replay(shop.url,
                                  std::vector<std::string>{"audit", "--brokers", other.bootstraps(), "--topic", "gap.events"},
                                  out),
              1)
        << out;
    EXPECT_NE(out.find("position gap: " + std::to_string(lost) + " is missing from the topic"), std::string::npos) << out;
    EXPECT_NE(out.find("stream " + lost_stream + " broken"), std::string::npos) << out;
    // A broker that dropped a partition's beginning (the embedded one keeps 5 MB a
    // partition): said once, the rest checked from what it still holds, no false breaks.
    kafka::MockCluster small(1);
    ASSERT_TRUE(small.ok());
    ASSERT_TRUE(small.create_topic("long.events", 1));
    std::vector<kafka::OutMessage> big;
    std::string prev = events::genesis_hash();
    for (int v = 1; v <= 80; ++v) {
        v1::EventEnvelope e;
        e.set_position(v);
        e.set_stream_id("pad-1");
        e.set_stream_version(v);
        e.set_event_id("pad-" + std::to_string(v));
        e.set_type("CreditGranted");
        e.set_schema_version(1);
        e.set_payload(std::string(100 * 1024, static_cast<char>('a' + v % 26)));
        e.set_prev_hash(prev);
        e.set_hash(events::compute_hash(e));
        prev = e.hash();
        big.push_back({0, "pad-1", e.SerializeAsString()});
    }
    auto small_producer = kafka::Producer::create(small.bootstraps());
    ASSERT_TRUE(small_producer) << small_producer.error();
    for (const auto& m : big) ASSERT_TRUE((*small_producer)->produce_all("long.events", {m}, std::chrono::seconds(10)));
    EXPECT_EQ(testing::run_replay(shop.url,
                                  std::vector<std::string>{"audit", "--brokers", small.bootstraps(), "--topic", "long.events"},
                                  out),
              1)
        << out;
    EXPECT_NE(out.find("partition 0 starts at offset"), std::string::npos) << out;
    EXPECT_NE(out.find("streams from their first event still held"), std::string::npos) << out;
    EXPECT_EQ(out.find("broken"), std::string::npos) << out;
    EXPECT_EQ(out.find("position gap"), std::string::npos) << out;

    // Bad invocations are errors, not verdicts.
    EXPECT_EQ(testing::run_replay(shop.url, std::vector<std::string>{"audit"}, out), 2) << out;
    EXPECT_EQ(testing::run_replay(shop.url, std::vector<std::string>{"audit", "--brokers", brokers, "--bogus", "x"}, out), 2)
        << out;
}

}  // namespace
}  // namespace tally
