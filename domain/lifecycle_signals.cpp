#include "domain/assert.h"
#include "domain/ledger.h"
#include "domain/lifecycle_detail.h"

// The payment provider's messages and what they do to an order, by their kind (the
// provider's own vocabulary stays in its adapter, http/).
namespace tally::lifecycle {
namespace {

using namespace detail;

constexpr auto kSucceeded = v1::SIGNAL_PAYMENT_SUCCEEDED;
constexpr auto kFailed = v1::SIGNAL_PAYMENT_FAILED;
constexpr auto kRefunded = v1::SIGNAL_CHARGE_REFUNDED;
constexpr auto kDisputeCreated = v1::SIGNAL_DISPUTE_OPENED;
constexpr auto kDisputeClosed = v1::SIGNAL_DISPUTE_CLOSED;
constexpr auto kTransferCreated = v1::SIGNAL_TRANSFER_CREATED;
constexpr auto kTransferReversed = v1::SIGNAL_TRANSFER_REVERSED;

v1::ProviderSignalFlagged flagged(const State& s, const v1::ProviderSignal& sig, std::string reason) {
    v1::ProviderSignalFlagged f;
    f.set_order_id(s.order_id());
    *f.mutable_signal() = sig;
    f.set_reason(std::move(reason));
    return f;
}

void apply_signal(State& s, const v1::ProviderSignal& sig, std::vector<Event>& out);

void open_dispute(State& s, const v1::ProviderSignal& sig, std::vector<Event>& out) {
    const Currency c = currency_of(s);
    v1::DisputeOpened e;
    e.set_order_id(s.order_id());
    *e.mutable_signal() = sig;
    *e.mutable_amount() = money(sig.amount_minor(), c);
    post(*e.mutable_postings(), true, std::string(ledger::kDisputesHeld), sig.amount_minor(), c);
    post(*e.mutable_postings(), false, std::string(ledger::kProcessorClearing), sig.amount_minor(), c);
    emit(s, std::move(e), out);
}

void apply_signal(State& s, const v1::ProviderSignal& sig, std::vector<Event>& out) {
    const v1::SignalKind type = sig.kind();
    const bool needs_payment = type == kRefunded || type == kDisputeCreated || type == kDisputeClosed ||
                               type == kTransferCreated || type == kTransferReversed;
    if (needs_payment && !s.paid() && !s.cancelled()) {
        v1::ProviderSignalDeferred d;
        d.set_order_id(s.order_id());
        *d.mutable_signal() = sig;
        d.set_waiting_for("payment_succeeded");
        return emit(s, std::move(d), out);
    }
    if (type == kSucceeded) {
        if (s.cancelled()) return emit(s, flagged(s, sig, "succeeded_after_cancel"), out);
        if (s.paid()) return emit(s, flagged(s, sig, "already_paid"), out);
        if (sig.amount_minor() != s.amount_due_minor() || sig.currency() != s.currency())
            return emit(s, flagged(s, sig, "amount_mismatch"), out);
        const Currency c = currency_of(s);
        v1::PaymentSucceeded e;
        e.set_order_id(s.order_id());
        *e.mutable_signal() = sig;
        *e.mutable_amount() = money(sig.amount_minor(), c);
        post(*e.mutable_postings(), true, std::string(ledger::kProcessorClearing), sig.amount_minor(), c);
        post(*e.mutable_postings(), false, ledger::customer_receivable(s.customer_id()), sig.amount_minor(), c);
        const auto deferred = s.deferred();  // cleared by the evolve below
        emit(s, std::move(e), out);
        convert_affiliate(s, sig.created_unix_s() > 0 ? sig.created_unix_s() * 1000 : s.placed_at_unix_ms(), out);
        for (const auto& d : deferred) apply_signal(s, d, out);
        return;
    }
    if (type == kFailed) {
        if (s.paid() || s.cancelled()) return emit(s, flagged(s, sig, s.paid() ? "failed_after_paid" : "failed_after_cancel"), out);
        v1::PaymentFailed e;
        e.set_order_id(s.order_id());
        *e.mutable_signal() = sig;
        return emit(s, std::move(e), out);
    }
    if (s.cancelled() && !s.paid()) return emit(s, flagged(s, sig, "order_cancelled_unpaid"), out);
    if (type == kRefunded) {
        // amount_minor: the charge's cumulative refunds at the provider.
        if (sig.amount_minor() > s.card_refunds_minor()) {
            // The provider gave back more than tally issued: book the difference as a card
            // refund (the money has left already), never ignore it. More than the card has
            // left (after refunds, lost disputes and what open disputes hold) cannot be: a
            // message to look at.
            const int64_t extra = sig.amount_minor() - s.card_refunds_minor();
            if (extra > s.captured_minor() - s.refunded_card_minor() - held_open(s))  // disputed money is held
                return emit(s, flagged(s, sig, "refund_exceeds_captured"), out);
            const Currency c = currency_of(s);
            const int64_t back = std::min(extra, std::max<int64_t>(0, s.total_minor() - s.refunded_minor()));
            Allocation a = allocate_back(s, back, "", false);
            a.excess_minor += extra - back;
            v1::ExternalRefundRecorded e;
            e.set_order_id(s.order_id());
            *e.mutable_signal() = sig;
            *e.mutable_amount() = money(extra, c);
            for (const auto& sh : a.shares) *e.add_shares() = sh;
            e.set_fee_minor(a.fee_minor);
            post_reversal(*e.mutable_postings(), a, c);
            post(*e.mutable_postings(), false, std::string(ledger::kProcessorClearing), extra, c);
            emit(s, std::move(e), out);
            return reverse_affiliate(s, "ExternalRefundRecorded", out);
        }
        v1::RefundConfirmed e;
        e.set_order_id(s.order_id());
        *e.mutable_signal() = sig;
        return emit(s, std::move(e), out);
    }
    if (type == kDisputeCreated) {
        if (dispute(s, sig.object_id())) return emit(s, flagged(s, sig, "dispute_already_known"), out);
        if (!disputable(s, sig.amount_minor())) return emit(s, flagged(s, sig, "dispute_exceeds_captured"), out);
        return open_dispute(s, sig, out);
    }
    if (type == kDisputeClosed) {
        const auto* known = dispute(s, sig.object_id());
        if (known && known->status() != "open") return emit(s, flagged(s, sig, "dispute_already_closed"), out);
        if (sig.outcome() != "won" && sig.outcome() != "lost") return emit(s, flagged(s, sig, "unknown_outcome"), out);
        if (!known) {  // closed before we heard it opened: open it from this message first
            if (!disputable(s, sig.amount_minor())) return emit(s, flagged(s, sig, "dispute_exceeds_captured"), out);
            open_dispute(s, sig, out);
            known = dispute(s, sig.object_id());
        }
        const Currency c = currency_of(s);
        const int64_t amount = known->amount_minor();
        v1::DisputeClosed e;
        e.set_order_id(s.order_id());
        *e.mutable_signal() = sig;
        e.set_outcome(sig.outcome());
        *e.mutable_amount() = money(amount, c);
        if (sig.outcome() == "won") {
            post(*e.mutable_postings(), true, std::string(ledger::kProcessorClearing), amount, c);
        } else {
            const int64_t back = std::min(amount, s.total_minor() - s.refunded_minor());
            Allocation all = allocate_back(s, back, "", false);
            all.excess_minor += amount - back;
            for (const auto& sh : all.shares) *e.add_shares() = sh;
            e.set_fee_minor(all.fee_minor);
            post_reversal(*e.mutable_postings(), all, c);
        }
        post(*e.mutable_postings(), false, std::string(ledger::kDisputesHeld), amount, c);
        emit(s, std::move(e), out);
        return reverse_affiliate(s, "DisputeClosed", out);
    }
    if (type == kTransferCreated || type == kTransferReversed) {
        const auto* p = payout(s, sig.vendor_id());
        const bool created = type == kTransferCreated;
        if (!p) return emit(s, flagged(s, sig, "no_payout_requested"), out);
        if (created && p->status() != "requested") return emit(s, flagged(s, sig, "payout_already_" + p->status()), out);
        if (!created && p->status() != "paid") return emit(s, flagged(s, sig, "payout_not_paid"), out);
        if (sig.amount_minor() != p->amount_minor()) return emit(s, flagged(s, sig, "amount_mismatch"), out);
        // Settled: the vendor's payable against clearing; reversed: the other way round.
        auto settle = [&](auto e) {
            const Currency c = currency_of(s);
            e.set_order_id(s.order_id());
            e.set_vendor_id(p->vendor_id());
            *e.mutable_signal() = sig;
            *e.mutable_amount() = money(p->amount_minor(), c);
            post(*e.mutable_postings(), created, ledger::vendor_payable(p->vendor_id()), p->amount_minor(), c);
            post(*e.mutable_postings(), !created, std::string(ledger::kProcessorClearing), p->amount_minor(), c);
            emit(s, std::move(e), out);
        };
        if (created) return settle(v1::PayoutSettled{});
        return settle(v1::PayoutReversed{});
    }
    emit(s, flagged(s, sig, "unhandled_type"), out);
}

}  // namespace

bool handles(v1::SignalKind t) {
    return t == kSucceeded || t == kFailed || t == kRefunded || t == kDisputeCreated || t == kDisputeClosed ||
           t == kTransferCreated || t == kTransferReversed;
}

std::vector<Event> on_signal(const State& state, const v1::ProviderSignal& signal) {
    TALLY_ASSERT(handles(signal.kind()), "signal {} of kind {} not handled", signal.type(), static_cast<int>(signal.kind()));
    State s = state;
    std::vector<Event> out;
    apply_signal(s, signal, out);
    return out;
}

}  // namespace tally::lifecycle
