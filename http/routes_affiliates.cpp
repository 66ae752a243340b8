#include "http/api.h"

#include "http/call.h"

#include <cerrno>
#include <cstdlib>

#include "commands/affiliate.h"
#include "commands/affiliate_payout.h"
#include "domain/affiliate.h"
#include "domain/affiliate_payout.h"
#include "domain/ids.h"
#include "domain/ledger.h"
#include "http/json_input.h"
#include "infra/metrics.h"
#include "tally/v1/affiliate.pb.h"

using nlohmann::json;

namespace tally::http {
namespace {

constexpr int64_t kCookieLifetimeS = 30 * 24 * 3600;

json schedule_json(const v1::AffiliatePayoutSchedule& s) {
    json t = json::object();
    for (const auto& [code, minor] : s.thresholds_minor()) t[code] = minor;
    return {{"weekday", s.weekday()}, {"hour_utc", s.hour_utc()}, {"thresholds_minor", t},
            {"holding_days", s.holding_days()}, {"version", s.version()}};
}

// Who reads an affiliate's definition, balance and conversions: the affiliate itself,
// admins, auditors and employees with affiliates.view. A customer never does, even one
// with the affiliate's id (one login holds one role).
bool reads_affiliate(const Caller& caller, const std::string& affiliate_id) {
    const auto& p = caller.principal;
    return p.role == "admin" || p.role == "auditor" ||
           (p.role == "employee" && commands::has_permission(p.permissions, "affiliates", "view")) ||
           (p.role == "affiliate" && p.id == affiliate_id);
}

json definition_json(const v1::AffiliateDefinition& d) {
    json codes = json::array();
    for (const auto& c : d.referral_codes()) codes.push_back(c);
    return {{"affiliate_id", d.affiliate_id()}, {"status", d.status()}, {"currency", d.currency()},
            {"commission_bps", d.commission_bps()}, {"stripe_account", d.stripe_account()},
            {"paypal_email", d.paypal_email()}, {"referral_codes", codes}};
}

std::optional<int64_t> position_cursor(const std::map<std::string, std::string>& q) {
    auto it = q.find("cursor");
    if (it == q.end()) return INT64_MAX;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0' || errno != 0 || v <= 0) return std::nullopt;
    return v;
}

// The path's affiliate id is valid and the fresh caller may read it; false: answered.
bool readable_affiliate(Call& c, const std::string& id) {
    if (!valid_id(id)) {
        c.fail(400, "invalid_path", "affiliate id must be 1-64 of [A-Za-z0-9._-]", "affiliate_id");
        return false;
    }
    auto caller = c.fresh_caller();
    if (!caller) return false;
    if (!reads_affiliate(*caller, id)) {
        c.fail(403, "forbidden", "you may not read affiliate " + id);
        return false;
    }
    return true;
}

}  // namespace

std::optional<affiliate::CookieClaim> Api::referral_cookie(const std::string& cookie) const {
    if (cookie.empty()) return std::nullopt;
    auto claims = deps_.referral_keys->verify_referral(cookie, deps_.clock_ms() / 1000);
    if (!claims || !valid_id(claims->affiliate_id)) {
        metrics::global()
            .counter("tally_referral_cookies_ignored_total",
                     "reason=\"" + (claims ? std::string("malformed") : claims.error()) + "\"")
            .add();
        return std::nullopt;
    }
    return affiliate::CookieClaim{claims->affiliate_id, claims->expires_at};
}

// POST /v1/referrals/visits {"ref": code}: a visitor arrived by an affiliate's link. The
// answer is the signed referral cookie; with a customer's token the visit is recorded on
// their profile too (Idempotency-Key then). A token is optional; a bad one is refused.
bool Api::referral_visit(Call& c) {
    const bool signed_in = !c.claims.sub.empty();  // the dispatcher verified a token given
    ObjectReader in(c.req.body);
    auto ref = in.string("ref", 1, 64);
    if (auto err = in.finish()) return c.fail(err->status, err->code, err->detail, err->field);
    if (!affiliate::valid_code(*ref)) return c.fail(404, "unknown_referral_code", "no referral code " + *ref, "ref");
    const std::string code = affiliate::normal_code(*ref);
    std::string affiliate_id;
    bool active = false;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto states = journal::read_states(tx, {affiliate::code_stream(code)});
        v1::ReferralCodeState held;
        if (states.empty() || !held.ParseFromString(states.begin()->second) || held.affiliate_id().empty()) return;
        affiliate_id = held.affiliate_id();
        auto defs = journal::read_states(tx, {affiliate::stream_id(affiliate_id)});
        v1::AffiliateDefinition def;
        active = !defs.empty() && def.ParseFromString(defs.begin()->second) && def.status() == affiliate::kActive;
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!active) return c.fail(404, "unknown_referral_code", "no active referral code " + code, "ref");
    const int64_t now_s = deps_.clock_ms() / 1000;
    const KeyRing* ring = deps_.referral_keys;
    auto sign = [ring, now_s](const std::string& id) {
        const ReferralClaims claims{id, now_s, now_s + kCookieLifetimeS};
        return json{{"cookie", ring->mint_referral(claims)}, {"affiliate_id", id}, {"issued_at", claims.issued_at},
                    {"expires_at", claims.expires_at}};
    };
    if (!signed_in || c.claims.role != "customer") {
        json out = sign(affiliate_id);
        out["recorded"] = false;
        return c.reply_json(200, out);
    }
    auto key = c.idempotency_key();
    if (!key) return true;
    return c.submit(commands::record_referral_visit({c.claims.sub, code, affiliate_id, sign}), *key);
}

