// The broker hurt under the mixed load, through librdkafka's mock-cluster controls (the
// cluster lives in the test process; tallyd talks the Kafka protocol to it): request
// errors on produce and fetch, every broker down for 10 s, and partition leaders moved.
// Writes go on meanwhile (the journal is PostgreSQL's); afterwards nothing is lost,
// nothing is published twice, and the relay and the projectors recovered by themselves.

#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "tests/faults/harness.h"

namespace tally::faults {
namespace {

constexpr int16_t kProduce = 0;
constexpr int16_t kFetch = 1;

void more_acknowledged(Load& load, size_t n) {
    const size_t before = load.acknowledged();
    ASSERT_TRUE(testing::eventually([&] { return load.acknowledged() >= before + n; }, std::chrono::seconds(90)))
        << "the load stalled";
}

// The relay publishes and every projector applies again, with no help, within 2 minutes
// of `since` (the moment the fault ended); prints how long it took.
void recovered(Stack& s, Load& load, const std::string& after) {
    const auto since = projected(s);
    const int64_t relay = s.number("SELECT coalesce(max(position), 0) FROM relay_progress WHERE partition = -1");
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(testing::eventually(
        [&] {
            return all_moved(s, since) &&
                   s.number("SELECT coalesce(max(position), 0) FROM relay_progress WHERE partition = -1") > relay;
        },
        std::chrono::seconds(120)))
        << "the relay or a projector did not recover " << after;
    std::printf("recovered %s in %.1f s\n", after.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    progress(s, load, after);
}

TEST(Faults, BrokerErrorsAnOutageAndALeaderChangeLoseNothingAndPublishNothingTwice) {
    const uint32_t seed = 17;
    StackOptions options;
    options.nodes = 2;
    options.broker_in_process = true;
    options.seed = seed;
    Stack s(options);
    auto* mock = s.mock->handle();
    Load load(s, seed);
    load.start();
    more_acknowledged(load, 40);
    recovered(s, load, "warming up");

    // Produce and fetch requests fail: retriable errors and a timeout, as a busy cluster answers.
    rd_kafka_mock_push_request_errors(mock, kProduce, 12, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    rd_kafka_mock_push_request_errors(mock, kFetch, 8, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    more_acknowledged(load, 60);
    recovered(s, load, "after request errors");

    // Every broker down for 10 s: commands are still accepted (the journal holds them),
    // the relay and the projectors wait.
    for (int32_t b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_down(mock, b);
    const size_t at_outage = load.acknowledged();
    std::this_thread::sleep_for(std::chrono::seconds(10));
    EXPECT_GT(load.acknowledged(), at_outage) << "no command was accepted while the broker was down";
    for (int32_t b = 1; b <= 3; ++b) rd_kafka_mock_broker_set_up(mock, b);
    recovered(s, load, "after the outage");
    more_acknowledged(load, 60);

    // Each partition's leader moves to another broker, twice.
    for (int round = 0; round < 2; ++round) {
        for (int32_t p = 0; p < 3; ++p) rd_kafka_mock_partition_set_leader(mock, "tally.events", p, 1 + (p + round + 1) % 3);
        more_acknowledged(load, 40);
        recovered(s, load, "after leader move " + std::to_string(round + 1));
    }
    load.stop();
    std::printf("broker faults: %zu acknowledged across produce/fetch errors, a 10 s outage and two leader moves\n",
                load.acknowledged());
    check_invariants(s);
}

}  // namespace
}  // namespace tally::faults
