#include "domain/lifecycle.h"

#include <algorithm>
#include <map>
#include <utility>

#include "domain/assert.h"
#include "domain/ledger.h"
#include "domain/lifecycle_detail.h"
#include "domain/money.h"
#include "domain/order.h"
#include "domain/pricing.h"

// The order lifecycle: its state and statuses, the decisions staff, vendors and customers
// ask for (fulfilment, cancellation, refunds, payouts), evolve and serialisation. The
// money given back is in lifecycle_money.cpp, the provider's messages in lifecycle_signals.cpp.
namespace tally::lifecycle {
namespace detail {

Currency currency_of(const State& s) {
    auto c = Currency::parse(s.currency());
    TALLY_ASSERT(c.has_value(), "order {} has no valid currency", s.order_id());
    return *c;
}

int64_t base_of(const v1::SubOrder& so) { return so.goods_net_minor() + so.shipping_minor(); }

// What is left to give back of a sub-order's goods, and of its shipping.
int64_t goods_left(const v1::SubOrder& so) {
    return std::max<int64_t>(0, so.goods_net_minor() - (so.refunded_minor() - so.shipping_refunded_minor()));
}
int64_t shipping_left(const v1::SubOrder& so) {
    return std::max<int64_t>(0, so.shipping_minor() - so.shipping_refunded_minor());
}

const v1::SubOrder* sub_order(const State& s, std::string_view vendor_id) {
    for (const auto& so : s.sub_orders())
        if (so.vendor_id() == vendor_id) return &so;
    return nullptr;
}

v1::SubOrder* sub_order(State& s, std::string_view vendor_id) {
    return const_cast<v1::SubOrder*>(sub_order(std::as_const(s), vendor_id));
}

int64_t held_open(const State& s) {
    int64_t held = 0;
    for (const auto& d : s.disputes())
        if (d.status() == "open") held += d.amount_minor();
    return held;
}

std::string sub_status(const State& s, const v1::SubOrder& so) {
    if (so.status() == "cancelled" || !s.paid() || s.cancelled()) return so.status();
    if (base_of(so) > 0 && so.refunded_minor() >= base_of(so)) return "refunded";
    return so.status();
}

std::string order_status(const State& s) {
    if (s.cancelled()) return "cancelled";
    if (!s.paid()) return "awaiting_payment";
    bool won = false, lost = false;
    for (const auto& d : s.disputes()) {
        if (d.status() == "open") return "disputed";
        won = won || d.status() == "won";
        lost = lost || d.status() == "lost";
    }
    if (lost) return "dispute_lost";
    if (s.refunded_minor() >= s.total_minor()) return "refunded";
    if (s.refunded_minor() > 0) return "partially_refunded";
    if (won) return "dispute_won";
    return "paid";
}

v1::OrderStatusAfter after_of(const State& s) {
    v1::OrderStatusAfter a;
    a.set_status(order_status(s));
    for (const auto& so : s.sub_orders()) (*a.mutable_sub_orders())[so.vendor_id()] = sub_status(s, so);
    return a;
}

v1::DisputeState* dispute(State& s, std::string_view id) {
    for (auto& d : *s.mutable_disputes())
        if (d.dispute_id() == id) return &d;
    return nullptr;
}

const v1::PayoutState* payout(const State& s, std::string_view vendor_id) {
    for (const auto& p : s.payouts())
        if (p.vendor_id() == vendor_id) return &p;
    return nullptr;
}

v1::PayoutState* payout(State& s, std::string_view vendor_id) {
    return const_cast<v1::PayoutState*>(payout(std::as_const(s), vendor_id));
}

// A dispute of `amount` fits in what the card paid, less refunds and disputes held.
bool disputable(const State& s, int64_t amount) {
    return amount > 0 && amount <= s.captured_minor() - s.refunded_card_minor() - held_open(s);
}

}  // namespace detail
namespace {

using namespace detail;

Refused refused(Refusal code, const State& s, std::string detail) {
    return Refused{code, order_status(s), std::move(detail)};
}

const std::vector<std::string_view> kStages = {"awaiting_payment", "paid", "in_production", "shipped", "delivered"};

}  // namespace

std::string_view to_string(Refusal r) {
    switch (r) {
        case Refusal::invalid_transition: return "invalid_transition";
        case Refusal::not_paid: return "not_paid";
        case Refusal::order_cancelled: return "order_cancelled";
        case Refusal::unknown_vendor: return "unknown_vendor";
        case Refusal::tracking_required: return "tracking_required";
        case Refusal::nothing_to_refund: return "nothing_to_refund";
        case Refusal::refund_exceeds_captured: return "refund_exceeds_captured";
        case Refusal::unknown_line: return "unknown_line";
        case Refusal::already_shipped: return "already_shipped";
        case Refusal::dispute_open: return "dispute_open";
        case Refusal::payout_not_due: return "payout_not_due";
        case Refusal::payout_exists: return "payout_exists";
        case Refusal::nothing_to_pay: return "nothing_to_pay";
        case Refusal::refund_exists: return "refund_exists";
        case Refusal::payment_window_open: return "payment_window_open";
        case Refusal::units_already_refunded: return "units_already_refunded";
    }
    return "unknown";
}

State initial_state(const v1::OrderPlaced& placed) {
    State s;
    s.set_order_id(placed.order_id());
    s.set_customer_id(placed.customer_id());
    s.set_status(placed.status());
    s.set_total_minor(placed.pricing().total_minor());
    s.set_currency(placed.pricing().currency());
    *s.mutable_sub_orders() = placed.sub_orders();
    s.set_amount_due_minor(placed.pricing().amount_due_minor());
    s.set_credit_applied_minor(placed.pricing().credit_applied_minor());
    s.set_service_fee_minor(placed.pricing().service_fee_minor());
    s.set_paid(placed.zero_payment());
    *s.mutable_lines() = placed.pricing().lines();
    s.set_placed_at_unix_ms(placed.placed_at_unix_ms());
    s.set_storefront_id(placed.storefront_id());
    for (const auto& c : placed.pricing().coupons()) s.add_coupon_codes(c.code());
    if (placed.has_attribution()) *s.mutable_attribution() = placed.attribution();
    if (placed.has_subscription()) *s.mutable_subscription() = placed.subscription();
    return s;
}
int fulfilment_rank(std::string_view status) {
    for (size_t i = 0; i < kStages.size(); ++i)
        if (kStages[i] == status) return static_cast<int>(i);
    return static_cast<int>(kStages.size());  // cancelled: terminal
}

int payment_rank(const State& s) { return s.cancelled() ? 2 : s.paid() ? 1 : 0; }

std::expected<std::vector<Event>, Refused> decide(const State& state, const Advance& cmd) {
    const auto* so = sub_order(state, cmd.vendor_id);
    if (!so) return std::unexpected(refused(Refusal::unknown_vendor, state, "no sub-order for vendor " + cmd.vendor_id));
    if (state.cancelled()) return std::unexpected(refused(Refusal::order_cancelled, state, "the order is cancelled"));
    if (!state.paid()) return std::unexpected(refused(Refusal::not_paid, state, "the order is not paid yet"));
    const std::string now = sub_status(state, *so);
    const int from = fulfilment_rank(so->status()), to = fulfilment_rank(cmd.to_status);
    if (now == "refunded" || to >= static_cast<int>(kStages.size()) || to != from + 1)
        return std::unexpected(Refused{Refusal::invalid_transition, now,
                                       "the sub-order is " + now + "; it cannot move to " + cmd.to_status});
    if (cmd.to_status == "shipped" && (cmd.carrier.empty() || cmd.tracking.empty()))
        return std::unexpected(refused(Refusal::tracking_required, state, "shipping needs a carrier and a tracking number"));
    State s = state;
    std::vector<Event> out;
    v1::SubOrderAdvanced e;
    e.set_order_id(s.order_id());
    e.set_vendor_id(cmd.vendor_id);
    e.set_from_status(so->status());
    e.set_to_status(cmd.to_status);
    e.set_carrier(cmd.carrier);
    e.set_tracking(cmd.tracking);
    e.set_at_unix_ms(cmd.now_unix_ms);
    emit(s, std::move(e), out);
    return out;
}

std::expected<std::vector<Event>, Refused> decide(const State& state, const Cancel& cmd) {
    if (state.cancelled()) return std::unexpected(refused(Refusal::order_cancelled, state, "the order is cancelled already"));
    if (cmd.expiry) {
        // Only what is still unpaid, and only once its window has passed; an order placed
        // before its time was recorded (0) is left to people.
        if (state.paid())
            return std::unexpected(refused(Refusal::payment_window_open, state, "the order was paid"));
        // A subscription's renewal is charged off-session and settled by dunning (its retries,
        // then the subscription's end), not by the checkout's payment window.
        if (state.subscription().period() > 0)
            return std::unexpected(refused(Refusal::payment_window_open, state, "a renewal is settled by dunning"));
        if (state.placed_at_unix_ms() <= 0 || cmd.now_unix_ms < state.placed_at_unix_ms() + cmd.window_ms)
            return std::unexpected(refused(Refusal::payment_window_open, state, "the payment window is still open"));
    }
    for (const auto& so : state.sub_orders())
        if (fulfilment_rank(so.status()) >= fulfilment_rank("shipped"))
            return std::unexpected(refused(Refusal::already_shipped, state, "vendor " + so.vendor_id() + " has shipped"));
    if (held_open(state) > 0) return std::unexpected(refused(Refusal::dispute_open, state, "a dispute is open"));
    const Currency c = currency_of(state);
    const int64_t left = state.total_minor() - state.refunded_minor();
    const auto a = allocate_back(state, left, "", false);
    v1::OrderCancelled e;
    e.set_order_id(state.order_id());
    e.set_reason(cmd.reason);
    e.set_expired(cmd.expiry);
    for (const auto& sh : a.shares) *e.add_shares() = sh;
    e.set_fee_minor(a.fee_minor);
    auto& set = *e.mutable_postings();
    post_reversal(set, a, c);
    if (state.paid()) {
        // Card first (up to what the card paid and was not given back), the rest as credit.
        const int64_t card = std::min(left, state.captured_minor() - state.refunded_card_minor());
        e.set_card_minor(card);
        e.set_credit_minor(left - card);
        post(set, false, std::string(ledger::kProcessorClearing), card, c);
        post(set, false, ledger::store_credit_liability(order::owner(state)), left - card, c);
    } else {
        // Nothing was captured: the receivable goes, and the credit spent comes back.
        e.set_credit_minor(state.credit_applied_minor());
        post(set, false, ledger::customer_receivable(state.customer_id()), left - state.credit_applied_minor(), c);
        post(set, false, ledger::store_credit_liability(order::owner(state)), state.credit_applied_minor(), c);
    }
    State s = state;
    std::vector<Event> out;
    emit(s, std::move(e), out);
    reverse_affiliate(s, "OrderCancelled", out);
    return out;
}

std::expected<std::vector<Event>, Refused> decide(const State& state, const Refund& cmd) {
    if (state.cancelled()) return std::unexpected(refused(Refusal::order_cancelled, state, "the order is cancelled"));
    if (!state.paid()) return std::unexpected(refused(Refusal::not_paid, state, "nothing was captured yet"));
    if (std::find(state.refund_ids().begin(), state.refund_ids().end(), cmd.refund_id) != state.refund_ids().end())
        return std::unexpected(refused(Refusal::refund_exists, state, "refund " + cmd.refund_id + " exists"));
    if (!cmd.vendor_id.empty() && !sub_order(state, cmd.vendor_id))
        return std::unexpected(refused(Refusal::unknown_vendor, state, "no sub-order for vendor " + cmd.vendor_id));
    int64_t amount = cmd.amount_minor;
    std::string vendor = cmd.vendor_id;
    std::map<std::string, int64_t> units;  // this refund's, per "{vendor}/{sku}"
    std::vector<v1::RefundedUnits> refunded_lines;
    for (const auto& rl : cmd.lines) {
        const v1::PricedLine* line = nullptr;
        for (const auto& l : state.lines())
            if (l.sku() == rl.sku && (cmd.vendor_id.empty() || l.vendor_id() == cmd.vendor_id)) line = &l;
        if (!line || rl.quantity <= 0 || rl.quantity > line->quantity())
            return std::unexpected(refused(Refusal::unknown_line, state, "no line " + rl.sku + " with that quantity"));
        // A line's units go back at most once, over all its refunds.
        const std::string key = line->vendor_id() + "/" + line->sku();
        const auto before = state.units_refunded().find(key);
        units[key] += rl.quantity;
        const int64_t given = (before == state.units_refunded().end() ? 0 : before->second) + units[key];
        if (given > line->quantity())
            return std::unexpected(refused(Refusal::units_already_refunded, state,
                                           std::to_string(given - rl.quantity) + " of " + std::to_string(line->quantity()) +
                                               " units of " + rl.sku + " were refunded already"));
        amount += static_cast<int64_t>(static_cast<__int128>(line->net_minor()) * rl.quantity / line->quantity());
        if (cmd.lines.size() == 1) vendor = line->vendor_id();  // a single line refunds from its vendor
        v1::RefundedUnits u;
        u.set_vendor_id(line->vendor_id());
        u.set_sku(line->sku());
        u.set_quantity(rl.quantity);
        refunded_lines.push_back(std::move(u));
    }
    if (amount <= 0) return std::unexpected(refused(Refusal::nothing_to_refund, state, "the refund amount is zero"));
    if (cmd.shipping_only) {
        if (!cmd.lines.empty())
            return std::unexpected(refused(Refusal::unknown_line, state, "a shipping refund is by amount, not by line"));
        int64_t shipping = 0;
        for (const auto& so : state.sub_orders())
            if (vendor.empty() || so.vendor_id() == vendor) shipping += shipping_left(so);
        if (amount > shipping)
            return std::unexpected(refused(Refusal::refund_exceeds_captured, state,
                                           "at most " + std::to_string(shipping) + " of shipping is left to refund"));
    }
    const int64_t left = state.total_minor() - state.refunded_minor();
    const int64_t card_left = state.captured_minor() - state.refunded_card_minor() - held_open(state);
    if (amount > left || (cmd.destination == "card" && amount > card_left))
        return std::unexpected(refused(Refusal::refund_exceeds_captured, state,
                                       "at most " + std::to_string(cmd.destination == "card" ? std::min(left, card_left) : left) +
                                           " can be refunded to " + cmd.destination));
    if (!vendor.empty()) {
        const auto* so = sub_order(state, vendor);
        if (amount > base_of(*so) - so->refunded_minor())
            return std::unexpected(refused(Refusal::refund_exceeds_captured, state,
                                           "at most " + std::to_string(base_of(*so) - so->refunded_minor()) +
                                               " can be refunded from vendor " + vendor));
    }
    const Currency c = currency_of(state);
    const auto a = allocate_back(state, amount, vendor, cmd.shipping_only);
    v1::RefundIssued e;
    e.set_order_id(state.order_id());
    e.set_refund_id(cmd.refund_id);
    e.set_destination(cmd.destination);
    *e.mutable_amount() = money(amount, c);
    for (const auto& sh : a.shares) *e.add_shares() = sh;
    e.set_fee_minor(a.fee_minor);
    e.set_reason(cmd.reason);
    for (auto& u : refunded_lines) *e.add_lines() = std::move(u);
    post_reversal(*e.mutable_postings(), a, c);
    post(*e.mutable_postings(), false,
         cmd.destination == "card" ? std::string(ledger::kProcessorClearing) : ledger::store_credit_liability(order::owner(state)),
         amount, c);
    State s = state;
    std::vector<Event> out;
    emit(s, std::move(e), out);
    reverse_affiliate(s, "RefundIssued", out);
    return out;
}

std::expected<std::vector<Event>, Refused> decide(const State& state, const RequestPayout& cmd) {
    const auto* so = sub_order(state, cmd.vendor_id);
    if (!so) return std::unexpected(refused(Refusal::unknown_vendor, state, "no sub-order for vendor " + cmd.vendor_id));
    if (payout(state, cmd.vendor_id))
        return std::unexpected(refused(Refusal::payout_exists, state, "a payout for vendor " + cmd.vendor_id + " exists"));
    if (so->status() != "delivered" || so->delivered_at_unix_ms() + cmd.delay_ms > cmd.now_unix_ms)
        return std::unexpected(Refused{Refusal::payout_not_due, sub_status(state, *so), "paid out after delivery and the delay"});
    if (held_open(state) > 0) return std::unexpected(refused(Refusal::dispute_open, state, "a dispute is open"));
    const int64_t amount = so->payable_minor() -
                           (so->refunded_minor() + so->promotion_reversed_minor() - so->commission_reversed_minor());
    if (amount <= 0) return std::unexpected(refused(Refusal::nothing_to_pay, state, "nothing is payable to " + cmd.vendor_id));
    v1::PayoutRequested e;
    e.set_order_id(state.order_id());
    e.set_vendor_id(cmd.vendor_id);
    *e.mutable_amount() = money(amount, currency_of(state));
    e.set_idempotency_key("payout-" + state.order_id() + "-" + cmd.vendor_id);
    e.set_transfer_group(state.order_id());
    State s = state;
    std::vector<Event> out;
    emit(s, std::move(e), out);
    return out;
}

State evolve(State s, const Event& event) {
    std::visit(
        [&s](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, v1::PaymentSucceeded>) {
                s.set_paid(true);
                s.set_captured_minor(e.amount().minor());
                s.clear_deferred();
                for (auto& so : *s.mutable_sub_orders())
                    if (so.status() == "awaiting_payment") so.set_status("paid");
            } else if constexpr (std::is_same_v<T, v1::PaymentFailed>) {
                s.set_payment_failures(s.payment_failures() + 1);
            } else if constexpr (std::is_same_v<T, v1::SubOrderAdvanced>) {
                auto* so = sub_order(s, e.vendor_id());
                so->set_status(e.to_status());
                if (!e.carrier().empty()) so->set_carrier(e.carrier());
                if (!e.tracking().empty()) so->set_tracking(e.tracking());
                if (e.to_status() == "delivered") so->set_delivered_at_unix_ms(e.at_unix_ms());
            } else if constexpr (std::is_same_v<T, v1::OrderCancelled>) {
                s.set_cancelled(true);
                apply_allocation(s, e.shares(), e.fee_minor());
                s.set_refunded_minor(s.refunded_minor() + e.card_minor() + e.credit_minor());
                s.set_refunded_card_minor(s.refunded_card_minor() + e.card_minor());
                s.set_card_refunds_minor(s.card_refunds_minor() + e.card_minor());
                for (auto& so : *s.mutable_sub_orders()) so.set_status("cancelled");
            } else if constexpr (std::is_same_v<T, v1::ExternalRefundRecorded>) {
                apply_allocation(s, e.shares(), e.fee_minor());
                // What the order had left to give back; anything beyond was booked as a loss.
                int64_t back = e.fee_minor();
                for (const auto& sh : e.shares()) back += sh.amount_minor();
                s.set_refunded_minor(s.refunded_minor() + back);
                s.set_refunded_card_minor(s.refunded_card_minor() + e.amount().minor());
                s.set_card_refunds_minor(s.card_refunds_minor() + e.amount().minor());
            } else if constexpr (std::is_same_v<T, v1::RefundIssued>) {
                apply_allocation(s, e.shares(), e.fee_minor());
                s.set_refunded_minor(s.refunded_minor() + e.amount().minor());
                if (e.destination() == "card") {
                    s.set_refunded_card_minor(s.refunded_card_minor() + e.amount().minor());
                    s.set_card_refunds_minor(s.card_refunds_minor() + e.amount().minor());
                }
                s.add_refund_ids(e.refund_id());
                for (const auto& u : e.lines()) (*s.mutable_units_refunded())[u.vendor_id() + "/" + u.sku()] += u.quantity();
            } else if constexpr (std::is_same_v<T, v1::DisputeOpened>) {
                auto* d = s.add_disputes();
                d->set_dispute_id(e.signal().object_id());
                d->set_amount_minor(e.amount().minor());
                d->set_status("open");
            } else if constexpr (std::is_same_v<T, v1::DisputeClosed>) {
                dispute(s, e.signal().object_id())->set_status(e.outcome());
                if (e.outcome() == "lost") {
                    apply_allocation(s, e.shares(), e.fee_minor());
                    s.set_refunded_minor(std::min(s.total_minor(), s.refunded_minor() + e.amount().minor()));
                    s.set_refunded_card_minor(s.refunded_card_minor() + e.amount().minor());
                }
            } else if constexpr (std::is_same_v<T, v1::PayoutRequested>) {
                auto* p = s.add_payouts();
                p->set_vendor_id(e.vendor_id());
                p->set_status("requested");
                p->set_amount_minor(e.amount().minor());
            } else if constexpr (std::is_same_v<T, v1::PayoutSettled>) {
                auto* p = payout(s, e.vendor_id());
                p->set_status("paid");
                p->set_transfer_id(e.signal().object_id());
            } else if constexpr (std::is_same_v<T, v1::PayoutReversed>) {
                payout(s, e.vendor_id())->set_status("reversed");
            } else if constexpr (std::is_same_v<T, v1::ProviderSignalFlagged>) {
                s.set_flagged_count(s.flagged_count() + 1);
            } else if constexpr (std::is_same_v<T, v1::ProviderSignalDeferred>) {
                *s.add_deferred() = e.signal();
            } else if constexpr (std::is_same_v<T, v1::AffiliateConversionRecorded>) {
                s.set_affiliate_converted(true);
                s.set_affiliate_converted_at_unix_ms(e.at_unix_ms());
            } else if constexpr (std::is_same_v<T, v1::AffiliateConversionPaidOut>) {
                s.set_affiliate_paid_minor(e.paid_total_minor());
            } else if constexpr (std::is_same_v<T, v1::AffiliateConversionReversed>) {
                s.set_affiliate_reversed_minor(e.reversed_total_minor());
            }
            // RefundConfirmed changes nothing: the money moved when the refund was issued.
        },
        event);
    s.set_status(order_status(s));
    return s;
}

