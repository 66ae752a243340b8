#include "http/call.h"

#include <charconv>

#include <spdlog/spdlog.h>

#include "domain/ids.h"
#include "events/envelope.h"
#include "http/json_input.h"
#include "infra/strings.h"

namespace tally::http {
namespace {

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= path.size()) {
        size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        parts.emplace_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    for (auto item : split(q, '&')) {
        auto eq = item.find('=');
        if (eq != std::string_view::npos) out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
    }
    return out;
}

}  // namespace

int status_of(commands::RejectionKind k) {
    switch (k) {
        case commands::RejectionKind::fix_request: return 422;
        case commands::RejectionKind::state_forbids: return 409;
        case commands::RejectionKind::retry_later: return 503;
        case commands::RejectionKind::unauthenticated: return 401;
        case commands::RejectionKind::forbidden: return 403;
        case commands::RejectionKind::internal: return 500;
    }
    return 500;
}

bool reads_customer(const Caller& caller, const std::string& customer_id, const std::string& resource) {
    const auto& p = caller.principal;
    return p.role == "admin" || p.role == "auditor" ||
           (p.role == "employee" && commands::has_permission(p.permissions, resource, "view")) ||
           (p.role == "customer" && p.id == customer_id);
}

Response json_response(int status, const nlohmann::json& body) {
    return Response{status, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
}

std::optional<int64_t> parse_count(const std::map<std::string, std::string>& q, const std::string& name,
                                   int64_t fallback, int64_t max) {
    auto it = q.find(name);
    if (it == q.end()) return fallback;
    int64_t v = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || v < 0 || v > max) return std::nullopt;
    return v;
}

Call::Call(const Request& request, Respond respond_to, const ApiDeps& deps)
    : req(request), respond(std::move(respond_to)), deps_(deps) {
    const auto qpos = req.target.find('?');
    path = req.target.substr(0, qpos);
    query = parse_query(qpos == std::string::npos ? "" : std::string_view(req.target).substr(qpos + 1));
    parts = split_path(path);
}

bool Call::fail(int status, const std::string& code, const std::string& detail, const std::string& field) const {
    respond(problem(status, code, detail, field, req.request_id));
    return true;
}

bool Call::storage_unavailable(const sql::DbError& e) const {
    // The database's own words (which may quote the request) stay in the log.
    spdlog::warn("request_id={}: storage unavailable: {}", req.request_id, e.message);
    return fail(503, "storage_unavailable", "the database did not answer; retry");
}

bool Call::method_not_allowed(const std::string& allowed) const {
    auto r = problem(405, "method_not_allowed", "use " + allowed, "", req.request_id);
    r.headers.emplace_back("Allow", allowed);
    respond(std::move(r));
    return true;
}

bool Call::unauthenticated(const std::string& code, const std::string& detail, bool token_given) const {
    auto r = problem(401, code, detail, token_given ? "Authorization" : "", req.request_id);
    // RFC 6750: say which scheme, and whether the token itself was the trouble.
    r.headers.emplace_back("WWW-Authenticate", token_given ? "Bearer realm=\"tally\", error=\"invalid_token\""
                                                           : "Bearer realm=\"tally\"");
    respond(std::move(r));
    return true;
}

bool Call::reply(Response r) const {
    respond(std::move(r));
    return true;
}

bool Call::reply_json(int status, const nlohmann::json& body) const { return reply(json_response(status, body)); }

nlohmann::json keyset_page(const std::string& key, const sql::Rows& rows, int64_t limit,
                           const std::function<nlohmann::json(const sql::Row&)>& render) {
    nlohmann::json body = {{key, nlohmann::json::array()}, {"next_cursor", nullptr}};
    for (size_t i = 0; i < rows.size() && static_cast<int64_t>(i) < limit; ++i) body[key].push_back(render(rows[i]));
    if (static_cast<int64_t>(rows.size()) > limit && limit > 0) body["next_cursor"] = rows[static_cast<size_t>(limit - 1)].str(0);
    return body;
}

bool Call::reply_revalidated(Response r) const {
    const std::string etag = "\"" + events::to_hex(events::sha256(r.body)).substr(0, 32) + "\"";
    r.headers.emplace_back("ETag", etag);
    r.headers.emplace_back("Cache-Control", "no-cache");
    if (auto seen = req.headers.find("if-none-match"); seen != req.headers.end())
        for (auto tag : split(seen->second, ',')) {
            while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
            while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
            if (tag.starts_with("W/")) tag.remove_prefix(2);
            if (tag == etag || tag == "*") {
                r.status = 304;
                r.body.clear();
                r.content_type.clear();
                break;
            }
        }
    return reply(std::move(r));
}

