#include "http/api.h"

#include "events/checkpoint.h"
#include "events/envelope.h"
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
    // Replace, never throw: a detail may quote what a client sent.
    return Response{status, "application/problem+json", body.dump(-1, ' ', false, json::error_handler_t::replace), {}};
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

    // A body is JSON, and says so: a form post or text/plain from a browser is refused
    // before anything reads it.
    if (!req.body.empty() && !json_content_type(req)) {
        auto ct = req.headers.find("content-type");
        return (void)c.fail(415, "unsupported_media_type",
                            ct == req.headers.end() ? "a request with a body needs Content-Type: application/json"
                                                    : "Content-Type must be application/json",
                            "Content-Type");
    }

    // The payment provider authenticates by signature, not by token.
    if (webhook_routes(c)) return;
    // A referral visit may be anonymous.
    if (referral_visits(c)) return;
    // The checkpoints' public key is public: auditors fetch it to verify with.
    if (path == "/v1/audit/keys") {
        if (req.method != "GET") return (void)c.method_not_allowed("GET");
        return (void)c.reply_json(
            200, {{"checkpoint_keys",
                   nlohmann::json::array({{{"key_id", deps_.checkpoint_key_id},
                                           {"algorithm", "Ed25519"},
                                           {"public_key", events::to_hex(deps_.checkpoint_public_key)},
                                           {"fingerprint", events::fingerprint(deps_.checkpoint_public_key)},
                                           {"hash_scheme", "running SHA-256 over event hashes by position"}}})}});
    }

    // Everything else under /v1 needs a valid bearer token.
    auto auth = req.headers.find("authorization");
    if (auth == req.headers.end() || auth->second.rfind("Bearer ", 0) != 0)
        return (void)c.unauthenticated("unauthenticated", "an Authorization: Bearer token is required", false);
    auto claims = deps_.keys->verify(std::string_view(auth->second).substr(7), deps_.clock_ms() / 1000);
    if (!claims) return (void)c.unauthenticated("unauthenticated", claims.error(), true);
    c.claims = *claims;

    if (catalog_routes(c) || order_routes(c) || payment_routes(c) || dead_letter_routes(c) || credit_routes(c) ||
        loyalty_routes(c) || affiliate_routes(c) || operator_routes(c))
        return;
    c.fail(404, "not_found", "no route for " + req.method + " " + path);
}

}  // namespace tally::http
