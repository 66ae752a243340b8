#pragma once
// The payment-window sweep: an order still awaiting payment `window_ms` after it was
// placed is cancelled by the system. The cancellation is the ordinary one (stock and
// coupon uses released in the same batch; the provider-call planner then cancels the
// PaymentIntent, and a payment that lands later is refunded in full).
//
// One owner: a PostgreSQL session-level advisory lock; a process that does not hold it
// sweeps nothing. Resumable: each pass reads what is due from the orders projection,
// so a sweeper that dies leaves nothing half done. Idempotent and fenced: each expiry
// is the command "expire-{order}" of the sweeper's principal, decided on the order's
// fresh state (an order paid meanwhile is refused), so a repeat, from any process,
// replays instead of cancelling twice.

#include <cstdint>
#include <functional>
#include <memory>

#include "commands/owned_job.h"
#include "commands/pipeline.h"
#include "infra/sql.h"

namespace tally::commands {

struct ExpirySweepOptions {
    int64_t window_ms = 1800 * 1000;  // TALLY_PAYMENT_WINDOW_S
    int64_t interval_ms = 5000;       // between passes
    int batch_max = 200;              // orders per pass
};

class ExpirySweep final : public OwnedJob {
public:
    ExpirySweep(sql::Pool& pool, Pipeline& pipeline, ExpirySweepOptions options, std::function<int64_t()> clock_ms);
    ~ExpirySweep() override;

    // One pass, if this process owns the sweep (taking ownership when it is free):
    // the number of orders it cancelled. Tests call it with an injected clock.
    int sweep_once();

private:
    bool run_once() override;

    sql::Pool& pool_;
    Pipeline& pipeline_;
    ExpirySweepOptions options_;
    std::function<int64_t()> clock_ms_;
};

}  // namespace tally::commands