// GET /v1/affiliates?limit=&cursor=
bool Api::list_affiliates(Call& c) {
    auto page = c.id_page();
    if (!page) return true;
    json body;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT affiliate_id, status, currency, commission_bps, rail, array_to_json(referral_codes)::text"
                            " FROM affiliates"
                            " WHERE affiliate_id > $1 ORDER BY affiliate_id LIMIT $2",
                            {page->after, std::to_string(page->limit + 1)});
        body = keyset_page("affiliates", rows, page->limit, [](const sql::Row& a) {
            return json{{"affiliate_id", a.str(0)}, {"status", a.str(1)}, {"currency", a.str(2)},
                        {"commission_bps", a.i64(3)}, {"rail", a.str(4)}, {"referral_codes", json::parse(a.str(5))}};
        });
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// PUT /v1/affiliates/{id}: the whole definition.
bool Api::put_affiliate(Call& c) {
    const std::string& id = c.parts[2];
    if (!valid_id(id)) return c.fail(400, "invalid_path", "affiliate id must be 1-64 of [A-Za-z0-9._-]", "affiliate_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::AffiliateDefinition def;
    if (!c.parse_message(def)) return true;
    if (!def.affiliate_id().empty() && def.affiliate_id() != id)
        return c.fail(422, "invalid_value", "affiliate_id in the body must match the path", "affiliate_id");
    def.set_affiliate_id(id);
    std::vector<std::string> held;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto states = journal::read_states(tx, {affiliate::stream_id(id)});
        v1::AffiliateDefinition before;
        if (!states.empty() && before.ParseFromString(states.begin()->second))
            held.assign(before.referral_codes().begin(), before.referral_codes().end());
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.submit(commands::define_affiliate(std::move(def), std::move(held)), *key);
}

// GET /v1/affiliates/{id}
bool Api::get_affiliate(Call& c) {
    const std::string& id = c.parts[2];
    if (!readable_affiliate(c, id)) return true;
    std::optional<v1::AffiliateDefinition> def;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto states = journal::read_states(tx, {affiliate::stream_id(id)});
        v1::AffiliateDefinition d;
        if (!states.empty() && d.ParseFromString(states.begin()->second)) def = d;
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!def) return c.fail(404, "not_found", "no affiliate " + id);
    return c.reply_json(200, definition_json(*def));
}

// GET /v1/affiliates/{id}/balance: the payable as the ledger has it, and what the
// conversions earned and gave back.
bool Api::affiliate_balance(Call& c) {
    const std::string& id = c.parts[2];
    if (!readable_affiliate(c, id)) return true;
    json body;
    bool known = false;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto a = tx.exec("SELECT currency FROM affiliates WHERE affiliate_id = $1", {id});
        if (a.empty()) return;
        known = true;
        body = {{"affiliate_id", id}, {"currency", a.front().str(0)}, {"payable_minor", 0}, {"earned_minor", 0},
                {"reversed_minor", 0}, {"held_minor", 0}, {"conversions", 0}, {"paid_out_minor", 0},
                {"in_payout_minor", 0}};
        for (const auto& row : tx.exec("SELECT credit_minor - debit_minor FROM ledger_accounts"
                                       " WHERE account = $1 AND currency = $2",
                                       {ledger::affiliate_payable(id), a.front().str(0)}))
            body["payable_minor"] = row.i64(0);  // a liability: what was credited and not yet debited
        for (const auto& row : tx.exec("SELECT count(*), coalesce(sum(commission_minor), 0)::bigint,"
                                       " coalesce(sum(reversed_minor), 0)::bigint,"
                                       " coalesce(sum(commission_minor - reversed_minor) FILTER (WHERE open_disputes > 0), 0)::bigint"
                                       " FROM affiliate_conversions WHERE affiliate_id = $1",
                                       {id})) {
            body["conversions"] = row.i64(0);
            body["earned_minor"] = row.i64(1);
            body["reversed_minor"] = row.i64(2);
            body["held_minor"] = row.i64(3);  // on orders with a dispute open: not payable until it closes
        }
        for (const auto& row : tx.exec("SELECT coalesce(sum(amount_minor) FILTER (WHERE status = 'paid'), 0)::bigint,"
                                       " coalesce(sum(amount_minor) FILTER (WHERE status = 'requested'), 0)::bigint"
                                       " FROM affiliate_payouts WHERE affiliate_id = $1",
                                       {id})) {
            body["paid_out_minor"] = row.i64(0);   // settled by the provider (the payable went down by it)
            body["in_payout_minor"] = row.i64(1);  // requested, not settled yet (still in the payable)
        }
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!known) return c.fail(404, "not_found", "no affiliate " + id);
    return c.reply_json(200, body);
}

