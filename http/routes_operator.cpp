#include "http/api.h"

#include "http/call.h"

#include <spdlog/spdlog.h>

#include <map>

#include "commands/operator_acts.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "http/console.h"
#include "infra/journal.h"

using nlohmann::json;

namespace tally::http {

// GET /console and /console/{file}: the operator console's static files. Open (they hold
// no data), under a policy that lets the page load only its own files and talk only to
// this server; revalidated by ETag, so a new tallyd's console is picked up at once.
bool Api::console(Call& c) {
    const std::string name = c.parts.size() == 1 ? "index.html" : c.parts[1];
    for (const auto& f : console_files()) {
        if (f.name != name) continue;
        const std::string type = name.ends_with(".html")  ? "text/html; charset=utf-8"
                                 : name.ends_with(".css") ? "text/css; charset=utf-8"
                                 : name.ends_with(".js")  ? "text/javascript; charset=utf-8"
                                                          : "application/octet-stream";
        std::vector<std::pair<std::string, std::string>> headers{
            {"Content-Security-Policy",
             "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
             "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"},
            {"X-Content-Type-Options", "nosniff"},
            {"Referrer-Policy", "no-referrer"}};
        return c.reply_revalidated(Response{200, type, std::string(f.body), headers});
    }
    return c.fail(404, "not_found", "the console has no file " + name);
}

// GET /v1/streams/{stream_id}/events  (auditor, admin)
bool Api::stream_events(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    const auto& query = c.query;
    if (parts[2].empty() || parts[2].size() > 200) return c.fail(400, "invalid_path", "stream id is 1-200 bytes", "stream_id");
    auto after = parse_count(query, "after_version", 0, INT64_MAX);
    auto limit = parse_count(query, "limit", 100, 1000);
    if (!after) return c.fail(400, "invalid_query", "after_version must be a non-negative integer", "after_version");
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..1000", "limit");
    std::vector<v1::EventEnvelope> events;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { events = journal::read_stream(tx, parts[2], *after, *limit); });
    if (!r) return c.storage_unavailable(r.error());
    std::string out = "{\"stream_id\":" + json(parts[2]).dump() + ",\"events\":[";
    for (size_t i = 0; i < events.size(); ++i) {
        if (i) out += ",";
        out += events::envelope_to_json(events[i]);
    }
    out += "]";
    // The chain can be checked here only when the page starts at the stream's beginning.
    if (*after == 0) out += ",\"chain_valid\":" + std::string(events::verify_stream(events) ? "false" : "true");
    out += "}";
    return c.reply(Response{200, "application/json", out, {}});
}

// GET /v1/operator/acts?limit=&cursor=: every operator's act (a rebuild, a dead-letter
// retry, a principal change, a policy change), newest first, each the event itself with
// its actor and, in the payload, its reason.
bool Api::operator_acts(Call& c) {
    const auto& query = c.query;
    auto limit = parse_count(query, "limit", 50, 500);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..500", "limit");
    auto before = parse_count(query, "cursor", INT64_MAX, INT64_MAX);
    if (!before) return c.fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
    std::vector<v1::EventEnvelope> acts;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { acts = journal::read_operator_acts(tx, *before, *limit + 1); });
    if (!r) return c.storage_unavailable(r.error());
    std::string out = "{\"acts\":[";
    for (size_t i = 0; i < acts.size() && static_cast<int64_t>(i) < *limit; ++i) {
        if (i) out += ",";
        out += events::envelope_to_json(acts[i]);
    }
    out += "],\"next_cursor\":";
    out += static_cast<int64_t>(acts.size()) > *limit && *limit > 0
               ? "\"" + std::to_string(acts[static_cast<size_t>(*limit - 1)].position()) + "\""
               : std::string("null");
    out += "}";
    return c.reply(Response{200, "application/json", out, {}});
}

