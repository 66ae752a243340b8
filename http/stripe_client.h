#pragma once
// The provider adapter over Beast: one connection per call (calls are few and run in
// workers), TLS with peer and host-name verification for https://, and a deadline on
// the whole exchange (connect, handshake, write, read).

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "infra/stripe_api.h"

namespace tally::http {

// One POST to a provider: connect (TLS when the endpoint says so), send, read, all within
// `timeout`. Status 0 when there was no HTTP answer (error says why); the body as sent.
stripe_api::Result provider_post(const stripe_api::Endpoint& endpoint, std::string_view path,
                                 const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                                 std::chrono::milliseconds timeout);

// Any method (a GET has no body), otherwise as provider_post.
stripe_api::Result provider_call(std::string_view method, const stripe_api::Endpoint& endpoint, std::string_view path,
                                 const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                                 std::chrono::milliseconds timeout);

class StripeClient final : public stripe_api::Api {
public:
    StripeClient(stripe_api::Endpoint endpoint, std::string secret_key,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20));
    stripe_api::Result post(std::string_view path, const stripe_api::Form& form,
                            const std::string& idempotency_key) const override;

private:
    stripe_api::Endpoint endpoint_;
    std::string secret_key_;
    std::chrono::milliseconds timeout_;
};

}  // namespace tally::http