// GET /v1/affiliates/{id}/payouts?limit=  (newest first)
bool Api::affiliate_payouts(Call& c) {
    const auto& query = c.query;
    const std::string& id = c.parts[2];
    if (!readable_affiliate(c, id)) return true;
    auto limit = parse_count(query, "limit", 50, 500);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..500", "limit");
    json body = {{"affiliate_id", id}, {"payouts", json::array()}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        for (const auto& v : tx.exec("SELECT payout_id, payout_date, currency, amount_minor, returned_minor, rail, status,"
                                     " object_id, orders, requested_unix_ms FROM affiliate_payouts WHERE affiliate_id = $1"
                                     " ORDER BY payout_date DESC LIMIT $2",
                                     {id, std::to_string(*limit)}))
            body["payouts"].push_back({{"payout_id", v.str(0)}, {"date", v.str(1)}, {"currency", v.str(2)},
                                       {"amount_minor", v.i64(3)}, {"returned_minor", v.i64(4)}, {"rail", v.str(5)},
                                       {"status", v.str(6)}, {"provider_object_id", v.str(7)}, {"orders", v.i64(8)},
                                       {"requested_unix_ms", v.i64(9)}});
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/affiliates/{id}/conversions?limit=&cursor=  (newest first)
bool Api::affiliate_conversions(Call& c) {
    const auto& query = c.query;
    const std::string& id = c.parts[2];
    if (!readable_affiliate(c, id)) return true;
    auto limit = parse_count(query, "limit", 50, 500);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..500", "limit");
    auto before = position_cursor(query);
    if (!before) return c.fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
    json body = {{"affiliate_id", id}, {"conversions", json::array()}, {"next_cursor", nullptr}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT order_id, customer_id, currency, base_minor, commission_minor, reversed_minor,"
                            " recorded_unix_ms, position, open_disputes > 0, paid_minor FROM affiliate_conversions"
                            " WHERE affiliate_id = $1 AND position < $2"
                            " ORDER BY position DESC LIMIT $3",
                            {id, std::to_string(*before), std::to_string(*limit + 1)});
        for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < *limit; ++i) {
            const auto& v = rows[i];
            body["conversions"].push_back({{"order_id", v.str(0)}, {"customer_id", v.str(1)}, {"currency", v.str(2)},
                                           {"base_minor", v.i64(3)}, {"commission_minor", v.i64(4)},
                                           {"reversed_minor", v.i64(5)}, {"recorded_unix_ms", v.i64(6)},
                                           {"position", v.i64(7)}, {"held", v.boolean(8)}, {"paid_out_minor", v.i64(9)}});
        }
        if (static_cast<int64_t>(rows.size()) > *limit && *limit > 0)
            body["next_cursor"] = std::to_string(rows[static_cast<size_t>(*limit - 1)].i64(7));
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// PUT /v1/affiliates/payout-schedule: the weekday, hour (UTC), thresholds per currency and
// holding period of affiliate payouts.
bool Api::put_payout_schedule(Call& c) {
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::AffiliatePayoutSchedule s;
    if (!c.parse_message(s)) return true;
    if (!s.has_holding_days()) s.set_holding_days(affiliate::kHoldingDaysDefault);
    if (s.version() != 0) return c.fail(400, "unknown_field", "version is the server's to keep", "version");
    return c.submit(commands::set_payout_schedule(std::move(s)), *key);
}

// GET /v1/affiliates/payout-schedule
bool Api::get_payout_schedule(Call& c) {
    std::optional<v1::AffiliatePayoutSchedule> s;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto states = journal::read_states(tx, {std::string(affiliate::kScheduleStream)});
        if (!states.empty()) s = commands::parse_state<v1::AffiliatePayoutSchedule>(states.begin()->second);
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!s) return c.fail(404, "not_found", "no payout schedule is set: affiliates are not paid out");
    return c.reply_json(200, schedule_json(*s));
}

}  // namespace tally::http
