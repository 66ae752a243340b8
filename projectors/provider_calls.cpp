#include "projectors/provider_calls.h"

#include "events/registry.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/operator.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"
#include "tally/v1/subscription.pb.h"

namespace tally::projectors {
namespace {

struct Planned {
    std::vector<std::string> keys, kinds, orders, vendors, currencies, affiliates;
    std::vector<int64_t> amounts, positions, due_ms;

    void add(std::string key, std::string kind, std::string order, std::string vendor, int64_t amount,
             std::string currency, int64_t position, int64_t due, std::string affiliate = "") {
        affiliates.push_back(std::move(affiliate));
        keys.push_back(std::move(key));
        kinds.push_back(std::move(kind));
        orders.push_back(std::move(order));
        vendors.push_back(std::move(vendor));
        amounts.push_back(amount);
        currencies.push_back(std::move(currency));
        positions.push_back(position);
        due_ms.push_back(due);
    }
};

class ProviderCallsProjection final : public Projection {
public:
    explicit ProviderCallsProjection(int64_t payout_delay_ms) : payout_delay_ms_(payout_delay_ms) {}
    std::string name() const override { return "provider_calls"; }
    std::vector<std::string> tables() const override { return {"provider_calls"}; }
    bool rebuildable() const override { return false; }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        Planned p;
        std::vector<std::string> disputes_closed;  // orders whose held payout requests may go again
        std::vector<v1::DeadLetterRetried> retried;  // operators sent these back
        for (const auto& e : events) {
            const int64_t now = e.occurred_at_unix_ms();
            if (e.type() == events::kOrderPlaced) {
                v1::OrderPlaced o;
                // A subscription's renewal is charged off-session under the period's key.
                if (o.ParseFromString(e.payload()) && !o.zero_payment() && o.pricing().amount_due_minor() > 0)
                    p.add(o.subscription().period() > 0 ? o.payment_idempotency_key() : "intent-" + o.order_id(),
                          "payment_intent", o.order_id(), "", o.pricing().amount_due_minor(), o.pricing().currency(),
                          e.position(), now);
            } else if (e.type() == events::kRenewalRetryRequested) {
                // Dunning: the period's intent confirmed again, under the retry's key.
                v1::RenewalRetryRequested r;
                if (r.ParseFromString(e.payload()) && r.amount_minor() > 0)
                    p.add(r.payment_key(), "renewal_retry", r.order_id(), "", r.amount_minor(), r.currency(), e.position(),
                          now);
            } else if (e.type() == events::kOrderCancelled) {
                v1::OrderCancelled c;
                if (!c.ParseFromString(e.payload())) continue;
                if (c.card_minor() > 0)
                    p.add("refund-cancel-" + c.order_id(), "refund", c.order_id(), "", c.card_minor(), "", e.position(), now);
                else
                    p.add("intent-cancel-" + c.order_id(), "cancel_intent", c.order_id(), "", 0, "", e.position(), now);
            } else if (e.type() == events::kRefundIssued) {
                v1::RefundIssued r;
                if (r.ParseFromString(e.payload()) && r.destination() == "card" && r.amount().minor() > 0)
                    p.add(r.refund_id(), "refund", r.order_id(), "", r.amount().minor(), r.amount().currency(),
                          e.position(), now);
            } else if (e.type() == events::kProviderSignalFlagged) {
                // Paid after the order was cancelled: the money goes back to the card.
                v1::ProviderSignalFlagged f;
                if (f.ParseFromString(e.payload()) && f.reason() == "succeeded_after_cancel" &&
                    f.signal().amount_minor() > 0)
                    p.add("refund-late-" + f.signal().provider_event_id(), "refund", f.order_id(), "",
                          f.signal().amount_minor(), f.signal().currency(), e.position(), now);
            } else if (e.type() == events::kDisputeClosed) {
                v1::DisputeClosed c;
                if (c.ParseFromString(e.payload())) disputes_closed.push_back(c.order_id());
            } else if (e.type() == events::kPayoutRequested) {
                v1::PayoutRequested r;
                if (r.ParseFromString(e.payload()))
                    p.add(r.idempotency_key(), "transfer", r.order_id(), r.vendor_id(), r.amount().minor(),
                          r.amount().currency(), e.position(), now);
            } else if (e.type() == events::kDeadLetterRetried) {
                v1::DeadLetterRetried r;
                if (r.ParseFromString(e.payload())) retried.push_back(r);
            } else if (e.type() == events::kAffiliatePayoutRequested) {
                v1::AffiliatePayoutRequested r;
                if (r.ParseFromString(e.payload()))
                    p.add(r.payout_id(), r.rail() == "paypal" ? "paypal_payout" : "affiliate_transfer", "", "",
                          r.amount().minor(), r.amount().currency(), e.position(), now, r.affiliate_id());
            } else if (e.type() == events::kSubOrderAdvanced) {
                v1::SubOrderAdvanced a;
                if (a.ParseFromString(e.payload()) && a.to_status() == "delivered")
                    p.add("payout-request-" + a.order_id() + "-" + a.vendor_id(), "request_payout", a.order_id(),
                          a.vendor_id(), 0, "", e.position(), a.at_unix_ms() + payout_delay_ms_);
            }
        }
        // A payout request refused while a dispute was open (retried, maybe parked) is due again
        // when the dispute closes, with its attempts from zero.
        if (!disputes_closed.empty())
            tx.exec("UPDATE " + t.at("provider_calls") +
                        " SET status = 'pending', attempts = 0, due_at = now(), updated_at = now()"
                        " WHERE kind = 'request_payout' AND status IN ('pending', 'dead') AND order_id = ANY($1::text[])",
                    {sql::text_array(disputes_closed)});
        // Back to pending with attempts from zero, if still parked (a repeat changes nothing).
        for (const auto& r : retried)
            tx.exec("UPDATE " + t.at("provider_calls") +
                        " SET status = 'pending', attempts = 0, due_at = now(), updated_at = now(),"
                        " operator_retries = operator_retries + 1, retried_by = $2 WHERE id = $1::bigint AND status = 'dead'",
                    {std::to_string(r.call_id()), r.operator_id()});
        if (p.keys.empty()) return;
        // A cancellation of an order that never needed an intent asks for nothing: only
        // orders with a planned intent get a cancel_intent row. Two statements, so the
        // second sees intents planned by the first (in this batch).
        const std::string insert =
            "INSERT INTO " + t.at("provider_calls") +
            " (key, kind, order_id, vendor_id, amount_minor, currency, source_position, due_at, affiliate_id)"
            " SELECT u.key, u.kind, u.order_id, u.vendor_id, u.amount, u.currency, u.position,"
            " to_timestamp(u.due_ms / 1000.0), u.affiliate"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[],"
            " $8::bigint[], $9::text[]) WITH ORDINALITY AS u(key, kind, order_id, vendor_id, amount, currency, position,"
            " due_ms, affiliate, n)";
        const std::vector<sql::Param> params{sql::text_array(p.keys),    sql::text_array(p.kinds),
                                             sql::text_array(p.orders),  sql::text_array(p.vendors),
                                             sql::int_array(p.amounts),  sql::text_array(p.currencies),
                                             sql::int_array(p.positions), sql::int_array(p.due_ms),
                                             sql::text_array(p.affiliates)};
        tx.exec(insert + " WHERE u.kind <> 'cancel_intent' ORDER BY u.n ON CONFLICT (key) DO NOTHING", params);
        tx.exec(insert + " WHERE u.kind = 'cancel_intent' AND EXISTS (SELECT 1 FROM " + t.at("provider_calls") +
                    " i WHERE i.order_id = u.order_id AND i.kind = 'payment_intent') ORDER BY u.n"
                    " ON CONFLICT (key) DO NOTHING",
                params);
    }

private:
    int64_t payout_delay_ms_;
};

}  // namespace

std::unique_ptr<Projection> provider_calls_projection(int64_t payout_delay_ms) {
    return std::make_unique<ProviderCallsProjection>(payout_delay_ms);
}

}  // namespace tally::projectors
