#include "projectors/loyalty_projection.h"

#include <map>
#include <optional>
#include <utility>

#include "events/registry.h"
#include "tally/v1/loyalty.pb.h"

namespace tally::projectors {
namespace {

// Rows of loyalty_history, column by column (bound as arrays).
struct HistoryRows {
    std::vector<std::string> customers, event_ids, currencies, from_tiers, to_tiers, reasons;
    std::vector<int64_t> positions, spends, program_versions, occurred;
};

// Rows of loyalty_holds (released ones need only the first two).
struct HoldRows {
    std::vector<std::string> customers, disputes, orders;
    std::vector<int64_t> positions;
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
        HistoryRows history;
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
                history.customers.push_back(c.customer_id());
                history.event_ids.push_back(e.event_id());
                history.currencies.push_back(c.currency());
                history.from_tiers.push_back(c.from_tier());
                history.to_tiers.push_back(c.to_tier());
                history.reasons.push_back(c.reason());
                history.positions.push_back(e.position());
                history.spends.push_back(c.spend_minor());
                history.program_versions.push_back(c.program_version());
                history.occurred.push_back(e.occurred_at_unix_ms());
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
            HoldRows open, released;
            for (const auto& [k, v] : holds) {
                auto& rows = v ? open : released;
                rows.customers.push_back(k.first);
                rows.disputes.push_back(k.second);
                if (v) {
                    open.orders.push_back(v->first);
                    open.positions.push_back(v->second);
                }
            }
            const std::string& h = t.at("loyalty_holds");
            if (!open.customers.empty())
                tx.exec("INSERT INTO " + h + " (customer_id, dispute_id, order_id, opened_position)"
                            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                            " ON CONFLICT DO NOTHING",
                        {sql::text_array(open.customers), sql::text_array(open.disputes), sql::text_array(open.orders),
                         sql::int_array(open.positions)});
            if (!released.customers.empty())
                tx.exec("DELETE FROM " + h + " h USING unnest($1::text[], $2::text[]) AS r(customer_id, dispute_id)"
                            " WHERE h.customer_id = r.customer_id AND h.dispute_id = r.dispute_id AND h.customer_id = ANY($1::text[])",
                        {sql::text_array(released.customers), sql::text_array(released.disputes)});
        }
        if (!history.customers.empty())
            tx.exec("INSERT INTO " + t.at("loyalty_history") +
                        " (customer_id, event_id, currency, from_tier, to_tier, reason, position, spend_minor,"
                        " program_version, occurred_at_unix_ms)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
                        " $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])"
                        " ON CONFLICT DO NOTHING",
                    {sql::text_array(history.customers), sql::text_array(history.event_ids),
                     sql::text_array(history.currencies), sql::text_array(history.from_tiers),
                     sql::text_array(history.to_tiers), sql::text_array(history.reasons),
                     sql::int_array(history.positions), sql::int_array(history.spends),
                     sql::int_array(history.program_versions), sql::int_array(history.occurred)});
    }
};

}  // namespace

std::unique_ptr<Projection> loyalty_projection() { return std::make_unique<LoyaltyProjection>(); }

}  // namespace tally::projectors
