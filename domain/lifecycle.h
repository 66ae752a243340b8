#pragma once
// An order's life after it is placed: payment, fulfilment per vendor, cancellation,
// refunds, disputes and vendor payouts. Pure: decide(state, command) -> events or a
// refusal, evolve(state, event) -> state. Every move is forward only; every money
// movement is a balanced posting set.
//
// Provider messages (webhooks) are facts, never refused: each is applied, deferred
// until the order can take it (a dispute before the payment succeeded), or recorded
// and flagged (a success after a cancellation), so duplicates and any arrival order
// end in the same state.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tally/v1/affiliate.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::lifecycle {

using State = v1::OrderState;

using Event = std::variant<v1::PaymentSucceeded, v1::PaymentFailed, v1::SubOrderAdvanced, v1::OrderCancelled,
                           v1::RefundIssued, v1::RefundConfirmed, v1::DisputeOpened, v1::DisputeClosed,
                           v1::PayoutRequested, v1::PayoutSettled, v1::PayoutReversed, v1::ProviderSignalFlagged,
                           v1::ProviderSignalDeferred, v1::ExternalRefundRecorded, v1::AffiliateConversionRecorded,
                           v1::AffiliateConversionReversed, v1::AffiliateConversionPaidOut>;

// The state right after OrderPlaced.
State initial_state(const v1::OrderPlaced& placed);

// The kinds of provider message the lifecycle acts on.
bool handles(v1::SignalKind kind);

// A provider message about this order (REQUIRES: handles(signal.kind())).
std::vector<Event> on_signal(const State& state, const v1::ProviderSignal& signal);

enum class Refusal : uint16_t {  // numbers are permanent
    invalid_transition = 1,      // 409, names the current status
    not_paid = 2,                // 409
    order_cancelled = 3,         // 409
    unknown_vendor = 4,          // 422: no such sub-order
    tracking_required = 5,       // 422
    nothing_to_refund = 6,       // 422
    refund_exceeds_captured = 7, // 422
    unknown_line = 8,            // 422
    already_shipped = 9,         // 409: cancel after a shipment
    dispute_open = 10,           // 409
    payout_not_due = 11,         // 409
    payout_exists = 12,          // 409
    nothing_to_pay = 13,         // 409
    refund_exists = 14,          // 409
    payment_window_open = 15,    // 409: an expiry before the window ended, or of an order paid meanwhile
    units_already_refunded = 16, // 409: more units of a line than were bought, over all its refunds
};

std::string_view to_string(Refusal r);

struct Refused {
    Refusal code;
    std::string current_status;  // the order's (or sub-order's) status now
    std::string detail;
};

// A vendor moves its sub-order one step: paid -> in_production -> shipped -> delivered.
struct Advance {
    std::string vendor_id;
    std::string to_status;
    std::string carrier;   // shipped: required
    std::string tracking;  // shipped: required
    int64_t now_unix_ms = 0;
};

// By a person, or by the system when the payment window has passed (`expiry`): then
// only an order still awaiting payment, placed at least `window_ms` before `now`.
struct Cancel {
    std::string reason;
    bool expiry = false;
    int64_t now_unix_ms = 0;
    int64_t window_ms = 0;
};

struct RefundLine {
    std::string sku;
    int64_t quantity = 0;
};

// By amount (amount_minor > 0) or by lines; vendor_id limits it to one sub-order
// (a vendor refunding its own). destination "card" or "credit".
struct Refund {
    std::string refund_id;
    std::string destination;
    int64_t amount_minor = 0;
    std::vector<RefundLine> lines;
    std::string vendor_id;
    std::string reason;
    bool shipping_only = false;  // by amount, shipping alone: no commission moves
};

struct RequestPayout {
    std::string vendor_id;
    int64_t now_unix_ms = 0;
    int64_t delay_ms = 0;  // after delivery
};

std::expected<std::vector<Event>, Refused> decide(const State& state, const Advance& cmd);
std::expected<std::vector<Event>, Refused> decide(const State& state, const Cancel& cmd);
std::expected<std::vector<Event>, Refused> decide(const State& state, const Refund& cmd);
std::expected<std::vector<Event>, Refused> decide(const State& state, const RequestPayout& cmd);

State evolve(State state, const Event& event);

// Registry names and payloads.
std::string_view type_of(const Event& event);
std::string serialize(const Event& event);
const v1::PostingSet* postings_of(const Event& event);  // null when it moves no money

// Ranks for "forward only": payment stage, each sub-order's fulfilment stage.
int payment_rank(const State& state);
int fulfilment_rank(std::string_view sub_order_status);

// An attributed order just paid (by the provider, or on placing when nothing was left
// to pay) earns its affiliate the commission: the conversion, once per order; nothing
// when the order is not attributed, earns nothing, or has converted already.
std::vector<Event> convert_affiliate(const State& state);

// The share of an affiliate's payout `payout_id` this order gives: its commission not
// yet reversed nor paid out, once the conversion is `holding_ms` old and no dispute is
// open on the order. Nothing when there is nothing to pay (or the order is not the
// affiliate's).
std::optional<v1::AffiliateConversionPaidOut> pay_out_affiliate(const State& state, const std::string& affiliate_id,
                                                               const std::string& payout_id, int64_t now_unix_ms,
                                                               int64_t holding_ms);

// Credit given back to the customer by an event (a refund as credit, a cancellation).
int64_t credit_returned(const Event& event);

}  // namespace tally::lifecycle
