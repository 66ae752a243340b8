#pragma once
// Commands on an order after checkout: provider messages (webhooks) and the
// changes people ask for over HTTP (fulfilment, cancellation, refunds, payouts).
// Each locks the order stream (and the customer's credit when credit may come
// back), runs domain/lifecycle.h, and appends what it decided.

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "commands/loyalty_switch.h"
#include "commands/pipeline.h"
#include "domain/lifecycle.h"

namespace tally::commands {

// "provider-event-{id}": where provider messages that name no known order are kept.
std::string provider_event_stream(const std::string& provider_event_id);

// A verified provider message. order_id empty: it names no order; order_known false:
// the order does not exist; handled false: a type tally does not act on. Those are
// recorded on "provider-event-{id}"; the rest go to the order's stream, the only stream
// the command then touches.
struct ProviderEvent {
    v1::ProviderSignal signal;
    std::string order_id;
    bool handled = false;
    bool order_known = false;
    std::string customer_id;  // order::owner() when read: its loyalty stream is locked too (a claim since: retry)
    bool loyalty = loyalty_enabled();  // TALLY_LOYALTY: the owner's spend and tier move in the same batch
    // An affiliate payout's transfer (metadata affiliate_payout, affiliate_id): it goes to
    // the affiliate's payout account instead (commands/affiliate_payout.h).
    std::string affiliate_payout;
    std::string affiliate_id;
};
std::unique_ptr<Command> provider_event(ProviderEvent event);

using OrderChangeKind = std::variant<lifecycle::Advance, lifecycle::Cancel, lifecycle::Refund, lifecycle::RequestPayout>;

struct OrderChange {
    std::string order_id;
    std::string customer_id;  // order::owner() when read: its credit stream is locked too (a claim since: retry)
    OrderChangeKind change;
    std::vector<std::string> skus;  // Cancel: the order's SKUs (never change), whose reservations go back
    std::vector<std::string> coupons;  // Cancel: the coupons it redeemed (never change), released if unpaid
    bool loyalty = loyalty_enabled();  // TALLY_LOYALTY: the owner's spend and tier move in the same batch
    // A refund to store credit respects the caps (credit::beyond_caps, the policy finance
    // set) unless an admin overrides them, saying why; the reason goes on the credit entry.
    std::string cap_override_reason = {};
};

// The order change a cancellation needs, from the order's state: its SKUs and coupons
// are locked with it. `state` is the order stream's snapshot.
OrderChange cancellation_of(const v1::OrderState& state, lifecycle::Cancel cancel);
// Authorised in the batch on the fresh principal: vendors on their own sub-orders,
// admins, employees with orders.manage; customers may cancel their own unpaid order.
std::unique_ptr<Command> change_order(OrderChange change);

}  // namespace tally::commands
