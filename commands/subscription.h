#pragma once
// The customer's acts on a subscription (domain/subscription.h): change the plan, pause,
// skip the next period, cancel. Each locks the subscription's stream only and applies
// from the next renewal. Authorised in the batch: the subscription's customer, admins,
// employees with orders.manage.
//
// An immediate cancellation also cancels the latest period's order in the same batch,
// through the ordinary cancellation decided as system:subscriptions (stock, coupons and
// credit back; a paid order refunded in full), unless that order has shipped or is
// cancelled already: then it stands, and the answer says why (the README's refund rules).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "commands/pipeline.h"
#include "domain/subscription.h"
#include "tally/v1/subscription.pb.h"

namespace tally::commands {

struct ChangePlan {
    v1::SubscriptionChangeRequest change;  // fields left out keep their value
};
struct PauseUntil {
    int64_t until_unix_ms = 0;
};
struct SkipNext {};
struct CancelSubscription {
    subscription::CancelMode mode = subscription::CancelMode::period_end;
    std::string reason;
};

struct SubscriptionAct {
    std::string subscription_id;
    std::variant<ChangePlan, PauseUntil, SkipNext, CancelSubscription> act;
    // An immediate cancellation: the latest period's order as read before the batch, and
    // its cancellation (commands/lifecycle.h). The batch refuses to go on (retry) when the
    // subscription names another order by then.
    std::string order_id = {};
    std::unique_ptr<Command> order_cancellation = nullptr;
};
std::unique_ptr<Command> subscription_act(SubscriptionAct act);

// The principal the scheduler and the subscription's order cancellations act as (migration 0024).
Claims subscriptions_claims();

// A subscription stream's state in a batch (empty when it has none).
v1::SubscriptionState subscription_state(const std::map<std::string, StreamState>& states, const std::string& stream);

// An order's cancellation carried inside a subscription's command: its streams join the
// command's (`inner` may be null), and it is decided in the same batch as
// system:subscriptions, merging what it writes into `a`. Nothing when it was; else the
// code it was refused with (then it wrote nothing).
void join_streams(const Command* inner, std::vector<std::string>& streams, std::vector<std::string>& read_streams);
std::optional<std::string> decide_inside(const Command& inner, Accepted& a, const std::map<std::string, StreamState>& states,
                                         const DecideContext& ctx);

// The plan a change asks for, over the current one. Pure.
v1::SubscriptionPlan merged_plan(const v1::SubscriptionPlan& current, const v1::SubscriptionChangeRequest& change);

}  // namespace tally::commands
