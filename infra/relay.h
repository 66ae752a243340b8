#pragma once
// The relay: publishes every journal event to Kafka exactly once, in position
// order, keyed (and partitioned) by stream id, and records what Kafka
// acknowledged in Postgres. One relay runs at a time (Postgres advisory lock).
//
// Exactly once across crashes: on (re)start it reads the last message of every
// partition from Kafka and resumes each partition just after it. If the broker
// lost data (the embedded one starts empty), what it lacks is published again.
//
// Fenced: a leader takes the next epoch in relay_leader when it wins the lock, and
// checks on the lock's own session, before every batch, that the epoch is still its
// own; its progress is written only under that epoch. A leader that lost its session
// (and so its lock) stops before its next batch, and a new leader starts after
// what Kafka already holds, so nothing is published twice.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infra/sql.h"

namespace tally::infra {

class Relay {
public:
    Relay(sql::Pool& pool, std::string pg_url, std::string brokers, std::string topic, int partitions);
    ~Relay();

    void start();
    void stop();
    // Wakes the relay after a commit (it also polls, for other processes' commits: every
    // 50 ms while events come, backing off to 250 ms when idle).
    void notify();

    bool leader() const { return leader_.load(); }
    int64_t watermark() const { return watermark_.load(); }
    int64_t journal_head() const { return head_.load(); }

private:
    void run();
    bool try_lead();
    bool still_leader();
    bool sync();
    bool publish_once();

    sql::Pool& pool_;
    std::string pg_url_;
    std::string brokers_;
    std::string topic_;
    int partitions_wanted_;

    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> leader_{false};
    std::atomic<int64_t> watermark_{0};
    static constexpr std::chrono::milliseconds kIdlePollMin{50}, kIdlePollMax{250};
    std::chrono::milliseconds idle_poll_ = kIdlePollMin;  // the caught-up relay's poll interval
    int64_t idle_watermark_ = -1;                         // the watermark at the previous idle poll
    std::atomic<int64_t> head_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool pending_ = false;

    // Valid after sync(): publish an event of partition p only if its position > resume_[p].
    std::vector<int64_t> resume_;
    int64_t cursor_ = 0;
    void record_progress(std::chrono::steady_clock::time_point now);
    // Per partition, the highest position acknowledged since progress was last recorded.
    std::vector<int64_t> unsaved_;
    std::chrono::steady_clock::time_point progress_saved_at_{};
    bool synced_ = false;
    struct Clients;
    std::unique_ptr<Clients> clients_;
};

}  // namespace tally::infra
