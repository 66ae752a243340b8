#pragma once
// The renewal scheduler's commands, each decided on the subscription's fresh state
// (domain/subscription.h due()), so that whatever the scheduler read from the projection,
// a period is renewed or skipped once, a retry asked once, and a repeat (another process,
// a restart) changes nothing:
//   - renew_subscription: the period's order, an ordinary order (priced on the server at
//     the subscription prices, loyalty discount, coupons that allow subscriptions, shipping;
//     stock reserved; coupon uses counted) placed with RenewalPlaced in one batch. Lines out
//     of stock are left out (RenewalLineSkipped, for notifiers); with none left, or nothing
//     it can price, the period is skipped (RenewalSkipped). Its card is charged off-session
//     by the provider workers, keyed renewal-{subscription}-{period}.
//   - subscription_step: the other things that fall due: a skip (asked for, or paused), a
//     dunning retry (RenewalRetryRequested: charged again, keyed ...-retry-{n}), the end
//     (at the period's end, or after dunning's grace: the unpaid order is cancelled with it,
//     its stock released).
//   - renewal_outcome: a charge's answer from the provider (paid, or refused with its code).
// All act as system:subscriptions, on the scheduler's clock (injected in tests): what falls
// due, when an order is placed, and from when dunning counts.

#include <memory>
#include <string>
#include <vector>

#include "commands/loyalty_switch.h"
#include "commands/pipeline.h"
#include "domain/pricing.h"
#include "domain/subscription.h"

namespace tally::commands {

struct RenewalRequest {
    v1::SubscriptionPlan plan;                 // as read before the batch: the batch checks it still is
    std::string subscription_id;
    std::string customer_id;
    std::string currency;
    std::string interval;
    int64_t period = 0;
    std::vector<std::string> vendor_streams;  // of the plan's products, resolved before the batch
    int64_t now_unix_ms = 0;                  // the scheduler's clock (0: the pipeline's)
    std::string first_order_id;               // period 1: the first order, never paid ends it
    bool loyalty = loyalty_enabled();
};
std::unique_ptr<Command> renew_subscription(RenewalRequest req);

// The cart a plan orders at an interval (no store credit: renewals charge the card).
pricing::Cart renewal_cart(const v1::SubscriptionPlan& plan, const std::string& currency, const std::string& interval);

struct SubscriptionStep {
    std::string subscription_id;
    subscription::Due due;                      // as seen before the batch
    std::unique_ptr<Command> order_cancellation;  // the end after dunning: the unpaid order's
    int64_t now_unix_ms = 0;                      // the scheduler's clock (0: the pipeline's)
};
std::unique_ptr<Command> subscription_step(SubscriptionStep step);

struct RenewalOutcome {
    std::string subscription_id;
    int64_t period = 0;
    int attempt = 0;
    bool paid = false;
    std::string code;  // refused: the provider's code (card_declined, authentication_required, …)
};
std::unique_ptr<Command> renewal_outcome(RenewalOutcome outcome);

// The dunning schedule in force (TALLY_DUNNING_RETRY_DAYS, TALLY_DUNNING_GRACE_DAYS at startup).
const subscription::DunningPolicy& dunning_policy();
void set_dunning_policy(subscription::DunningPolicy policy);

}  // namespace tally::commands
