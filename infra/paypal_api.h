#pragma once
// The PayPal adapter's contract: PayPal's REST API (JSON bodies, OAuth2 client-credentials
// bearer tokens the client obtains and renews itself, a PayPal-Request-Id on every call
// for idempotency) at a configurable base URL. The workers create Payouts batches through
// it; the webhook route verifies PayPal's messages with it
// (POST /v1/notifications/verify-webhook-signature). Beast implementation: http/paypal_client.h.

#include <string>
#include <string_view>

#include "infra/stripe_api.h"

namespace tally::paypal_api {

// status, body, error (for people), code: PayPal's error `name` (or the first detail's
// `issue` when there is one, e.g. SENDER_BATCH_ID_ALREADY_USED).
using Result = stripe_api::Result;

class Api {
public:
    virtual ~Api() = default;
    // POST {base}{path} with the JSON body; `request_id` as PayPal-Request-Id (empty: none).
    // Blocking; never throws.
    virtual Result post(std::string_view path, const std::string& json_body, const std::string& request_id) const = 0;
};

}  // namespace tally::paypal_api