// GET /v1/reconcile/last  (auditor, admin): the newest scheduled reconciliation's report.
bool Api::reconcile_last(Call& c) {
    sql::Rows rows;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        rows = tx.exec("SELECT owner, finished_at_unix_ms, duration_ms, head, events_folded, clean, drifting, report::text"
                       " FROM reconcile_runs ORDER BY id DESC LIMIT 1");
    });
    if (!r) return c.storage_unavailable(r.error());
    if (rows.empty())
        return c.fail(404, "not_found", "no reconciliation has run yet (every TALLY_RECONCILE_INTERVAL_S)");
    const auto& row = rows[0];
    json report = json::parse(row.str(7), nullptr, false);
    return c.reply_json(200, {{"owner", row.str(0)},
                              {"finished_at_unix_ms", row.i64(1)},
                              {"duration_ms", row.i64(2)},
                              {"position", row.i64(3)},
                              {"events_folded", row.i64(4)},
                              {"clean", row.boolean(5)},
                              {"drifting", row.i64(6)},
                              {"caches", report.is_object() ? report["caches"] : json::array()},
                              {"drift", report.is_object() ? report["drift"] : json::array()}});
}

// GET /v1/ledger/accounts  (auditor, admin)
bool Api::ledger_accounts(Call& c) {
    json body = {{"accounts", json::array()}, {"totals", json::object()}};
    std::map<std::string, std::pair<int64_t, int64_t>> totals;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        for (const auto& a : tx.exec("SELECT account, currency, debit_minor, credit_minor, postings_count"
                                     " FROM ledger_accounts ORDER BY account, currency LIMIT 1000")) {
            body["accounts"].push_back({{"account", a.str(0)}, {"currency", a.str(1)}, {"debit_minor", a.i64(2)},
                                        {"credit_minor", a.i64(3)}, {"balance_minor", a.i64(2) - a.i64(3)},
                                        {"postings_count", a.i64(4)}});
            totals[a.str(1)].first += a.i64(2);
            totals[a.str(1)].second += a.i64(3);
        }
    });
    if (!r) return c.storage_unavailable(r.error());
    for (const auto& [cur, t] : totals)
        body["totals"][cur] = {{"debit_minor", t.first}, {"credit_minor", t.second}, {"balanced", t.first == t.second}};
    return c.reply(json_response(200, body));
}

// GET /v1/projections: each projector's lag, positions and owners; the relay's watermark.
bool Api::list_projections(Call& c) {
    json body = {{"projectors", json::array()}};
    // Who applies which partition, across every process on this database.
    std::map<std::string, json> partitions;
    auto read = deps_.pool->transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec(
                 "SELECT c.projector, c.partition, c.position, coalesce(o.owner, ''),"
                 " coalesce((extract(epoch FROM o.since) * 1000)::bigint, 0)"
                 " FROM projector_checkpoints c LEFT JOIN projector_owners o USING (projector, partition)"
                 " ORDER BY c.projector, c.partition")) {
            json p = {{"partition", row.i64(1)}, {"position", row.i64(2)}};
            p["owner"] = row.str(3).empty() ? json(nullptr) : json(row.str(3));
            if (row.i64(4) > 0) p["owner_since_unix_ms"] = row.i64(4);
            partitions[row.str(0)].push_back(p);
        }
    });
    json relay_leader = nullptr;
    json journal = nullptr;
    if (read)
        read = deps_.pool->transact([&](sql::Tx& tx) {
            for (const auto& row : tx.exec("SELECT epoch, owner FROM relay_leader ORDER BY topic LIMIT 1"))
                relay_leader = {{"epoch", row.i64(0)}, {"owner", row.str(1)}};
            // Whichever process relays: what the journal holds and what Kafka acknowledged.
            for (const auto& row : tx.exec("SELECT (SELECT position FROM journal_head),"
                                           " (SELECT coalesce(max(position), 0) FROM relay_progress WHERE partition = -1)"))
                journal = {{"head_position", row.i64(0)}, {"relay_watermark_position", row.i64(1)}};
        });
    if (!read) return c.storage_unavailable(read.error());
    for (auto* r : deps_.runners) {
        auto l = r->lag();
        json owned = json::array();
        for (auto p : r->owned()) owned.push_back(p);
        body["projectors"].push_back({{"name", r->name()}, {"running", r->running()}, {"lag_events", l.events},
                                      {"lag_seconds", l.seconds}, {"applied_position", l.applied_position},
                                      {"owned_here", owned},
                                      {"partitions", partitions.contains(r->name()) ? partitions[r->name()]
                                                                                    : json::array()}});
    }
    body["process"] = deps_.process;
    body["relay_leader"] = relay_leader;
    body["journal"] = journal;
    if (deps_.relay)
        body["relay"] = {{"leader", deps_.relay->leader()}, {"watermark_position", deps_.relay->watermark()},
                         {"journal_head_position", deps_.relay->journal_head()}};
    return c.reply(json_response(200, body));
}