bool Call::customer_read(const std::string& customer_id, const std::string& resource, const std::string& what) const {
    if (req.method != "GET") {
        method_not_allowed("GET");
        return false;
    }
    if (!valid_id(customer_id)) {
        fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
        return false;
    }
    auto caller = fresh_caller();
    if (!caller) return false;
    if (!reads_customer(*caller, customer_id, resource)) {
        fail(403, "forbidden", "you may not read this customer's " + what);
        return false;
    }
    return true;
}

std::optional<Caller> Call::fresh_caller() const {
    if (caller_) return caller_;
    std::optional<journal::Principal> p;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { p = journal::load_principal(tx, claims.sub); });
    if (!r) {
        storage_unavailable(r.error());
        return std::nullopt;
    }
    const commands::Claims token = command_claims(claims);
    if (auto problem = commands::check_principal(token, p ? &*p : nullptr)) {
        if (problem->kind == commands::RejectionKind::unauthenticated)
            unauthenticated(problem->code, problem->detail, true);
        else
            fail(status_of(problem->kind), problem->code, problem->detail);
        return std::nullopt;
    }
    caller_ = Caller{claims, *p};
    return caller_;
}

bool Call::adopt_principal() {
    std::optional<journal::Principal> p;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { p = journal::load_principal(tx, claims.sub); });
    if (!r) {
        storage_unavailable(r.error());
        return false;
    }
    if (!p || !is_known_role(p->role)) {
        unauthenticated("principal_unknown", "the token's principal does not exist or is disabled", true);
        return false;
    }
    claims.role = p->role;
    claims.session_version = p->session_version;
    const commands::Claims token = command_claims(claims);
    if (auto problem = commands::check_principal(token, &*p)) {
        unauthenticated(problem->code, problem->detail, true);
        return false;
    }
    caller_ = Caller{claims, *p};
    return true;
}

std::optional<Call::IdPage> Call::id_page() const {
    IdPage page;
    auto limit = parse_count(query, "limit", 50, 500);
    if (!limit) {
        fail(400, "invalid_query", "limit must be 0..500", "limit");
        return std::nullopt;
    }
    page.limit = *limit;
    if (auto cur = query.find("cursor"); cur != query.end()) {
        if (!valid_id(cur->second)) {
            fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
            return std::nullopt;
        }
        page.after = cur->second;
    }
    return page;
}

std::optional<std::string> Call::idempotency_key() const {
    auto key = req.headers.find("idempotency-key");
    if (key == req.headers.end() || key->second.empty()) {
        fail(400, "idempotency_key_required", "commands need an Idempotency-Key header", "Idempotency-Key");
        return std::nullopt;
    }
    if (key->second.size() > 255 || !printable_ascii(key->second, true)) {
        fail(400, "invalid_idempotency_key", "Idempotency-Key is 1-255 printable ASCII characters", "Idempotency-Key");
        return std::nullopt;
    }
    return key->second;
}

bool Call::submit(std::unique_ptr<commands::Command> command, const std::string& key,
                  std::function<void(Response&)> decorate) const {
    return submit_as(command_claims(claims), std::move(command), key,
                     events::sha256(req.method + " " + path + "\n" + req.body), std::move(decorate));
}

bool Call::submit_as(const commands::Claims& as, std::unique_ptr<commands::Command> command, const std::string& key,
                     std::string body_hash, std::function<void(Response&)> decorate) const {
    commands::Submission s;
    s.claims = as;
    s.idempotency_key = key;
    s.body_hash = std::move(body_hash);
    s.correlation_id = req.request_id;
    s.command = std::move(command);
    s.done = [respond = respond, rid = req.request_id, decorate = std::move(decorate)](commands::Outcome outcome) {
        if (auto* r = std::get_if<commands::Reply>(&outcome)) {
            Response out{r->status, "application/json", r->body, {}};
            if (r->replayed) out.headers.emplace_back("Idempotent-Replayed", "true");
            if (decorate) decorate(out);
            return respond(std::move(out));
        }
        const auto& rej = std::get<commands::Rejection>(outcome);
        respond(problem(status_of(rej.kind), rej.code, rej.detail, rej.field, rid, rej.extension_json));
    };
    if (!deps_.pipeline->submit(std::move(s)))
        fail(503, "overloaded", "the command queue is full or the server is stopping; retry");
    return true;
}

bool Call::parse_message(google::protobuf::Message& msg) const {
    if (auto err = parse_json_message(req.body, msg)) {
        fail(err->status, err->code, err->detail, err->field);
        return false;
    }
    return true;
}

}  // namespace tally::http
