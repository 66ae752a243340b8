#pragma once
// Thin wrappers over librdkafka: the embedded mock cluster, a producer that waits
// for every delivery report, and a consumer with manual partition assignment.
// Errors come back as values; nothing here throws.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace tally::kafka {

// librdkafka's in-memory mock cluster: the real Kafka protocol on 127.0.0.1.
class MockCluster {
public:
    explicit MockCluster(int brokers = 1);
    ~MockCluster();
    MockCluster(const MockCluster&) = delete;
    MockCluster& operator=(const MockCluster&) = delete;

    bool ok() const { return mock_ != nullptr; }
    std::string bootstraps() const;
    bool create_topic(const std::string& topic, int partitions);
    // For fault injection (rd_kafka_mock_broker_set_down, rd_kafka_mock_push_request_errors, ...).
    rd_kafka_mock_cluster_s* handle() const { return mock_; }

private:
    rd_kafka_s* rk_ = nullptr;
    rd_kafka_mock_cluster_s* mock_ = nullptr;
};

struct OutMessage {
    int32_t partition;
    std::string key;
    std::string value;
};

struct InMessage {
    int32_t partition;
    int64_t offset;
    std::string key;
    std::string value;
};

// How long a consumer's fetch may wait at the broker when there is nothing new (Kafka's
// fetch.wait.max.ms) for every consumer created after the call; set once at start-up.
// A real broker answers as soon as data arrives, so a long wait costs nothing there; the
// embedded mock cluster answers only when the wait is over, so there it bounds how late a
// projector sees an event, and a short one wakes every consumer (and the mock) often.
void set_consumer_fetch_wait(int milliseconds);

// Deterministic partition for a key (FNV-1a), so auditors and the relay agree.
int32_t partition_for(const std::string& key, int partitions);

class Producer {
public:
    // Idempotent producer with acks=all.
    static std::expected<std::unique_ptr<Producer>, std::string> create(const std::string& brokers);
    ~Producer();

    // Creates the topic if it does not exist (other errors are reported).
    std::expected<void, std::string> ensure_topic(const std::string& topic, int partitions,
                                                  std::chrono::milliseconds timeout);
    std::expected<int, std::string> partition_count(const std::string& topic,
                                                    std::chrono::milliseconds timeout);
    // Produces every message in order and waits for all delivery reports.
    std::expected<void, std::string> produce_all(const std::string& topic,
                                                 const std::vector<OutMessage>& messages,
                                                 std::chrono::milliseconds timeout);

private:
    explicit Producer(rd_kafka_s* rk) : rk_(rk) {}
    rd_kafka_s* rk_;
};

// What a group member is told when the broker moves partitions (cooperative-sticky:
// only the partitions that move are named). Both run inside poll(), on its thread.
struct Rebalance {
    // Returns where to start each assigned partition (an offset, or -2: the beginning).
    std::function<std::vector<std::pair<int32_t, int64_t>>(const std::vector<int32_t>&)> on_assign;
    // `lost`: the group moved them without asking (this member was too slow or away).
    std::function<void(const std::vector<int32_t>&, bool lost)> on_revoke;
};

struct GroupOptions {
    std::string group_id;
    int session_timeout_ms = 45000;
    int max_poll_interval_ms = 300000;
};

class Consumer {
public:
    static std::expected<std::unique_ptr<Consumer>, std::string> create(const std::string& brokers);
    // A member of a consumer group that subscribes to `topic`; the broker assigns the
    // partitions. `rebalance` must outlive the consumer.
    static std::expected<std::unique_ptr<Consumer>, std::string> create_group(const std::string& brokers,
                                                                              const std::string& topic,
                                                                              const GroupOptions& options,
                                                                              Rebalance* rebalance);
    ~Consumer();

    // (low, high) offsets of a partition, asked of the broker.
    std::expected<std::pair<int64_t, int64_t>, std::string> watermarks(const std::string& topic,
                                                                       int32_t partition,
                                                                       std::chrono::milliseconds timeout);
    // (low, high) offsets as last seen by this consumer's fetches: no broker round trip.
    std::expected<std::pair<int64_t, int64_t>, std::string> cached_watermarks(const std::string& topic,
                                                                              int32_t partition);
    // Starts reading the given partitions at the given offsets (-2: beginning).
    std::expected<void, std::string> assign(const std::string& topic,
                                            const std::vector<std::pair<int32_t, int64_t>>& starts);
    // Up to `max` messages, waiting at most `timeout` for the first.
    std::vector<InMessage> poll(size_t max, std::chrono::milliseconds timeout);
    std::expected<int, std::string> partition_count(const std::string& topic,
                                                    std::chrono::milliseconds timeout);
    // The message at an offset, if the partition still has it.
    std::expected<std::optional<InMessage>, std::string> message_at(const std::string& topic,
                                                                    int32_t partition, int64_t offset,
                                                                    std::chrono::milliseconds timeout);
    // The last message of a partition, if it has one.
    std::expected<std::optional<InMessage>, std::string> last_message(const std::string& topic,
                                                                      int32_t partition,
                                                                      std::chrono::milliseconds timeout);

    // A group member's own view of its group: set when the broker first gave it an assignment.
    struct Membership {
        Rebalance* rebalance = nullptr;
        std::atomic<bool> assigned{false};
    };

private:
    explicit Consumer(rd_kafka_s* rk, std::unique_ptr<Membership> membership = nullptr)
        : rk_(rk), membership_(std::move(membership)) {}
    rd_kafka_s* rk_;
    std::unique_ptr<Membership> membership_;  // group members only
};

}  // namespace tally::kafka
