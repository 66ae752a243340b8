#include "projectors/affiliates_projection.h"

#include "events/registry.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::projectors {
namespace {

// A payout's provider message: its new status (one stream per affiliate, so in order).
template <typename Message>
void payout_moved(sql::Tx& tx, const TableMap& t, const v1::EventEnvelope& e, const char* status) {
    Message m;
    if (!m.ParseFromString(e.payload())) return;
    tx.exec("UPDATE " + t.at("affiliate_payouts") +
                " SET status = $2, object_id = CASE WHEN $3 = '' THEN object_id ELSE $3 END, position = $4::bigint"
                " WHERE payout_id = $1 AND position < $4::bigint",
            {m.payout_id(), status, m.signal().object_id(), std::to_string(e.position())});
}

class AffiliatesProjection final : public Projection {
public:
    std::string name() const override { return "affiliates"; }
    std::vector<std::string> tables() const override { return {"affiliates", "affiliate_conversions", "affiliate_payouts"}; }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        for (const auto& e : events) {
            if (e.type() == events::kAffiliateDefined) {
                v1::AffiliateDefined d;
                if (!d.ParseFromString(e.payload())) continue;
                const auto& a = d.affiliate();
                std::vector<std::string> codes(a.referral_codes().begin(), a.referral_codes().end());
                tx.exec("INSERT INTO " + t.at("affiliates") +
                            " AS x (affiliate_id, status, currency, commission_bps, rail, referral_codes, position)"
                            " VALUES ($1, $2, $3, $4::int, $5, $6::text[], $7::bigint) ON CONFLICT (affiliate_id) DO UPDATE SET"
                            " status = EXCLUDED.status, currency = EXCLUDED.currency, commission_bps = EXCLUDED.commission_bps,"
                            " rail = EXCLUDED.rail, referral_codes = EXCLUDED.referral_codes, position = EXCLUDED.position"
                            " WHERE x.position < EXCLUDED.position",
                        {a.affiliate_id(), a.status(), a.currency(), std::to_string(a.commission_bps()),
                         a.stripe_account().empty() ? "paypal" : "stripe", sql::text_array(codes), std::to_string(e.position())});
            } else if (e.type() == events::kAffiliateConversionRecorded) {
                v1::AffiliateConversionRecorded c;
                if (!c.ParseFromString(e.payload())) continue;
                tx.exec("INSERT INTO " + t.at("affiliate_conversions") +
                            " (order_id, affiliate_id, customer_id, currency, base_minor, commission_minor, reversed_minor,"
                            " recorded_unix_ms, position) VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, 0, $7::bigint, $8::bigint)"
                            " ON CONFLICT (order_id) DO NOTHING",
                        {c.order_id(), c.affiliate_id(), c.customer_id(), c.commission().currency(), std::to_string(c.base_minor()),
                         std::to_string(c.commission().minor()), std::to_string(e.occurred_at_unix_ms()),
                         std::to_string(e.position())});
            } else if (e.type() == events::kDisputeOpened || e.type() == events::kDisputeClosed) {
                // An open dispute on a converted order holds its payout eligibility. Only
                // orders with a conversion have a row; a dispute before the payment is
                // applied after it, so after the conversion too.
                const std::string order = e.stream_id().substr(std::string_view("order-").size());
                tx.exec("UPDATE " + t.at("affiliate_conversions") + " SET open_disputes = greatest(0, open_disputes + $2::int)"
                            " WHERE order_id = $1",
                        {order, e.type() == events::kDisputeOpened ? "1" : "-1"});
            } else if (e.type() == events::kAffiliateConversionPaidOut) {
                v1::AffiliateConversionPaidOut p;
                if (!p.ParseFromString(e.payload())) continue;
                tx.exec("UPDATE " + t.at("affiliate_conversions") +
                            " SET paid_minor = GREATEST(paid_minor, $2::bigint) WHERE order_id = $1",
                        {p.order_id(), std::to_string(p.paid_total_minor())});
            } else if (e.type() == events::kAffiliatePayoutRequested) {
                v1::AffiliatePayoutRequested p;
                if (!p.ParseFromString(e.payload())) continue;
                tx.exec("INSERT INTO " + t.at("affiliate_payouts") +
                            " (payout_id, affiliate_id, payout_date, currency, amount_minor, returned_minor, rail, status,"
                            " orders, requested_unix_ms, position) VALUES ($1, $2, $3, $4, $5::bigint, $6::bigint, $7,"
                            " 'requested', $8::int, $9::bigint, $10::bigint) ON CONFLICT (payout_id) DO NOTHING",
                        {p.payout_id(), p.affiliate_id(), p.date(), p.amount().currency(), std::to_string(p.amount().minor()),
                         std::to_string(p.returned_minor()), p.rail(), std::to_string(p.items_size()),
                         std::to_string(e.occurred_at_unix_ms()), std::to_string(e.position())});
            } else if (e.type() == events::kAffiliatePayoutSettled) {
                payout_moved<v1::AffiliatePayoutSettled>(tx, t, e, "paid");
            } else if (e.type() == events::kAffiliatePayoutFailed) {
                payout_moved<v1::AffiliatePayoutFailed>(tx, t, e, "failed");
            } else if (e.type() == events::kAffiliatePayoutReversed) {
                payout_moved<v1::AffiliatePayoutReversed>(tx, t, e, "reversed");
            } else if (e.type() == events::kAffiliateConversionReversed) {
                v1::AffiliateConversionReversed r;
                if (!r.ParseFromString(e.payload())) continue;
                // The running total the event carries: applying it twice changes nothing.
                tx.exec("UPDATE " + t.at("affiliate_conversions") +
                            " SET reversed_minor = GREATEST(reversed_minor, $2::bigint) WHERE order_id = $1",
                        {r.order_id(), std::to_string(r.reversed_total_minor())});
            }
        }
    }
};

}  // namespace

std::unique_ptr<Projection> affiliates_projection() { return std::make_unique<AffiliatesProjection>(); }

}  // namespace tally::projectors
