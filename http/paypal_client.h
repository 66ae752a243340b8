#pragma once
// PayPal's REST API over Beast (the transport of http/stripe_client.h): an OAuth2
// client-credentials token from /v1/oauth2/token, kept until shortly before it expires
// and fetched again after a 401.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "infra/paypal_api.h"

namespace tally::http {

class PayPalClient final : public paypal_api::Api {
public:
    PayPalClient(stripe_api::Endpoint endpoint, std::string client_id, std::string client_secret,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20));
    paypal_api::Result post(std::string_view path, const std::string& json_body,
                            const std::string& request_id) const override;

private:
    // The bearer token, fetching one when there is none; empty with `error` set on failure.
    std::string token(paypal_api::Result& error) const;

    stripe_api::Endpoint endpoint_;
    std::string client_id_, client_secret_;
    std::chrono::milliseconds timeout_;
    mutable std::mutex mu_;
    mutable std::string token_;
    mutable std::chrono::steady_clock::time_point token_until_{};
};

}  // namespace tally::http
