#pragma once
// The provider adapter over Beast: one connection per call (calls are few and run in
// workers), TLS with peer and host-name verification for https://, and a deadline on
// the whole exchange (connect, handshake, write, read).

#include <chrono>
#include <string>

#include "infra/stripe_api.h"

namespace tally::http {

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
