#include "http/api.h"

#include "infra/journal.h"
#include "http/call.h"

#include "commands/loyalty.h"
#include "domain/ids.h"
#include "domain/loyalty.h"
#include "http/json_input.h"
#include "tally/v1/loyalty.pb.h"

using nlohmann::json;

namespace tally::http {
namespace {

json program_json(const commands::ProgramState& p) {
    json currencies = json::array();
    for (const auto& cp : p.program.currencies()) {
        json tiers = json::array();
        for (const auto& t : cp.tiers())
            tiers.push_back({{"name", t.name()}, {"threshold_minor", t.threshold_minor()}, {"discount_bps", t.discount_bps()}});
        currencies.push_back({{"currency", cp.currency()}, {"tiers", tiers}});
    }
    return {{"version", p.version}, {"currencies", currencies}};
}

commands::ProgramState read_program(sql::Tx& tx) {
    return commands::program_of(journal::read_state(tx, std::string(loyalty::kProgramStream)).value_or(std::string()));
}

// A keyset cursor: the last item's key as this API returned it.
std::optional<std::string> cursor_of(const std::map<std::string, std::string>& q) {
    auto it = q.find("cursor");
    if (it == q.end()) return std::string();
    if (!valid_id(it->second)) return std::nullopt;
    return it->second;
}

}  // namespace

// PUT /v1/loyalty/program: a new version of the program.
bool Api::put_loyalty_program(Call& c) {
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::LoyaltyProgram program;
    if (!c.parse_message(program)) return true;
    return c.submit(commands::define_loyalty_program(std::move(program)), *key);
}

// GET /v1/loyalty/program
bool Api::get_loyalty_program(Call& c) {
    commands::ProgramState program;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { program = read_program(tx); });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, program_json(program));
}

