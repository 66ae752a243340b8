#include "projectors/loyalty_projection.h"

#include <map>
#include <optional>
#include <utility>

#include "events/registry.h"
#include "tally/v1/loyalty.pb.h"

namespace tally::projectors {
namespace {

// Columns of one multi-row statement, bound as arrays.
struct Columns {
    std::vector<std::string> a, b, c, d, e, f;
    std::vector<int64_t> n1, n2, n3, n4;
};

class LoyaltyProjection final : public Projection {
public:
    std::string name() const override { return "loyalty"; }
    std::vector<std::string> tables() const override {
        return {"loyalty_standings", "loyalty_holds", "loyalty_history"};
    }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        using Key = std::pair<std::string, std::string>;  // customer, currency (or dispute)
        std::map<Key, std::pair<int64_t, int64_t>> spend;  // -> (spend, position): the batch's latest
        std::map<Key, std::pair<std::string, int64_t>> tier;
        std::map<Key, std::optional<std::pair<std::string, int64_t>>> holds;  // -> open (order, position), or released
        Columns history;
        for (const auto& e : events) {
            if (e.type() == events::kSpendRecorded) {
                v1::SpendRecorded s;
                if (!s.ParseFromString(e.payload())) continue;
                auto& slot = spend[{s.customer_id(), s.currency()}];
                if (e.position() > slot.second) slot = {s.spend_after_minor(), e.position()};
            } else if (e.type() == events::kTierChanged) {
                v1::TierChanged c;
                if (!c.ParseFromString(e.payload())) continue;
                auto& slot = tier[{c.customer_id(), c.currency()}];
                if (e.position() > slot.second) slot = {c.to_tier(), e.position()};
                history.a.push_back(c.customer_id());
                history.b.push_back(e.event_id());
                history.c.push_back(c.currency());
                history.d.push_back(c.from_tier());
                history.e.push_back(c.to_tier());
                history.f.push_back(c.reason());
                history.n1.push_back(e.position());
                history.n2.push_back(c.spend_minor());
                history.n3.push_back(c.program_version());
                history.n4.push_back(e.occurred_at_unix_ms());
            } else if (e.type() == events::kTierHoldOpened) {
                v1::TierHoldOpened h;
                if (h.ParseFromString(e.payload()))
                    holds[{h.customer_id(), h.dispute_id()}] = std::make_pair(h.order_id(), e.position());
            } else if (e.type() == events::kTierHoldReleased) {
                v1::TierHoldReleased h;
                if (h.ParseFromString(e.payload())) holds[{h.customer_id(), h.dispute_id()}] = std::nullopt;
            }
        }
        const std::string& standings = t.at("loyalty_standings");
        if (!spend.empty()) {
            Columns c;
            for (const auto& [k, v] : spend) {
                c.a.push_back(k.first);
                c.b.push_back(k.second);
                c.n1.push_back(v.first);
                c.n2.push_back(v.second);
            }
            tx.exec("INSERT INTO " + standings + " AS s (customer_id, currency, spend_minor, spend_position)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])"
                        " ON CONFLICT (customer_id, currency) DO UPDATE SET"
                        " spend_minor = EXCLUDED.spend_minor, spend_position = EXCLUDED.spend_position"
                        " WHERE s.spend_position < EXCLUDED.spend_position",
                    {sql::text_array(c.a), sql::text_array(c.b), sql::int_array(c.n1), sql::int_array(c.n2)});
        }
        if (!tier.empty()) {
            Columns c;
            for (const auto& [k, v] : tier) {
                c.a.push_back(k.first);
                c.b.push_back(k.second);
                c.c.push_back(v.first);
                c.n1.push_back(v.second);
            }
            tx.exec("INSERT INTO " + standings + " AS s (customer_id, currency, tier, tier_position)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                        " ON CONFLICT (customer_id, currency) DO UPDATE SET"
                        " tier = EXCLUDED.tier, tier_position = EXCLUDED.tier_position"
                        " WHERE s.tier_position < EXCLUDED.tier_position",
                    {sql::text_array(c.a), sql::text_array(c.b), sql::text_array(c.c), sql::int_array(c.n1)});
        }
        if (!holds.empty()) {
            Columns open, released;
            for (const auto& [k, v] : holds) {
                if (v) {
                    open.a.push_back(k.first);
                    open.b.push_back(k.second);
                    open.c.push_back(v->first);
                    open.n1.push_back(v->second);
                } else {
                    released.a.push_back(k.first);
                    released.b.push_back(k.second);
                }
            }
            const std::string& h = t.at("loyalty_holds");
            if (!open.a.empty())
                tx.exec("INSERT INTO " + h + " (customer_id, dispute_id, order_id, opened_position)"
                            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                            " ON CONFLICT DO NOTHING",
                        {sql::text_array(open.a), sql::text_array(open.b), sql::text_array(open.c),
                         sql::int_array(open.n1)});
            if (!released.a.empty())
                tx.exec("DELETE FROM " + h + " h USING unnest($1::text[], $2::text[]) AS r(customer_id, dispute_id)"
                            " WHERE h.customer_id = r.customer_id AND h.dispute_id = r.dispute_id",
                        {sql::text_array(released.a), sql::text_array(released.b)});
        }
        if (!history.a.empty())
            tx.exec("INSERT INTO " + t.at("loyalty_history") +
                        " (customer_id, event_id, currency, from_tier, to_tier, reason, position, spend_minor,"
                        " program_version, occurred_at_unix_ms)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
                        " $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])"
                        " ON CONFLICT DO NOTHING",
                    {sql::text_array(history.a), sql::text_array(history.b), sql::text_array(history.c),
                     sql::text_array(history.d), sql::text_array(history.e), sql::text_array(history.f),
                     sql::int_array(history.n1), sql::int_array(history.n2), sql::int_array(history.n3),
                     sql::int_array(history.n4)});
    }
};

}  // namespace

std::unique_ptr<Projection> loyalty_projection() { return std::make_unique<LoyaltyProjection>(); }

}  // namespace tally::projectors
