#include "projectors/affiliates_projection.h"

#include "events/registry.h"
#include "tally/v1/affiliate.pb.h"

namespace tally::projectors {
namespace {

class AffiliatesProjection final : public Projection {
public:
    std::string name() const override { return "affiliates"; }
    std::vector<std::string> tables() const override { return {"affiliates", "affiliate_conversions"}; }

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