// GET /v1/customers/{id}/loyalty  (the customer; admin; employee with customers.view; auditor)
bool Api::customer_loyalty(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    const auto& query = c.query;
    if (!c.customer_read(parts[2], "customers", "loyalty")) return true;
    auto limit = parse_count(query, "limit", 20, 200);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..200", "limit");
    int64_t before = INT64_MAX;
    if (auto cur = query.find("cursor"); cur != query.end()) {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(cur->second.c_str(), &end, 10);
        if (cur->second.empty() || *end != '\0' || errno != 0 || v <= 0)
            return c.fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
        before = v;
    }
    json body = {{"customer_id", parts[2]}, {"currencies", json::array()}, {"hold", {{"open", false}, {"disputes", json::array()}}},
                 {"history", json::array()}, {"next_cursor", nullptr}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        const auto program = read_program(tx);
        body["program_version"] = program.version;
        for (const auto& s : tx.exec("SELECT currency, spend_minor, tier FROM loyalty_standings WHERE customer_id = $1"
                                     " ORDER BY currency", {parts[2]})) {
            json standing = {{"currency", s.str(0)}, {"spend_minor", s.i64(1)}, {"tier", s.str(2)},
                             {"discount_bps", 0}, {"next_tier", nullptr}, {"to_next_tier_minor", nullptr}};
            if (const auto* cp = program.version > 0 ? loyalty::program_for(program.program, s.str(0)) : nullptr) {
                standing["discount_bps"] = loyalty::discount_for(*cp, s.str(2));
                for (int i = 0; i + 1 < cp->tiers_size(); ++i)
                    if (cp->tiers(i).name() == s.str(2)) {
                        const auto& next = cp->tiers(i + 1);
                        standing["next_tier"] = next.name();
                        standing["to_next_tier_minor"] = std::max<int64_t>(0, next.threshold_minor() - s.i64(1));
                    }
            }
            body["currencies"].push_back(standing);
        }
        for (const auto& h : tx.exec("SELECT dispute_id, order_id FROM loyalty_holds WHERE customer_id = $1"
                                     " ORDER BY opened_position", {parts[2]})) {
            body["hold"]["open"] = true;
            body["hold"]["disputes"].push_back({{"dispute_id", h.str(0)}, {"order_id", h.str(1)}});
        }
        auto rows = tx.exec("SELECT position, currency, from_tier, to_tier, reason, spend_minor, program_version,"
                            " occurred_at_unix_ms FROM loyalty_history WHERE customer_id = $1 AND position < $2"
                            " ORDER BY position DESC LIMIT $3",
                            {parts[2], std::to_string(before), std::to_string(*limit + 1)});
        for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < *limit; ++i) {
            const auto& h = rows[i];
            body["history"].push_back({{"position", h.i64(0)}, {"currency", h.str(1)}, {"from_tier", h.str(2)},
                                       {"to_tier", h.str(3)}, {"reason", h.str(4)}, {"spend_minor", h.i64(5)},
                                       {"program_version", h.i64(6)}, {"occurred_at_unix_ms", h.i64(7)}});
        }
        if (static_cast<int64_t>(rows.size()) > *limit && *limit > 0)
            body["next_cursor"] = std::to_string(rows[static_cast<size_t>(*limit - 1)].i64(0));
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/loyalty/customers?currency=&tier=&limit=&cursor=  (admin; employee with customers.view; auditor)
bool Api::loyalty_customers(Call& c) {
    const auto& query = c.query;
    auto currency = query.find("currency");
    if (currency == query.end() || !Currency::parse(currency->second))
        return c.fail(400, "invalid_query", "currency (ISO 4217) is required", "currency");
    std::string tier;
    if (auto t = query.find("tier"); t != query.end()) {
        tier = t->second;
        if (std::find(loyalty::kTiers.begin(), loyalty::kTiers.end(), tier) == loyalty::kTiers.end())
            return c.fail(400, "invalid_query", "tier is one of bronze, silver, gold, platinum, diamond, elite", "tier");
    }
    auto limit = parse_count(query, "limit", 50, 500);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..500", "limit");
    auto after = cursor_of(query);
    if (!after) return c.fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
    json body = {{"currency", currency->second}, {"tier", tier.empty() ? json(nullptr) : json(tier)},
                 {"customers", json::array()}, {"next_cursor", nullptr}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tier.empty()
                        ? tx.exec("SELECT customer_id, tier, spend_minor FROM loyalty_standings WHERE currency = $1"
                                  " AND customer_id > $2 ORDER BY customer_id LIMIT $3",
                                  {currency->second, *after, std::to_string(*limit + 1)})
                        : tx.exec("SELECT customer_id, tier, spend_minor FROM loyalty_standings WHERE currency = $1"
                                  " AND tier = $2 AND customer_id > $3 ORDER BY customer_id LIMIT $4",
                                  {currency->second, tier, *after, std::to_string(*limit + 1)});
        for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < *limit; ++i)
            body["customers"].push_back(
                {{"customer_id", rows[i].str(0)}, {"tier", rows[i].str(1)}, {"spend_minor", rows[i].i64(2)}});
        if (static_cast<int64_t>(rows.size()) > *limit && *limit > 0)
            body["next_cursor"] = rows[static_cast<size_t>(*limit - 1)].str(0);
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/customers/{id}/passport  (the customer; admin; employee with customers.view; auditor)
bool Api::customer_passport(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!c.customer_read(parts[2], "customers", "passport")) return true;
    json body = {{"customer_id", parts[2]}, {"countries", 0}, {"continents", 0}, {"badges", json::array()},
                 {"stamps", json::array()}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        for (const auto& s : tx.exec("SELECT country, continent, first_purchase_unix_ms, (SELECT coalesce(json_agg(order_id"
                                     " ORDER BY order_id COLLATE \"C\"), '[]') FROM passport_stamp_orders o"
                                     " WHERE o.customer_id = s.customer_id AND o.country = s.country)::text, units,"
                                     " (SELECT coalesce(json_agg(sku ORDER BY sku COLLATE \"C\"), '[]')"
                                     " FROM passport_stamp_products p WHERE p.customer_id = s.customer_id"
                                     " AND p.country = s.country)::text FROM passport_stamps s WHERE customer_id = $1"
                                     " ORDER BY first_purchase_unix_ms, country", {parts[2]}))
            body["stamps"].push_back({{"country", s.str(0)}, {"continent", s.str(1)},
                                      {"first_purchase_unix_ms", s.i64(2)}, {"orders", json::parse(s.str(3))},
                                      {"units", s.i64(4)}, {"products", json::parse(s.str(5))}});
        auto n = tx.exec("SELECT countries, continents, array_to_json(badges)::text FROM passport_counts WHERE customer_id = $1",
                         {parts[2]});
        if (!n.empty()) {
            body["countries"] = n[0].i64(0);
            body["continents"] = n[0].i64(1);
            body["badges"] = json::parse(n[0].str(2));
        }
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/passport/leaderboard?limit=  (any authenticated principal): names only who opted in.
bool Api::passport_leaderboard(Call& c) {
    const auto& query = c.query;
    auto limit = parse_count(query, "limit", 10, 100);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..100", "limit");
    json body = {{"entries", json::array()}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        // Ranked by countries; equal counts share a rank (1, 1, 3, ...).
        for (const auto& e : tx.exec("SELECT rank() OVER (ORDER BY n.countries DESC), n.countries, n.continents,"
                                     " CASE WHEN p.leaderboard_opt_in AND p.display_name <> '' THEN p.display_name END"
                                     " FROM passport_counts n LEFT JOIN passport_profiles p USING (customer_id)"
                                     " WHERE n.countries > 0 ORDER BY n.countries DESC, n.customer_id LIMIT $1",
                                     {std::to_string(*limit)}))
            body["entries"].push_back({{"rank", e.i64(0)}, {"countries", e.i64(1)}, {"continents", e.i64(2)},
                                       {"display_name", e.is_null(3) ? json(nullptr) : json(e.str(3))}});
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

}  // namespace tally::http
