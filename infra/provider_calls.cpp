#include "infra/provider_calls.h"

namespace tally::provider_calls {
namespace {

bool record(sql::Tx& tx, const std::string& set, const Claimed& c, std::vector<sql::Param> params) {
    params.insert(params.begin(), {std::to_string(c.id), std::to_string(c.claim)});
    return !tx.exec("UPDATE provider_calls SET " + set + ", updated_at = now() WHERE id = $1 AND claim = $2" +
                        " AND status = 'pending' RETURNING id",
                    params)
                .empty();
}

std::string clip(const std::string& note) { return note.substr(0, 1000); }

}  // namespace

std::optional<Claimed> claim_next(sql::Tx& tx, int64_t lease_ms, const std::vector<std::string>& kinds) {
    auto rows = tx.exec(
        "UPDATE provider_calls SET attempts = attempts + 1, claim = claim + 1, updated_at = now(),"
        " due_at = now() + make_interval(secs => $1::bigint / 1000.0)"
        " WHERE id = (SELECT id FROM provider_calls WHERE status = 'pending' AND due_at <= now()"
        " AND (cardinality($2::text[]) = 0 OR kind = ANY($2::text[]))"
        " ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, key, kind, order_id, vendor_id, amount_minor, currency, attempts, claim, affiliate_id",
        {std::to_string(lease_ms), sql::text_array(kinds)});
    if (rows.empty()) return std::nullopt;
    const auto& r = rows.front();
    return Claimed{r.i64(0), r.str(1), r.str(2), r.str(3),           r.str(4), r.str(6),
                   r.i64(5), static_cast<int>(r.i64(7)), r.i64(8), r.str(9)};
}

bool record_done(sql::Tx& tx, const Claimed& c, const std::string& note, const std::string& object_id,
                 const std::string& client_secret) {
    return record(tx, "status = 'done', last_error = $3, object_id = $4, client_secret = $5", c,
                  {clip(note), object_id, client_secret});
}

bool record_wait(sql::Tx& tx, const Claimed& c, const std::string& note, int64_t delay_ms) {
    return record(tx, "attempts = attempts - 1, last_error = $3, due_at = now() + make_interval(secs => $4::bigint / 1000.0)",
                  c, {clip(note), std::to_string(delay_ms)});
}

bool record_retry(sql::Tx& tx, const Claimed& c, const std::string& note, int64_t delay_ms) {
    return record(tx, "last_error = $3, due_at = now() + make_interval(secs => $4::bigint / 1000.0)", c,
                  {clip(note), std::to_string(delay_ms)});
}

bool record_dead(sql::Tx& tx, const Claimed& c, const std::string& note) {
    return record(tx, "status = 'dead', last_error = $3", c, {clip(note)});
}

Counts counts(sql::Tx& tx) {
    auto row = tx.exec("SELECT (SELECT count(*) FROM provider_calls WHERE status = 'dead'),"
                       " (SELECT count(*) FROM provider_calls WHERE status = 'pending' AND due_at <= now())");
    return {row.at(0).i64(0), row.at(0).i64(1)};
}

std::optional<IntentCall> payment_intent_of(sql::Tx& tx, const std::string& order_id) {
    auto rows = tx.exec("SELECT status, object_id, client_secret, last_error FROM provider_calls"
                        " WHERE order_id = $1 AND kind = 'payment_intent'",
                        {order_id});
    if (rows.empty()) return std::nullopt;
    const auto& r = rows.front();
    return IntentCall{r.str(0), r.str(1), r.str(2), r.str(3)};
}

std::optional<std::string> order_of_intent(sql::Tx& tx, const std::string& intent_id) {
    auto rows = tx.exec("SELECT order_id FROM provider_calls WHERE object_id = $1 AND kind = 'payment_intent'", {intent_id});
    if (rows.empty()) return std::nullopt;
    return rows.front().str(0);
}

bool intent_creation_unresolved(sql::Tx& tx) {
    return !tx.exec("SELECT 1 FROM provider_calls WHERE kind = 'payment_intent' AND object_id = ''"
                    " AND (status = 'pending' OR (status = 'dead' AND updated_at > now() - interval '72 hours')) LIMIT 1")
                .empty();
}

std::vector<DeadLetter> dead_letters(sql::Tx& tx, int64_t limit) {
    std::vector<DeadLetter> out;
    for (const auto& r : tx.exec("SELECT id, key, kind, order_id, vendor_id, amount_minor, currency, attempts, last_error,"
                                 " source_position, operator_retries, retried_by,"
                                 " (extract(epoch FROM updated_at) * 1000)::bigint, affiliate_id"
                                 " FROM provider_calls WHERE status = 'dead' ORDER BY updated_at DESC, id DESC LIMIT $1",
                                 {std::to_string(limit)}))
        out.push_back({r.i64(0), r.str(1), r.str(2), r.str(3), r.str(4), r.i64(5), r.str(6), r.i64(7), r.str(8), r.i64(9),
                       r.i64(10), r.str(11), r.i64(12), r.str(13)});
    return out;
}

std::optional<CallHead> find(sql::Tx& tx, int64_t id) {
    auto rows = tx.exec("SELECT status, key, kind, last_error, operator_retries FROM provider_calls WHERE id = $1",
                        {std::to_string(id)});
    if (rows.empty()) return std::nullopt;
    const auto& r = rows.front();
    return CallHead{r.str(0), r.str(1), r.str(2), r.str(3), r.i64(4)};
}

}  // namespace tally::provider_calls
