#pragma once
// Checkout: one multi-stream command. It locks the order, each SKU's stock, the
// customer's credit and each coupon, reads the catalog streams it prices from; re-prices
// on the server; answers price_changed if the client's total drifted; reserves
// stock, redeems coupons and spends credit; and places the order. All or nothing.
// A second checkout of the same cart within five minutes, while the first order still
// awaits payment, places nothing and answers 200 with the first order (the double-click
// rule), decided in the batch on the customer's fresh checkout record. Who referred the
// order is decided in the batch too, on the coupons, profile and affiliates as they are
// (domain/affiliate.h); an order paid on placing earns its affiliate there and then.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands/loyalty_switch.h"
#include "commands/pipeline.h"
#include "domain/affiliate.h"
#include "domain/pricing.h"

namespace tally::commands {

// A subscription's first order (POST /v1/subscriptions): the subscription starts in the
// same batch, anchored at the order's placing; the cart carries the interval.
struct SubscriptionStart {
    std::string subscription_id;
    std::string payment_method;
};

struct CheckoutRequest {
    pricing::Cart cart;
    std::string customer_id;
    std::string order_id;                     // derived from principal + Idempotency-Key
    int64_t expected_total_minor = 0;
    std::vector<std::string> vendor_streams;  // resolved from the products before the batch
    std::string cart_hash;                    // for the payment idempotency key and the double-click rule
    std::string duplicate_candidate;          // the order an identical recent checkout placed, read before the batch
    // A storefront's checkout for a guest: customer_id is guest_customer_id(storefront_id, guest_email).
    std::string storefront_id;
    std::string guest_email;
    bool loyalty = loyalty_enabled();  // TALLY_LOYALTY: a zero-payment order's spend counts in its batch
    // Attribution (domain/affiliate.h), decided in the batch: the referral cookie (its
    // signature verified at the edge), the definitions of the affiliates the sources named
    // when read before the batch, and how long a referral visit attributes.
    std::optional<affiliate::CookieClaim> referral_cookie = std::nullopt;
    std::vector<std::string> affiliate_streams = {};
    int64_t attribution_recent_ms = 0;
    std::optional<SubscriptionStart> subscription = std::nullopt;
};

std::unique_ptr<Command> checkout(CheckoutRequest req);

// What placing an order writes besides the order, shared by checkout and renewals (each
// stream locked by the command): one reservation per SKU (out_of_stock when short, and
// then nothing is to be kept), and each applied coupon's use.
std::optional<Rejection> reserve_stock(Accepted& a, const std::map<std::string, StreamState>& states,
                                       const std::vector<pricing::CartLine>& lines, const std::string& order_id);
void redeem_coupons(Accepted& a, const std::map<std::string, StreamState>& states,
                    const std::vector<pricing::AppliedCoupon>& coupons, const std::string& order_id,
                    const std::string& customer_id);

// A guest's customer id: "guest-" + 32 hex digits of SHA-256 over the storefront and the
// e-mail address (trimmed, lower-cased), so the same guest at the same storefront is one
// customer, and no two storefronts share one.
std::string guest_customer_id(std::string_view storefront_id, std::string_view email);

// The address as the id derives it: surrounding spaces trimmed, ASCII letters lower-cased.
std::string normalize_email(std::string_view email);

// "ord-" + 20 hex digits of the command id.
std::string order_id_for(const std::string& command_id);
// "sub-" + 20 hex digits of the command id.
std::string subscription_id_for(const std::string& command_id);

}  // namespace tally::commands
