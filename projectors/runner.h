#pragma once
// The projection runtime. Consumes the event topic from Kafka, applies batches
// of events and the per-partition checkpoint in ONE Postgres transaction, and
// skips events at or below the checkpoint, so applying twice changes nothing.
// A batch the projection ignores (apply would issue no statement) is not stored
// at once: its progress is stored with the next batch that writes, when the topic
// goes quiet, or after a second, whichever comes first (re-reading ignored events
// after a restart changes nothing).
// rebuild() replays the journal from position 0 into shadow tables and swaps
// them in atomically while the live tables keep serving reads.
//
// Several processes: each projection is a Kafka consumer group (one member per
// process, cooperative-sticky), so the broker gives each partition one applier.
// The group alone is not enough (a member that was paused past its session still
// holds a batch), so every apply is fenced: it locks the partitions' stored
// checkpoints and is refused unless it continues from exactly what is stored.

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "infra/sql.h"
#include "projectors/projection.h"

namespace tally::projectors {

// Why an apply was refused: a partition's stored checkpoint is not the one the batch
// was read after (another owner, or a rebuild, moved it).
struct Fenced {
    int32_t partition;
    int64_t stored_position;
    int64_t expected_position;
};

struct PartitionBatch {
    int32_t partition;
    int64_t base_position;  // the stored checkpoint this batch continues from
    int64_t position;       // the checkpoint after it
    int64_t offset;         // the Kafka offset of that event
};

// The fenced apply, in the caller's transaction: locks the named partitions' checkpoint
// rows (which must exist), refuses the whole batch if any differs from its base, else
// applies `events` to `tables` and stores the new checkpoints. Exposed for tests.
std::expected<void, Fenced> apply_fenced(sql::Tx& tx, const Projection& projection, const TableMap& tables,
                                         const std::vector<v1::EventEnvelope>& events,
                                         const std::vector<PartitionBatch>& partitions);

struct Rebuilt {
    int64_t replayed = 0;  // events applied to the shadow tables
    int64_t head = 0;      // the position the new tables hold everything up to
};

// The blue-green rebuild: replays the journal into `<table>_rebuild` shadow tables while the
// live tables serve, then in ONE transaction locks every partition's checkpoint of the
// projector (fencing live appliers in any process), catches up to the head, swaps the
// tables by rename and moves the checkpoints to the head. Killed at any point, the live
// tables are the old ones or the new ones, never half; a rerun starts over. `swap_mu`, when
// given, is held over the swap (the in-process applier's lock). Refused while another
// rebuild of the projection runs anywhere. `progress` gets the position replayed so far.
std::expected<Rebuilt, std::string> rebuild_projection(sql::Pool& pool, const Projection& projection, int32_t partitions,
                                                      std::mutex* swap_mu,
                                                      const std::function<void(int64_t)>& progress = {});

// The rebuildable projections by name ("credit", "ledger", "orders", "loyalty",
// "passport", "affiliates", "catalog", "subscriptions"); nothing for any other name.
std::unique_ptr<Projection> rebuildable_projection(const std::string& name);

struct RunnerOptions {
    int session_timeout_ms = 10000;  // how long a silent member keeps its partitions
    std::string owner;               // this process, as ownership shows it; default host:pid
    // How long progress through batches the projection ignores may go unstored while
    // events keep coming (0: every batch is stored).
    int store_ignored_ms = 1000;
    // Each statement of a batch's transaction may run this long (0: no limit). A batch
    // stuck behind a lock or a slow disk fails, rolls back and is read again, rather than
    // holding its partitions silently.
    int statement_timeout_ms = 30000;
};

struct Lag {
    int64_t events = 0;         // published to Kafka but not yet applied
    double seconds = 0;         // age of the newest applied event while behind, else 0
    int64_t applied_position = 0;  // highest position applied
};

class Runner {
public:
    Runner(sql::Pool& pool, std::string brokers, std::string topic, std::unique_ptr<Projection> projection,
           RunnerOptions options = {});
    ~Runner();

    void start();
    void stop();

    const std::string& name() const { return name_; }
    Lag lag() const;
    bool running() const { return ready_.load(); }
    // The partitions this process applies now.
    std::vector<int32_t> owned() const;

    // Rebuilds from position 0; returns the number of events replayed. Refused
    // (with a reason) while another rebuild of this projection runs anywhere.
    std::expected<int64_t, std::string> rebuild();

private:
    struct Checkpoint {
        int64_t position = 0;
        int64_t offset = -1;  // Kafka offset of that event; -1: none known
        // What the database holds (as this process last read or wrote it): behind
        // `position` while batches the projection ignores are not yet stored.
        int64_t stored = 0;
    };

    void run();
    bool init();
    bool consume_once();
    // Stores the checkpoints of `next` (and of any owned partition whose progress is not
    // stored yet) with `events` applied, fenced; false when refused or failed.
    bool store(const std::vector<v1::EventEnvelope>& events, std::map<int32_t, Checkpoint> next);
    // Whether applying `events` would write: yes at once if one is of a type seen writing
    // on its own, else by a dry run of the projection.
    bool writes(const std::vector<v1::EventEnvelope>& events);
    void refresh_lag();
    std::vector<std::pair<int32_t, int64_t>> on_assign(const std::vector<int32_t>& partitions);
    void on_revoke(const std::vector<int32_t>& partitions, bool lost);

    sql::Pool& pool_;
    std::string brokers_;
    std::string topic_;
    std::unique_ptr<Projection> projection_;
    TableMap live_;  // the projection's tables, each by its own name
    std::string name_;
    RunnerOptions options_;

    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> ready_{false};
    mutable std::mutex apply_mu_;  // serialises live applies with a rebuild's swap
    int32_t partitions_ = 0;
    std::map<int32_t, Checkpoint> owned_;  // assigned partitions and their checkpoints
    std::atomic<int64_t> lag_events_{0};
    std::atomic<int64_t> applied_position_{0};
    std::atomic<int64_t> applied_occurred_ms_{0};
    std::chrono::steady_clock::time_point lag_checked_{};
    std::chrono::steady_clock::time_point stored_at_{};  // when checkpoints were last stored
    std::set<std::string> writing_types_;  // event types a dry run of one event saw write
    struct Clients;
    std::unique_ptr<Clients> clients_;
};

}  // namespace tally::projectors
