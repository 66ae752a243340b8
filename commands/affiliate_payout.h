#pragma once
// Affiliate payouts (domain/affiliate_payout.h): staff set the schedule; on its weekday
// the scheduler (one fenced owner, OwnedJob) asks, for each affiliate with payable
// conversions, for the day's payout "affiliate-payout-{affiliate}-{yyyy-mm-dd}". That
// command locks the affiliate's payout account and the orders it would pay from, and
// decides on their fresh state: each order's unpaid, matured, undisputed commission
// (lifecycle::pay_out_affiliate) plus what came back from failed payouts, if it reaches
// the threshold. The day's key makes it once per day whichever process asks, however
// often. The provider workers carry it out (a Stripe transfer or a PayPal payout); the
// provider's messages settle, fail or reverse it.

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "commands/owned_job.h"
#include "commands/pipeline.h"
#include "domain/affiliate_payout.h"

namespace tally::commands {

std::unique_ptr<Command> set_payout_schedule(v1::AffiliatePayoutSchedule schedule);

struct PayAffiliate {
    std::string affiliate_id;
    std::string date;                    // the payout day, yyyy-mm-dd
    std::vector<std::string> order_ids;  // where its conversions are (the read model's list; decided on fresh state)
    int64_t now_unix_ms = 0;             // the scheduler's clock
};
std::unique_ptr<Command> pay_affiliate(PayAffiliate request);

// A provider message about a payout (Stripe transfer.*, PayPal PAYMENT.PAYOUTS*).
struct AffiliatePayoutMessage {
    std::string affiliate_id;
    affiliate::PayoutSignal signal;
};
std::unique_ptr<Command> affiliate_payout_message(AffiliatePayoutMessage message);

// The principal the scheduler acts as (migration 0015).
Claims payout_scheduler_claims();

struct PayoutSchedulerOptions {
    int64_t interval_ms = 60000;  // between looks at the clock and the payable conversions
    size_t orders_max = 500;      // orders one payout pays from (the rest wait for the next)
};

class AffiliatePayoutScheduler final : public OwnedJob {
public:
    using Clock = std::function<int64_t()>;  // unix milliseconds
    AffiliatePayoutScheduler(sql::Pool& pool, Pipeline& pipeline, PayoutSchedulerOptions options, Clock clock);
    ~AffiliatePayoutScheduler() override;

    // One pass, if this process owns the scheduler: the payouts due now. The number of
    // payouts requested; -1 when it does not own it or it is not a payout day.
    int step();

private:
    bool run_once() override { return step() > 0; }

    sql::Pool& pool_;
    Pipeline& pipeline_;
    PayoutSchedulerOptions options_;
    Clock clock_;
    std::string day_;                 // the payout day `settled_` is for
    std::string day_logged_;          // the payout day "nothing payable" was said for
    std::set<std::string> settled_;   // affiliates decided for that day (paid, below threshold, not payable)
};

}  // namespace tally::commands
