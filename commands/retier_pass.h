#pragma once
// The re-tiering pass: after the loyalty program changes, every customer whose tier the
// new program moves gets one TierChanged (reason program_changed).
//
// One owner: a PostgreSQL session-level advisory lock. Resumable: it walks the customers'
// loyalty streams in stream-id order and records how far it got (loyalty_retier_progress),
// so an owner that dies leaves the next one to go on from there. Idempotent: it submits
// retier() only for a customer its snapshot shows out of line, as the command
// "retier-{customer}-v{version}" of the system principal, decided on the customer's fresh
// state; a repeat, from any process, replays or finds nothing to do. Checkout does not
// wait for the pass: it prices from the program's tier for the spend already.

#include <cstdint>

#include "commands/owned_job.h"
#include "commands/pipeline.h"
#include "infra/sql.h"

namespace tally::commands {

struct RetierPassOptions {
    int64_t interval_ms = 1000;  // between looks at the program's version
    int batch_max = 200;         // customer streams per step (and per progress record)
};

class RetierPass final : public OwnedJob {
public:
    RetierPass(sql::Pool& pool, Pipeline& pipeline, RetierPassOptions options);
    ~RetierPass() override;

    // One step, if this process owns the pass: up to batch_max customers of the pass
    // for the current program. Returns the number re-tiered; -1 when nothing is left to do.
    int step();

private:
    bool run_once() override { return step() >= 0; }

    sql::Pool& pool_;
    Pipeline& pipeline_;
    RetierPassOptions options_;
};

}  // namespace tally::commands
