#pragma once
// The renewal scheduler: one process at a time (a PostgreSQL advisory lock, like every
// background job), driven by an injected clock. Each pass reads what the subscriptions
// projection shows due (next_due_unix_ms, indexed) and, for each, decides on the
// subscription's fresh snapshot what falls due now (domain/subscription.h due()) and
// submits it (commands/renewal.h) under a key that names it:
//   renewal-{subscription}-{period}            the period's renewal or skip
//   renewal-{subscription}-{period}-retry-{n}  a dunning retry
//   subscription-end-{subscription}            the end (period end, or dunning)
// A repeat of any of them, from a restart or a second process, replays the first answer,
// and the batch re-decides on the locked state, so nothing is done twice; a pass that dies
// midway leaves the rest due for the next. A subscription that fell behind (the scheduler
// was down) catches up period by period, in order.

#include <cstdint>
#include <functional>

#include "commands/owned_job.h"
#include "commands/pipeline.h"
#include "infra/sql.h"

namespace tally::commands {

struct RenewalSchedulerOptions {
    int64_t interval_ms = 5000;  // between passes
    int batch_max = 500;         // subscriptions per pass
    int steps_per_subscription_max = 60;  // catching up, per pass
    int in_flight = 4;  // subscriptions stepped at once (each by one thread, so in order), batched by the pipeline
};

class RenewalScheduler final : public OwnedJob {
public:
    RenewalScheduler(sql::Pool& pool, Pipeline& pipeline, RenewalSchedulerOptions options,
                     std::function<int64_t()> clock_ms);
    ~RenewalScheduler() override;

    struct Pass {
        int renewed = 0, skipped = 0, retried = 0, ended = 0;
        int subscriptions = 0;  // read as due
        int steps() const { return renewed + skipped + retried + ended; }
    };
    // One pass, if this process owns the scheduler (taking ownership when it is free).
    Pass run_pass();

private:
    bool run_once() override;
    // Submits what falls due for one subscription now; false when nothing did (or it could not).
    bool step(const std::string& subscription_id, int64_t now_ms, Pass& pass);

    sql::Pool& pool_;
    Pipeline& pipeline_;
    RenewalSchedulerOptions options_;
    std::function<int64_t()> clock_ms_;
};

}  // namespace tally::commands