std::string_view type_of(const Event& event) {
    static constexpr std::string_view kNames[] = {
        "PaymentSucceeded", "PaymentFailed",  "SubOrderAdvanced", "OrderCancelled",        "RefundIssued",
        "RefundConfirmed",  "DisputeOpened",  "DisputeClosed",    "PayoutRequested",       "PayoutSettled",
        "PayoutReversed",   "ProviderSignalFlagged", "ProviderSignalDeferred", "ExternalRefundRecorded",
        "AffiliateConversionRecorded", "AffiliateConversionReversed", "AffiliateConversionPaidOut"};
    static_assert(std::size(kNames) == std::variant_size_v<Event>);
    return kNames[event.index()];
}

std::string serialize(const Event& event) {
    return std::visit([](const auto& e) { return e.SerializeAsString(); }, event);
}

const v1::PostingSet* postings_of(const Event& event) {
    return std::visit(
        [](const auto& e) -> const v1::PostingSet* {
            if constexpr (requires { e.postings(); }) return e.postings().postings_size() > 0 ? &e.postings() : nullptr;
            else return nullptr;
        },
        event);
}

int64_t credit_returned(const Event& event) {
    if (const auto* r = std::get_if<v1::RefundIssued>(&event))
        return r->destination() == "credit" ? r->amount().minor() : 0;
    if (const auto* c = std::get_if<v1::OrderCancelled>(&event)) return c->credit_minor();
    return 0;
}

}  // namespace tally::lifecycle
