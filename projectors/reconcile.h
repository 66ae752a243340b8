#pragma once
// Reconciliation: the journal folded through the write path's own evolve functions,
// compared with every cache derived from it. The journal and the ledger postings it
// records are the truth; a cache that disagrees has drifted.
//
// One pass reads everything in ONE read-only REPEATABLE READ snapshot: the journal up to
// its head, each projector's per-partition checkpoints, and the caches. A cached value is
// compared only when its projector has applied every event that explains it (events are
// partitioned by stream, so each value remembers the partitions its events came from and
// the last position); a value its projector has not reached yet is "pending", never drift.
// Snapshots are written with their events, so they are always compared at the head.
//
// A Reconciler keeps what it folded: the next pass folds only the events after the last
// one, compares every cache again, and folds afresh only the snapshots of the streams
// that changed. Memory grows with the number of keys (accounts, orders, customers), not
// with the number of events; snapshots are checked one stream at a time.

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infra/sql.h"

namespace tally::projectors::reconcile {

// One value that disagrees with the log.
struct Drift {
    std::string cache;   // e.g. "orders", "snapshots", "ledger_accounts"
    std::string key;     // the row: an order id, "customer currency", a stream id
    std::string field;   // empty when the whole row is missing or extra
    std::string cached;  // "(missing)" when the log has it and the cache does not
    std::string log;     // "(none)" when the cache has it and the log does not
    int64_t position = 0;  // the last event that explains the log's value; 0: none
};

struct CacheSummary {
    std::string cache;
    std::string projection;  // the projector that owns it; empty: snapshots (not repairable)
    int64_t checked = 0;     // values compared
    int64_t pending = 0;     // values the projector has not reached yet (not compared)
    int64_t drifting = 0;
};

struct Report {
    int64_t head = 0;            // the journal position reconciled up to
    int64_t events_folded = 0;   // in this pass
    int64_t streams_folded = 0;  // snapshots folded from their streams in this pass
    int64_t unfolded_streams = 0;  // snapshots of kinds with no fold: version and hash compared only
    std::vector<CacheSummary> caches;
    std::vector<Drift> drifts;

    bool clean() const { return drifts.empty(); }
    int64_t drift_count(const std::string& cache) const;
    bool snapshot_drift() const { return drift_count("snapshots") > 0; }
    // The projections whose caches drift (what --repair rebuilds), sorted.
    std::vector<std::string> drifting_projections() const;
    // Adds another part of the same pass (its counts per cache, its drifts after these).
    void merge(const Report& other);
};

// Called after every page of work: the phase ("journal" or "snapshots"), how far it is,
// where it ends (0 when unknown) and the stream at hand.
using Progress = std::function<void(const char* phase, int64_t done, int64_t total, const std::string& stream)>;

class Reconciler {
public:
    explicit Reconciler(Progress progress = {});
    ~Reconciler();
    Reconciler(const Reconciler&) = delete;
    Reconciler& operator=(const Reconciler&) = delete;

    // One pass (see above). An error when the database could not be read.
    std::expected<Report, std::string> pass(sql::Pool& pool);
    int64_t folded_position() const;

private:
    struct State;
    std::unique_ptr<State> state_;
    Progress progress_;
};

// Every cache a pass compares, in report order.
std::vector<std::string> cache_names();

// The report for people: drifts first, one line each, then a summary line per cache.
std::string to_text(const Report& report);
// The drift report: {"head", "clean", "caches": [...], "drift": [{cache, key, field,
// cached, log, position}]}.
std::string to_json(const Report& report);

}  // namespace tally::projectors::reconcile
