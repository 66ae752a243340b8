#include "http/api.h"

#include "http/call.h"

#include "commands/credit.h"
#include "domain/ids.h"
#include "http/json_input.h"
#include "infra/journal.h"

using nlohmann::json;

namespace tally::http {
namespace {

// {"amount_minor": positive, "currency": ISO 4217, "reason": 1-500 bytes}; nothing: answered.
std::optional<std::pair<Money, std::string>> money_with_reason(Call& c) {
    ObjectReader in(c.req.body);
    auto amount = in.int64("amount_minor");
    auto currency_code = in.string("currency", 3, 3);
    auto reason = in.string("reason", 1, 500);
    if (auto err = in.finish()) {
        c.fail(err->status, err->code, err->detail, err->field);
        return std::nullopt;
    }
    if (*amount <= 0) {
        c.fail(422, "amount_must_be_positive", "amount_minor must be greater than zero", "amount_minor");
        return std::nullopt;
    }
    auto currency = Currency::parse(*currency_code);
    if (!currency) {
        c.fail(422, "unknown_currency", *currency_code + " is not a supported ISO 4217 currency", "currency");
        return std::nullopt;
    }
    return std::pair{Money{*amount, *currency}, *reason};
}

}  // namespace

// POST /v1/customers/{id}/credit-grants  (admin)
bool Api::grant_credit(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    auto body = money_with_reason(c);
    if (!body) return true;
    credit::GrantCredit cmd{"", parts[2], body->first, body->second, c.claims.sub};
    return c.submit(commands::grant_credit(std::move(cmd)), *key);
}

// GET /v1/customers/{id}/credit  (admin, auditor, employee with credit.view, the customer)
bool Api::get_credit(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    const auto& query = c.query;
    if (!c.customer_read(parts[2], "credit", "credit")) return true;
    auto limit = parse_count(query, "limit", 50, 500);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..500", "limit");
    json body = {{"customer_id", parts[2]}, {"currency", nullptr}, {"balance_minor", 0}, {"entries", json::array()}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto b = tx.exec("SELECT currency, balance_minor, entries_count, last_position FROM credit_balances"
                         " WHERE customer_id = $1", {parts[2]});
        if (!b.empty()) {
            body["currency"] = b[0].str(0);
            body["balance_minor"] = b[0].i64(1);
            body["entries_count"] = b[0].i64(2);
            body["as_of_position"] = b[0].i64(3);
        }
        for (const auto& e : tx.exec("SELECT position, event_id, kind, amount_minor, currency, balance_after_minor,"
                                     " reason, actor, occurred_at_unix_ms FROM credit_entries"
                                     " WHERE customer_id = $1 ORDER BY position DESC LIMIT $2",
                                     {parts[2], std::to_string(*limit)}))
            body["entries"].push_back({{"position", e.i64(0)}, {"event_id", e.str(1)}, {"kind", e.str(2)},
                                       {"amount_minor", e.i64(3)}, {"currency", e.str(4)},
                                       {"balance_after_minor", e.i64(5)}, {"reason", e.str(6)},
                                       {"actor", e.str(7)}, {"occurred_at_unix_ms", e.i64(8)}});
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply(json_response(200, body));
}

// POST /v1/customers/{id}/credit-reversals {amount_minor, currency, reason}: a claw-back,
// never below zero, posted on the ledger.
bool Api::reverse_credit(Call& c) {
    const std::string& customer = c.parts[2];
    if (!valid_id(customer)) return c.fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    auto body = money_with_reason(c);
    if (!body) return true;
    return c.submit(commands::reverse_credit({customer, body->first, body->second, c.claims.sub}), *key);
}

// PUT /v1/credit/policy {grant_max_minor, balance_max_minor, reason}: the caps, as an event.
bool Api::put_credit_policy(Call& c) {
    auto key = c.idempotency_key();
    if (!key) return true;
    ObjectReader in(c.req.body);
    auto grant_max = in.int64("grant_max_minor");
    auto balance_max = in.int64("balance_max_minor");
    auto reason = in.string("reason", 1, 500);
    if (auto err = in.finish()) return c.fail(err->status, err->code, err->detail, err->field);
    if (auto bad = credit::check_policy(*grant_max, *balance_max)) return c.fail(422, "invalid_value", *bad, "grant_max_minor");
    return c.submit(commands::set_credit_policy(*grant_max, *balance_max, *reason), *key);
}

// GET /v1/credit/policy: the caps in force (version 0: the defaults).
bool Api::get_credit_policy(Call& c) {
    credit::CreditPolicy policy;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        policy = credit::policy_of(journal::read_state(tx, std::string(credit::kPolicyStream)).value_or(std::string()));
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, {{"grant_max_minor", policy.grant_max_minor},
                              {"balance_max_minor", policy.balance_max_minor},
                              {"version", policy.version}});
}

}  // namespace tally::http
