#pragma once
// The requests tally-bench sends, shared by its load modes and `seed`: a credit grant, a
// five-line checkout across vendors v0..v2 (products v{v}-p{0..9}, 10.00 each, 5.00 flat
// shipping per vendor) and a signed payment_intent.succeeded webhook.

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/load.h"
#include "http/stripe.h"

namespace tally::bench {

// "Bearer {token}" for each non-empty line of a file of tokens (none if it cannot be read).
inline std::vector<std::string> bearer_tokens(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back("Bearer " + line);
    return out;
}

// The p-quantile of sorted latencies (0 when there are none).
inline double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
    return sorted[i];
}

inline http::LoadRequest grant(const std::string& auth, const std::string& key, const std::string& customer,
                               int64_t amount_minor) {
    return {"POST", "/v1/customers/" + customer + "/credit-grants",
            "{\"amount_minor\":" + std::to_string(amount_minor) + ",\"currency\":\"USD\",\"reason\":\"bench\"}",
            {{"Authorization", auth}, {"Idempotency-Key", key}}};
}

// The checkout cart: vendors v0 v1 v2 v0 v1; the two lines of a vendor never share a
// product. Each of a customer's checkouts buys a different `first_quantity` of the first
// line: a shopper does not send the same cart again, which the double-click rule would
// answer with the first order instead of placing another.
inline std::vector<std::pair<std::string, int64_t>> cart_lines(int64_t first_quantity, int64_t i) {
    std::vector<std::pair<std::string, int64_t>> lines;
    constexpr int kVendorOf[5] = {0, 1, 2, 0, 1};
    for (int k = 0; k < 5; ++k) {
        const int64_t product = (i * 7 + k * 3) % 10;
        lines.emplace_back("v" + std::to_string(kVendorOf[k]) + "-p" + std::to_string(product), k == 0 ? first_quantity : 1);
    }
    return lines;
}

// The cart as a request body; with `expected_total_minor` when it is a checkout.
inline std::string cart_body(int64_t first_quantity, int64_t i, std::optional<int64_t> expected_total_minor,
                             const std::string& referral_cookie = "") {
    std::string lines;
    for (const auto& [sku, quantity] : cart_lines(first_quantity, i))
        lines += std::string(lines.empty() ? "" : ",") + "{\"sku\":\"" + sku + "\",\"quantity\":" + std::to_string(quantity) + "}";
    return "{\"currency\":\"USD\",\"ship_to_country\":\"US\"" +
           (expected_total_minor ? ",\"expected_total_minor\":" + std::to_string(*expected_total_minor) : std::string()) +
           (referral_cookie.empty() ? "" : ",\"referral_cookie\":\"" + referral_cookie + "\"") + ",\"lines\":[" + lines + "]}";
}

// A checkout of that cart; the total is the list price (10.00 a unit, 5.00 shipping per
// vendor) unless the caller took it from a quote.
inline http::LoadRequest checkout(const std::string& auth, const std::string& key, int64_t first_quantity, int64_t i,
                                  const std::string& referral_cookie = "",
                                  std::optional<int64_t> expected_total_minor = std::nullopt) {
    const int64_t list_total = (first_quantity + 4) * 1000 + 3 * 500;
    return {"POST", "/v1/checkout", cart_body(first_quantity, i, expected_total_minor.value_or(list_total), referral_cookie),
            {{"Authorization", auth}, {"Idempotency-Key", key}}};
}

// A monthly subscription to one product (v0-p{i mod 10}) at its subscription price (9.00 a
// unit, 5.00 shipping), `quantity` units, paid with a saved test card.
inline http::LoadRequest subscribe(const std::string& auth, const std::string& key, int64_t quantity, int64_t i) {
    const std::string sku = "v0-p" + std::to_string(i % 10);
    return {"POST", "/v1/subscriptions",
            "{\"currency\":\"USD\",\"interval\":\"month\",\"ship_to_country\":\"US\",\"payment_method\":\"pm_card_visa\","
            "\"lines\":[{\"sku\":\"" + sku + "\",\"quantity\":" + std::to_string(quantity) + "}],\"expected_total_minor\":" +
                std::to_string(quantity * 900 + 500) + "}",
            {{"Authorization", auth}, {"Idempotency-Key", key}}};
}

inline http::LoadRequest quote(const std::string& auth, int64_t first_quantity, int64_t i) {
    return {"POST", "/v1/quote", cart_body(first_quantity, i, std::nullopt), {{"Authorization", auth}}};
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
