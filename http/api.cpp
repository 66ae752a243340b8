#include "http/api.h"

#include "http/call.h"
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
    return Response{status, "application/problem+json", body.dump(), {}};
}

Api::Api(ApiDeps deps) : deps_(std::move(deps)) {}

Api::~Api() {
    std::lock_guard lock(rebuilds_mu_);
    for (auto& r : rebuilds_) r.thread.join();
}

bool Api::ready() {
    bool ok = false;
    auto r = deps_.pool->autocommit([&](sql::Tx& tx) { ok = !tx.exec("SELECT 1").empty(); });
    return r && ok;
}

void Api::handle(Request request, Respond respond) {
    Call c(request, std::move(respond), deps_);
    const Request& req = c.req;
    const std::string& path = c.path;

    // Unauthenticated operational endpoints.
    if (req.method == "GET" && path == "/healthz") return (void)c.reply(Response{200, "text/plain", "ok\n", {}});
    if (req.method == "GET" && path == "/readyz") {
        if (ready()) c.reply(Response{200, "text/plain", "ready\n", {}});
        else c.fail(503, "not_ready", "the database does not answer");
        return;
    }
    if (req.method == "GET" && path == "/metrics")
        return (void)c.reply(Response{200, "text/plain; version=0.0.4", metrics::global().render(), {}});
    if (c.parts.empty() || c.parts[0] != "v1") return (void)c.fail(404, "not_found", "no route for " + path);

    // The payment provider authenticates by signature, not by token.
    if (webhook_routes(c)) return;

    // Everything else under /v1 needs a valid bearer token.
    auto auth = req.headers.find("authorization");
    if (auth == req.headers.end() || auth->second.rfind("Bearer ", 0) != 0)
        return (void)c.fail(401, "unauthenticated", "an Authorization: Bearer token is required");
    auto claims = deps_.keys->verify(std::string_view(auth->second).substr(7), deps_.clock_ms() / 1000);
    if (!claims) return (void)c.fail(401, "unauthenticated", claims.error());
    c.claims = *claims;

    if (catalog_routes(c) || order_routes(c) || payment_routes(c) || dead_letter_routes(c) || credit_routes(c) ||
        operator_routes(c))
        return;
    c.fail(404, "not_found", "no route for " + req.method + " " + path);
}

}  // namespace tally::http
