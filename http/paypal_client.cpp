#include "http/paypal_client.h"

#include <nlohmann/json.hpp>

#include "events/envelope.h"
#include "http/stripe_client.h"

namespace tally::http {
namespace {


// PayPal's error document: {"name": ..., "message": ..., "details": [{"issue": ...}]}.
void explain(paypal_api::Result& out) {
    out.error = "HTTP " + std::to_string(out.status) + ": " + out.body.substr(0, 300);
    auto doc = nlohmann::json::parse(out.body, nullptr, false);
    if (!doc.is_object()) return;
    auto text = [](const nlohmann::json& o, const char* k) {
        auto it = o.find(k);
        return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (const auto msg = text(doc, "message"); !msg.empty()) out.error = "HTTP " + std::to_string(out.status) + ": " + msg;
    out.code = text(doc, "name");
    if (out.code.empty()) out.code = text(doc, "error");  // the token endpoint's OAuth2 errors
    if (auto d = doc.find("details"); d != doc.end() && d->is_array() && !d->empty() && d->front().is_object())
        if (const auto issue = text(d->front(), "issue"); !issue.empty()) out.code = issue;
}

}  // namespace

PayPalClient::PayPalClient(stripe_api::Endpoint endpoint, std::string client_id, std::string client_secret,
                           std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)),
      client_id_(std::move(client_id)),
      client_secret_(std::move(client_secret)),
      timeout_(timeout) {}

std::string PayPalClient::token(paypal_api::Result& error) const {
    std::lock_guard lock(mu_);
    if (!token_.empty() && std::chrono::steady_clock::now() < token_until_) return token_;
    auto out = provider_post(endpoint_, "/v1/oauth2/token",
                             {{"Authorization", "Basic " + events::base64(client_id_ + ":" + client_secret_)},
                              {"Content-Type", "application/x-www-form-urlencoded"},
                              {"Accept", "application/json"}},
                             "grant_type=client_credentials", timeout_);
    if (!out.ok()) {
        if (out.status != 0) explain(out);
        out.error = "PayPal token: " + out.error;
        error = out;
        return "";
    }
    auto doc = nlohmann::json::parse(out.body, nullptr, false);
    if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string()) {
        error = {502, out.body, "PayPal token: the answer has no access_token", ""};
        return "";
    }
    token_ = doc["access_token"].get<std::string>();
    const int64_t expires = doc.contains("expires_in") && doc["expires_in"].is_number_integer()
                                ? doc["expires_in"].get<int64_t>()
                                : 300;
    // Renewed a minute early (or at once for very short tokens), not at the edge.
    token_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(std::max<int64_t>(0, expires - 60));
    return token_;
}

paypal_api::Result PayPalClient::post(std::string_view path, const std::string& json_body,
                                      const std::string& request_id) const {
    for (int attempt = 0; attempt < 2; ++attempt) {
        paypal_api::Result failed;
        const std::string bearer = token(failed);
        if (bearer.empty()) return failed;
        std::vector<std::pair<std::string, std::string>> headers{{"Authorization", "Bearer " + bearer},
                                                                 {"Content-Type", "application/json"},
                                                                 {"Accept", "application/json"}};
        if (!request_id.empty()) headers.emplace_back("PayPal-Request-Id", request_id);
        auto out = provider_post(endpoint_, path, headers, json_body, timeout_);
        if (out.status == 401 && attempt == 0) {  // the token expired or was revoked: once more with a new one
            std::lock_guard lock(mu_);
            if (token_ == bearer) token_.clear();  // unless another call has fetched a new one already
            continue;
        }
        if (out.status != 0 && !out.ok()) explain(out);
        return out;
    }
    return {0, "", "unreachable", ""};
}

}  // namespace tally::http
