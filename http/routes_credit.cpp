#include "http/api.h"

#include "http/call.h"

#include "commands/credit.h"
#include "domain/ids.h"
#include "http/json_input.h"

using nlohmann::json;

namespace tally::http {

// POST /v1/customers/{id}/credit-grants  (admin)
bool Api::grant_credit(Call& c) {
    const Request& req = c.req;
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    ObjectReader in(req.body);
    auto amount = in.int64("amount_minor");
    auto currency_code = in.string("currency", 3, 3);
    auto reason = in.string("reason", 1, 500);
    if (auto err = in.finish()) return c.fail(err->status, err->code, err->detail, err->field);
    if (*amount <= 0) return c.fail(422, "amount_must_be_positive", "amount_minor must be greater than zero", "amount_minor");
    auto currency = Currency::parse(*currency_code);
    if (!currency) return c.fail(422, "unknown_currency", *currency_code + " is not a supported ISO 4217 currency", "currency");

    credit::GrantCredit cmd{"", parts[2], Money{*amount, *currency}, *reason, c.claims.sub};
    return c.submit(commands::grant_credit(std::move(cmd), deps_.credit_policy), *key);
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

}  // namespace tally::http
