#pragma once
// The projection runtime. Consumes the event topic from Kafka, applies batches
// of events and the per-partition checkpoint in ONE Postgres transaction, and
// skips events at or below the checkpoint, so applying twice changes nothing.
// rebuild() replays the journal from position 0 into shadow tables and swaps
// them in atomically while the live tables keep serving reads.

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "infra/sql.h"
#include "projectors/projection.h"

namespace tally::projectors {

struct Lag {
    int64_t events = 0;         // published to Kafka but not yet applied
    double seconds = 0;         // age of the newest applied event while behind, else 0
    int64_t applied_position = 0;  // highest position applied
};

class Runner {
public:
    Runner(sql::Pool& pool, std::string brokers, std::string topic, std::unique_ptr<Projection> projection);
    ~Runner();

    void start();
    void stop();

    const std::string& name() const { return name_; }
    Lag lag() const;
    bool running() const { return ready_.load(); }

    // Rebuilds from position 0; returns the number of events replayed. Refused
    // (with a reason) while another rebuild of this projection runs anywhere.
    std::expected<int64_t, std::string> rebuild();

private:
    struct Checkpoint {
        int64_t position = 0;
        int64_t offset = -1;  // Kafka offset of that event; -1: none known
    };

    void run();
    bool init();
    bool consume_once();
    void refresh_lag();

    sql::Pool& pool_;
    std::string brokers_;
    std::string topic_;
    std::unique_ptr<Projection> projection_;
    std::string name_;

    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> ready_{false};
    std::mutex apply_mu_;  // serialises live applies with a rebuild's swap
    std::vector<Checkpoint> checkpoints_;
    std::vector<int64_t> high_offsets_;
    std::atomic<int64_t> lag_events_{0};
    std::atomic<int64_t> applied_position_{0};
    std::atomic<int64_t> applied_occurred_ms_{0};
    std::chrono::steady_clock::time_point lag_checked_{};
    struct Clients;
    std::unique_ptr<Clients> clients_;
};

}  // namespace tally::projectors
