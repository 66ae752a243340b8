#pragma once
// The provider adapter's contract: Stripe's HTTP API (form-encoded POSTs, a bearer
// secret key, an Idempotency-Key on every call) at a configurable base URL, http:// or
// https://. The workers (commands/provider_worker.h) call it through `Api`; the Beast
// implementation is http/stripe_client.h (only http/ includes Beast).

#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::stripe_api {

struct Endpoint {
    bool tls = false;
    std::string host;
    std::string port;       // "443", "80" or as given
    std::string base_path;  // without a trailing '/', often ""
};

// "https://api.stripe.com", "http://127.0.0.1:12111/prefix".
std::expected<Endpoint, std::string> parse_base(std::string_view url);

using Form = std::vector<std::pair<std::string, std::string>>;

// The body of a form POST: "a=1&metadata%5Border_id%5D=o-1".
std::string encode_form(const Form& form);

struct Result {
    int status = 0;     // 0: no HTTP answer (connection refused, TLS, timeout)
    std::string body;   // the provider's JSON
    std::string error;  // for people: the transport's error or the provider's error.message
    std::string code;   // the provider's error.code, e.g. "payment_intent_unexpected_state"

    bool ok() const { return status >= 200 && status < 300; }
    // Worth trying again with the same Idempotency-Key: no answer, 409 (a request with
    // this key is still in flight), 429, 5xx. Other 4xx are refusals that will not change.
    bool retryable() const { return status == 0 || status == 409 || status == 429 || status >= 500; }
};

class Api {
public:
    virtual ~Api() = default;
    // POST {base}{path} with the form and the key. Blocking; never throws.
    virtual Result post(std::string_view path, const Form& form, const std::string& idempotency_key) const = 0;
};

}  // namespace tally::stripe_api
