#include "http/stripe.h"

#include <openssl/crypto.h>

#include <charconv>
#include <map>
#include <nlohmann/json.hpp>

#include "domain/ids.h"
#include "domain/lifecycle.h"
#include "events/envelope.h"
#include "infra/strings.h"

namespace tally::http::stripe {
namespace {

using nlohmann::json;

std::string upper(std::string s) {
    for (auto& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return s;
}

std::string text(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

bool provider_id(const std::string& s) { return !s.empty() && s.size() <= 200 && printable_ascii(s); }

int64_t integer(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

std::string sign_v1(std::string_view secret, int64_t timestamp, std::string_view body) {
    std::string payload = std::to_string(timestamp);
    payload += '.';
    payload += body;
    return events::to_hex(events::hmac_sha256(secret, payload));
}

std::expected<int64_t, SignatureError> verify(std::string_view header, std::string_view body,
                                              const std::vector<std::string>& secrets, int64_t now_unix_s,
                                              int64_t tolerance_s) {
    if (header.empty()) return std::unexpected(SignatureError{"signature_missing", "the Stripe-Signature header is required"});
    std::optional<int64_t> t;
    std::vector<std::string> v1s;
    for (const auto item : split(header, ',')) {
        const auto eq = item.find('=');
        if (eq != std::string_view::npos) {
            const auto key = item.substr(0, eq), value = item.substr(eq + 1);
            if (key == "t") {
                int64_t v = 0;
                auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
                if (ec != std::errc() || end != value.data() + value.size())
                    return std::unexpected(SignatureError{"signature_malformed", "t is not a unix timestamp"});
                t = v;
            } else if (key == "v1") {
                v1s.emplace_back(value);
            }  // other schemes (v0) are ignored, as Stripe advises
        }
    }
    if (!t || v1s.empty())
        return std::unexpected(SignatureError{"signature_malformed", "Stripe-Signature needs t= and at least one v1="});
    if (*t < now_unix_s - tolerance_s || *t > now_unix_s + tolerance_s)
        return std::unexpected(SignatureError{"signature_stale", "the signature's timestamp is outside the " +
                                                                     std::to_string(tolerance_s) + " s tolerance"});
    bool match = false;
    for (const auto& secret : secrets) {
        const std::string expected = sign_v1(secret, *t, body);
        for (const auto& v : v1s)  // every comparison runs: no early exit on a match
            match |= v.size() == expected.size() && CRYPTO_memcmp(v.data(), expected.data(), v.size()) == 0;
    }
    if (!match) return std::unexpected(SignatureError{"signature_mismatch", "no v1 signature matches the body"});
    return *t;
}

// Stripe's event types tally acts on, and what each means to an order.
v1::SignalKind kind_of(std::string_view type) {
    static const std::map<std::string_view, v1::SignalKind> kinds{
        {"payment_intent.succeeded", v1::SIGNAL_PAYMENT_SUCCEEDED},
        {"payment_intent.payment_failed", v1::SIGNAL_PAYMENT_FAILED},
        {"charge.refunded", v1::SIGNAL_CHARGE_REFUNDED},
        {"charge.dispute.created", v1::SIGNAL_DISPUTE_OPENED},
        {"charge.dispute.closed", v1::SIGNAL_DISPUTE_CLOSED},
        {"transfer.created", v1::SIGNAL_TRANSFER_CREATED},
        {"transfer.reversed", v1::SIGNAL_TRANSFER_REVERSED}};
    auto it = kinds.find(type);
    return it == kinds.end() ? v1::SIGNAL_UNSPECIFIED : it->second;
}

std::expected<commands::ProviderEvent, EventError> parse_event(std::string_view body) {
    auto doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::unexpected(EventError{"", "the body is not a JSON object"});
    const std::string id = text(doc, "id"), type = text(doc, "type");
    if (!provider_id(id)) return std::unexpected(EventError{"id", "id must be 1-200 printable ASCII characters"});
    if (!provider_id(type)) return std::unexpected(EventError{"type", "type must be 1-200 printable ASCII characters"});
    auto data = doc.find("data");
    if (data == doc.end() || !data->is_object() || !data->contains("object") || !(*data)["object"].is_object())
        return std::unexpected(EventError{"data.object", "data.object must be an object"});
    const json& obj = (*data)["object"];
    commands::ProviderEvent out;
    auto& sig = out.signal;
    sig.set_provider_event_id(id);
    sig.set_type(type);
    sig.set_kind(kind_of(type));
    sig.set_object_id(text(obj, "id"));
    sig.set_currency(upper(text(obj, "currency")));
    sig.set_created_unix_s(integer(doc, "created"));
    const v1::SignalKind kind = sig.kind();
    if (kind == v1::SIGNAL_PAYMENT_SUCCEEDED) sig.set_amount_minor(integer(obj, "amount_received"));
    else if (kind == v1::SIGNAL_CHARGE_REFUNDED) sig.set_amount_minor(integer(obj, "amount_refunded"));
    else sig.set_amount_minor(integer(obj, "amount"));
    if (kind == v1::SIGNAL_DISPUTE_CLOSED) sig.set_outcome(text(obj, "status"));
    if (kind == v1::SIGNAL_PAYMENT_FAILED)
        if (auto err = obj.find("last_payment_error"); err != obj.end() && err->is_object())
            sig.set_outcome(text(*err, "message").substr(0, 500));
    std::string order_id;
    if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
        order_id = text(*md, "order_id");
        sig.set_vendor_id(text(*md, "vendor_id"));
        if (kind == v1::SIGNAL_TRANSFER_CREATED || kind == v1::SIGNAL_TRANSFER_REVERSED) {
            out.affiliate_payout = text(*md, "affiliate_payout");
            out.affiliate_id = text(*md, "affiliate_id");
        }
    }
    if (order_id.empty()) order_id = text(obj, "transfer_group");
    // Charges and disputes name their PaymentIntent (an id, or the object when expanded);
    // the route finds the order from it when the metadata does not.
    if (kind == v1::SIGNAL_PAYMENT_SUCCEEDED || kind == v1::SIGNAL_PAYMENT_FAILED) {
        sig.set_payment_intent_id(sig.object_id());
    } else if (auto pi = obj.find("payment_intent"); pi != obj.end()) {
        sig.set_payment_intent_id(pi->is_object() ? text(*pi, "id") : text(obj, "payment_intent"));
    }
    // Ids travel on into SQL, logs and read models: an odd one is refused, not stored.
    for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"data.object.id", &sig.object_id()},
                                       {"data.object.payment_intent", &sig.payment_intent_id()},
                                       {"data.object.metadata.vendor_id", &sig.vendor_id()},
                                       {"data.object.currency", &sig.currency()}})
        if (!value->empty() && !provider_id(*value))
            return std::unexpected(EventError{field, std::string(field) + " must be 1-200 printable ASCII characters"});
    std::string outcome = sig.outcome();
    for (auto& ch : outcome)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
    while (!valid_utf8(outcome)) outcome.pop_back();  // the cut at 500 bytes may split a character
    sig.set_outcome(outcome);
    if (!out.affiliate_payout.empty()) {
        if (!valid_id(out.affiliate_id) || !provider_id(out.affiliate_payout) ||
            out.affiliate_payout.rfind("affiliate-payout-" + out.affiliate_id + "-", 0) != 0)
            return std::unexpected(EventError{"data.object.metadata.affiliate_payout",
                                              "an affiliate payout's transfer names its payout and affiliate"});
        out.handled = true;
        return out;
    }
    out.order_id = valid_id(order_id) ? order_id : "";
    out.handled = lifecycle::handles(kind);
    return out;
}

}  // namespace tally::http::stripe
