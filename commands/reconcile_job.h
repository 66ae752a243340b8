#pragma once
// Scheduled reconciliation (projectors/reconcile.h) inside tallyd. Every `interval_ms` the
// owner folds the journal from where its last pass ended, compares every cache, stores the
// report in reconcile_runs (through its lock session, so a process that lost the lock
// cannot write) and exports tally_reconcile_drift{cache}, tally_reconcile_last_success_
// timestamp_seconds and tally_reconcile_duration_seconds. One process at a time
// (OwnedJob); a process that takes the job over starts with a full pass. It reports drift
// and never repairs: repairing is an operator's act (tally-replay reconcile --repair).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "commands/owned_job.h"
#include "projectors/reconcile.h"

namespace tally::commands {

struct ReconcileJobOptions {
    int64_t interval_ms = 900000;
    int64_t poll_ms = 1000;  // how often a process that does not own the job looks again
};

class ReconcileJob final : public OwnedJob {
public:
    using Clock = std::function<int64_t()>;
    ReconcileJob(sql::Pool& pool, std::string process, ReconcileJobOptions options, Clock clock);
    ~ReconcileJob() override;

    // One pass now if this process owns the job: true when it ran and was stored.
    bool pass();

private:
    bool run_once() override;

    sql::Pool& pool_;
    std::string process_;
    ReconcileJobOptions options_;
    Clock clock_;
    int64_t next_ms_ = 0;
    bool owned_before_ = false;
    std::unique_ptr<projectors::reconcile::Reconciler> reconciler_;
};

}  // namespace tally::commands
