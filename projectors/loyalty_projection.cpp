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

using Key = std::pair<std::string, std::string>;  // customer, currency (or dispute)
using Latest = std::map<Key, std::pair<std::string, int64_t>>;  // -> (value, the position it is from)

// One column of the standings from the batch's latest event per customer and currency,
// never over a later one (a redelivery or a rebuild does not move it back).
void set_latest(sql::Tx& tx, const std::string& table, const std::string& column, const std::string& type,
                const std::string& position_column, const Latest& latest) {
    if (latest.empty()) return;
    std::vector<std::string> customers, currencies, values;
    std::vector<int64_t> positions;
    for (const auto& [k, v] : latest) {
        customers.push_back(k.first);
        currencies.push_back(k.second);
        values.push_back(v.first);
        positions.push_back(v.second);
    }
    tx.exec("INSERT INTO " + table + " AS s (customer_id, currency, " + column + ", " + position_column + ")"
                " SELECT c, k, v::" + type + ", p FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(c, k, v, p)"
                " ON CONFLICT (customer_id, currency) DO UPDATE SET " + column + " = EXCLUDED." + column + ", " +
                position_column + " = EXCLUDED." + position_column + " WHERE s." + position_column + " < EXCLUDED." +
                position_column,
            {sql::text_array(customers), sql::text_array(currencies), sql::text_array(values), sql::int_array(positions)});
}

class LoyaltyProjection final : public Projection {
public:
    std::string name() const override { return "loyalty"; }
    std::vector<std::string> tables() const override {
        return {"loyalty_standings", "loyalty_holds", "loyalty_history"};
    }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        Latest spend, tier;  // the batch's latest spend and tier per customer and currency
        std::map<Key, std::optional<std::pair<std::string, int64_t>>> holds;  // -> open (order, position), or released
        Columns history;
        for (const auto& e : events) {
            if (e.type() == events::kSpendRecorded) {
                v1::SpendRecorded s;
                if (!s.ParseFromString(e.payload())) continue;
                auto& slot = spend[{s.customer_id(), s.currency()}];
                if (e.position() > slot.second) slot = {std::to_string(s.spend_after_minor()), e.position()};
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
        set_latest(tx, t.at("loyalty_standings"), "spend_minor", "bigint", "spend_position", spend);
        set_latest(tx, t.at("loyalty_standings"), "tier", "text", "tier_position", tier);
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
