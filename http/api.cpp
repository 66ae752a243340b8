#include "http/api.h"

#include <cmath>

#include <openssl/crypto.h>

#include "events/checkpoint.h"
#include "events/envelope.h"
#include "http/call.h"
#include "http/openapi.h"
#include "http/rate_limit.h"
#include "infra/metrics.h"

namespace tally::http {

using nlohmann::json;

Response problem(int status, const std::string& code, const std::string& detail, const std::string& field,
                 const std::string& request_id, const std::string& extension_json) {
    json body = {{"type", "https://tally.dev/problems/" + code}, {"title", code}, {"status", status}, {"detail", detail}};
    if (!extension_json.empty()) {
        auto ext = json::parse(extension_json, nullptr, false);
        if (ext.is_object())
            for (auto& [k, v] : ext.items()) body[k] = v;
    }
    if (!field.empty()) body["field"] = field;
    if (!request_id.empty()) body["request_id"] = request_id;
    // Replace, never throw: a detail may quote what a client sent.
    return Response{status, "application/problem+json", body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
}

Api::Api(ApiDeps deps) : deps_(std::move(deps)) {
    metrics::global().help("tally_referral_cookies_ignored_total", "counter",
                           "Referral cookies ignored at checkout, by reason (expired, bad signature, malformed)");
}

Api::~Api() {
    std::lock_guard lock(rebuilds_mu_);
    for (auto& r : rebuilds_) r.thread.join();
}

bool Api::ready() {
    bool ok = false;
    auto r = deps_.pool->autocommit([&](sql::Tx& tx) { ok = !tx.exec("SELECT 1").empty(); });
    return r && ok;
}

namespace {

// application/json, any case, with parameters (charset) allowed.
bool json_content_type(const Request& req) {
    auto ct = req.headers.find("content-type");
    if (ct == req.headers.end()) return false;
    std::string media = ct->second.substr(0, ct->second.find(';'));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
    for (auto& ch : media) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return media == "application/json";
}

}  // namespace

void Api::handle(Request request, Respond respond) {
    Call c(request, std::move(respond), deps_);
    const Request& req = c.req;

    std::string allowed;
    const Route* route = req.route ? req.route : find_route(routes(), req.method, c.parts, &allowed);
    if (!route) {
        if (!allowed.empty()) return (void)c.method_not_allowed(allowed);
        return (void)c.fail(404, "not_found", "no route for " + req.method + " " + c.path);
    }

    // A body is JSON, and says so: a form post or text/plain from a browser is refused
    // before anything reads it.
    if (route->gate != Gate::open && !req.body.empty() && !json_content_type(req)) {
        auto ct = req.headers.find("content-type");
        return (void)c.fail(415, "unsupported_media_type",
                            ct == req.headers.end() ? "a request with a body needs Content-Type: application/json"
                                                    : "Content-Type must be application/json",
                            "Content-Type");
    }

    if (route->gate == Gate::token || route->gate == Gate::optional_token) {
        auto claims = bearer(c, route->gate == Gate::token);
        if (!claims) return;
        c.claims = *claims;
        if (c.claims.external && !c.adopt_principal()) return;
        if (!within_rate(c, *route)) return;
        if (!c.claims.sub.empty() && !first_check(c, *route)) return;
    } else if (route->gate == Gate::signature && !within_rate(c, *route)) {
        return;
    }
    (this->*route->handler)(c);
}

std::optional<TokenClaims> Api::bearer(Call& c, bool required) {
    auto auth = c.req.headers.find("authorization");
    if (auth == c.req.headers.end()) {
        if (!required) return TokenClaims{};
        c.unauthenticated("unauthenticated", "an Authorization: Bearer token is required", false);
        return std::nullopt;
    }
    if (auth->second.rfind("Bearer ", 0) != 0) {
        c.unauthenticated("unauthenticated",
                          required ? "an Authorization: Bearer token is required"
                                   : "Authorization must be a Bearer token (or absent)",
                          true);
        return std::nullopt;
    }
    const std::string_view token = std::string_view(auth->second).substr(7);
    const int64_t now_s = deps_.clock_ms() / 1000;
    std::optional<std::expected<TokenClaims, std::string>> from_idp;
    if (deps_.idp) from_idp = deps_.idp->verify(token, now_s);
    auto claims = from_idp ? std::move(*from_idp) : deps_.keys->verify(token, now_s);
    if (!claims) {
        c.unauthenticated("unauthenticated", claims.error(), true);
        return std::nullopt;
    }
    return *claims;
}

// The token's role, or an employee's permissions on the principal as it is now.
bool Api::first_check(Call& c, const Route& route) {
    const std::string what = std::string(route.method) + " " + std::string(route.pattern);
    if (c.claims.role != "employee") {
        if (!passes_first_check(route, c.claims.role, {})) {
            c.fail(403, "forbidden", "the role " + c.claims.role + " may not " + what);
            return false;
        }
        // A read is answered here, so the principal behind the token is checked now; a
        // command's batch checks it again inside its transaction.
        return route.method != "GET" || c.fresh_caller().has_value();
    }
    auto caller = c.fresh_caller();
    if (!caller) return false;
    if (passes_first_check(route, "employee", caller->principal.permissions)) return true;
    std::string needs;
    for (auto p : route.permissions) needs += (needs.empty() ? "" : " or ") + std::string(p);
    c.fail(403, "forbidden",
           needs.empty() ? "employees may not " + what : what + " needs the permission " + needs);
    return false;
}

bool Api::within_rate(Call& c, const Route& route) {
    if (!deps_.limiter) return true;
    const RateClass cls = route.gate == Gate::signature                                      ? RateClass::webhook
                          : route.method == "GET" || route.pattern == std::string_view("/v1/quote") ? RateClass::read
                                                                                              : RateClass::write;
    const auto v = deps_.limiter->check(cls, c.claims.sub, c.claims.role, c.req.peer, deps_.clock_ms());
    if (v.allowed) return true;
    // IETF httpapi RateLimit headers (draft): the policy's quota and window, what is left
    // and when there is more.
    const auto retry = static_cast<int64_t>(std::max(1.0, std::ceil(v.retry_after_s)));
    const auto window = static_cast<int64_t>(std::max(1.0, std::ceil(v.budget.burst / v.budget.per_second)));
    auto r = problem(429, "rate_limited",
                     "the " + v.policy + " budget (" + std::to_string(static_cast<int64_t>(v.budget.per_second)) +
                         "/s, burst " + std::to_string(static_cast<int64_t>(v.budget.burst)) + ") is spent; retry after " +
                         std::to_string(retry) + " s",
                     "", c.req.request_id);
    r.headers.emplace_back("Retry-After", std::to_string(retry));
    r.headers.emplace_back("RateLimit-Policy", "\"" + v.policy + "\";q=" + std::to_string(static_cast<int64_t>(v.budget.burst)) +
                                                   ";w=" + std::to_string(window));
    r.headers.emplace_back("RateLimit", "\"" + v.policy + "\";r=" + std::to_string(static_cast<int64_t>(v.remaining)) +
                                            ";t=" + std::to_string(retry));
    c.reply(std::move(r));
    return false;
}

bool Api::healthz(Call& c) { return c.reply(Response{200, "text/plain", "ok\n", {}}); }

bool Api::openapi(Call& c) {
    // Built once: the route table and the schemas are fixed at build time.
    static const std::string document = openapi_document().dump(1);
    return c.reply_revalidated(Response{200, "application/json", document, {}});
}

bool Api::readyz(Call& c) {
    if (ready()) return c.reply(Response{200, "text/plain", "ready\n", {}});
    return c.fail(503, "not_ready", "the database does not answer");
}

Response metrics_answer(const Request& req, const std::string& token) {
    if (!token.empty()) {
        auto it = req.headers.find("authorization");
        const std::string given = it == req.headers.end() ? "" : it->second;
        const std::string wanted = "Bearer " + token;
        if (given.size() != wanted.size() || CRYPTO_memcmp(given.data(), wanted.data(), wanted.size()) != 0) {
            auto r = problem(401, "unauthenticated", "/metrics needs the scrape token (TALLY_METRICS_TOKEN) as a bearer token",
                             "Authorization", req.request_id);
            r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tally-metrics\"");
            return r;
        }
    }
    return Response{200, "text/plain; version=0.0.4", metrics::global().render(), {}};
}

std::function<void(Request, Respond)> metrics_listener(std::string token) {
    return [token = std::move(token)](Request r, Respond respond) {
        const std::string path = r.target.substr(0, r.target.find('?'));
        if (r.method == "GET" && path == "/metrics") return respond(metrics_answer(r, token));
        if (r.method == "GET" && path == "/healthz") return respond(Response{200, "text/plain", "ok\n", {}});
        respond(problem(404, "not_found", "this listener serves GET /metrics and GET /healthz only", "", r.request_id));
    };
}

bool Api::metrics_text(Call& c) {
    if (!deps_.metrics_on_api)
        return c.fail(404, "not_found", "metrics are served on their own address (TALLY_METRICS_ADDRESS), not here");
    return c.reply(metrics_answer(c.req, deps_.metrics_token));
}

// The checkpoints' public key is public: auditors fetch it to verify with.
bool Api::audit_keys(Call& c) {
    return c.reply_json(
        200, {{"checkpoint_keys",
               nlohmann::json::array({{{"key_id", deps_.checkpoint_key_id},
                                       {"algorithm", "Ed25519"},
                                       {"public_key", events::to_hex(deps_.checkpoint_public_key)},
                                       {"fingerprint", events::fingerprint(deps_.checkpoint_public_key)},
                                       {"hash_scheme", "running SHA-256 over event hashes by position"}}})}});
}

}  // namespace tally::http
