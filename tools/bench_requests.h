#pragma once
// The requests tally-bench sends, shared by its load modes and `seed`: a credit grant, a
// five-line checkout across vendors v0..v2 (products v{v}-p{0..9}, 10.00 each, 5.00 flat
// shipping per vendor) and a signed payment_intent.succeeded webhook.

#include <cstdint>
#include <string>

#include "http/load.h"
#include "http/stripe.h"

namespace tally::bench {

inline http::LoadRequest grant(const std::string& auth, const std::string& key, const std::string& customer,
                               int64_t amount_minor) {
    return {"POST", "/v1/customers/" + customer + "/credit-grants",
            "{\"amount_minor\":" + std::to_string(amount_minor) + ",\"currency\":\"USD\",\"reason\":\"bench\"}",
            {{"Authorization", auth}, {"Idempotency-Key", key}}};
}

// Vendors v0 v1 v2 v0 v1; the two lines of a vendor never share a product. Each of a
// customer's checkouts buys a different `first_quantity` of the first line: a shopper does
// not send the same cart again, which the double-click rule would answer with the first
// order instead of placing another.
inline http::LoadRequest checkout(const std::string& auth, const std::string& key, int64_t first_quantity, int64_t i,
                                  const std::string& referral_cookie = "") {
    std::string lines;
    constexpr int kVendorOf[5] = {0, 1, 2, 0, 1};
    for (int k = 0; k < 5; ++k) {
        const int64_t product = (i * 7 + k * 3) % 10;
        lines += std::string(k ? "," : "") + "{\"sku\":\"v" + std::to_string(kVendorOf[k]) + "-p" + std::to_string(product) +
                 "\",\"quantity\":" + std::to_string(k == 0 ? first_quantity : 1) + "}";
    }
    const int64_t total = (first_quantity + 4) * 1000 + 3 * 500;  // 10.00 a unit, 5.00 shipping per vendor
    return {"POST", "/v1/checkout",
            "{\"currency\":\"USD\",\"ship_to_country\":\"US\",\"expected_total_minor\":" + std::to_string(total) +
                (referral_cookie.empty() ? "" : ",\"referral_cookie\":\"" + referral_cookie + "\"") + ",\"lines\":[" +
                lines + "]}",
            {{"Authorization", auth}, {"Idempotency-Key", key}}};
}

inline http::LoadRequest payment_webhook(const std::string& secret, int64_t signed_at, const std::string& key,
                                         const std::string& order, int64_t amount) {
    const std::string a = std::to_string(amount);
    const std::string event = "{\"id\":\"evt_" + key +
                              "\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"created\":" +
                              std::to_string(signed_at) + ",\"data\":{\"object\":{\"id\":\"pi_" + order +
                              "\",\"object\":\"payment_intent\",\"amount\":" + a + ",\"amount_received\":" + a +
                              ",\"currency\":\"usd\",\"metadata\":{\"order_id\":\"" + order + "\"}}}}";
    return {"POST", "/v1/webhooks/stripe", event,
            {{"Stripe-Signature",
              "t=" + std::to_string(signed_at) + ",v1=" + http::stripe::sign_v1(secret, signed_at, event)}}};
}

}  // namespace tally::bench