// POST /v1/projections/{name}/rebuild: from position 0 into shadow tables, then swapped in;
// recorded as the admin's ProjectionRebuilt.
bool Api::rebuild_projection(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!c.fresh_caller()) return true;  // checked before the long work starts
    v1::OperatorActRequest body;
    if (!c.req.body.empty() && !c.parse_message(body)) return true;
    if (body.reason().size() > 500) return c.fail(422, "invalid_value", "reason is at most 500 bytes", "reason");
    const std::string reason = body.reason().empty() ? "api" : body.reason();
    projectors::Runner* runner = nullptr;
    for (auto* r : deps_.runners)
        if (r->name() == parts[2]) runner = r;
    if (!runner) return c.fail(404, "not_found", "no projector named " + parts[2]);
    // A rebuild takes a while: it runs on its own thread and answers when swapped in.
    std::lock_guard lock(rebuilds_mu_);
    std::erase_if(rebuilds_, [](Rebuild& r) {
        if (!r.done->load()) return false;
        r.thread.join();
        return true;
    });
    auto done = std::make_shared<std::atomic<bool>>(false);
    const Respond respond = c.respond;
    const std::string rid = c.req.request_id;
    const commands::Claims who = command_claims(c.claims);
    rebuilds_.push_back({std::thread([this, runner, respond, rid, done, who, reason] {
                             auto result = runner->rebuild();
                             if (!result) {
                                 respond(problem(409, "rebuild_refused", result.error(), "", rid));
                             } else {
                                 // Recorded as the admin's act (ProjectionRebuilt).
                                 v1::ProjectionRebuilt act;
                                 act.set_projector(runner->name());
                                 act.set_operator_id(who.principal_id);
                                 act.set_events_replayed(*result);
                                 act.set_reason(reason);
                                 act.set_at_unix_ms(deps_.clock_ms());
                                 const std::string key = "rebuild-" + runner->name() + "-" + rid;
                                 auto recorded = commands::submit_and_wait(*deps_.pipeline, who,
                                                                           commands::record_rebuild(act), key,
                                                                           events::sha256(key));
                                 json body = {{"projector", runner->name()}, {"events_replayed", *result}};
                                 if (auto* rep = std::get_if<commands::Reply>(&recorded)) {
                                     body["recorded_position"] = json::parse(rep->body).value("position", 0);
                                     respond(json_response(200, body));
                                 } else {
                                     // Swapped in, but the act is not on record: say so, never swallow it.
                                     const auto& rej = std::get<commands::Rejection>(recorded);
                                     spdlog::error("rebuild of {} by {} not recorded: {}: {}", runner->name(),
                                                   who.principal_id, rej.code, rej.detail);
                                     respond(problem(503, "rebuild_not_recorded",
                                                     "the projection was rebuilt and swapped in, but recording "
                                                     "the act failed (" + rej.code + "); rebuild again to record it",
                                                     "", rid));
                                 }
                             }
                             *done = true;
                         }),
                         done});
    return true;
}

}  // namespace tally::http
