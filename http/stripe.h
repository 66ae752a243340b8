#pragma once
// Stripe webhooks in: the Stripe-Signature check and the event reduced to a
// provider signal for an order.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "commands/lifecycle.h"

namespace tally::http::stripe {

inline constexpr int64_t kToleranceSeconds = 300;

// The v1 signature: hex HMAC-SHA256 of "{t}.{body}" under `secret`.
std::string sign_v1(std::string_view secret, int64_t timestamp, std::string_view body);

struct SignatureError {
    std::string code;    // signature_missing, signature_malformed, signature_stale, signature_mismatch
    std::string detail;
};

// Checks `Stripe-Signature: t=...,v1=...[,v1=...]` against every secret (rotation:
// several secrets, several v1 values), constant-time. Fresh means |now - t| <= tolerance.
// The signed timestamp when one matches.
std::expected<int64_t, SignatureError> verify(std::string_view header, std::string_view body,
                                              const std::vector<std::string>& secrets, int64_t now_unix_s,
                                              int64_t tolerance_s = kToleranceSeconds);

// The event's id, type and the fields the lifecycle needs; the order from
// metadata.order_id (intents, charges, disputes) or transfer_group (transfers). When
// neither names one, order_id is empty and signal.payment_intent_id (charges,
// disputes) is the way to it.
// Every id it keeps (event, object, intent, vendor, order) is printable ASCII without
// spaces, 1-200 bytes; free text (a failure message) loses its control characters.
struct EventError {
    std::string field;   // e.g. "id", "data.object.payment_intent"; empty for the document
    std::string detail;
};
std::expected<commands::ProviderEvent, EventError> parse_event(std::string_view body);

// What a Stripe event type means to an order; SIGNAL_UNSPECIFIED for types tally does
// not act on.
v1::SignalKind kind_of(std::string_view type);

}  // namespace tally::http::stripe
