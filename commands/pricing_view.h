#pragma once
// Assembles the pricing engine's inputs from stream states (snapshot bytes): the
// same assembly serves a quote (plain reads) and checkout (locked, in the batch),
// so the two can only differ when the catalog itself changed.

#include <expected>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/affiliate.h"
#include "domain/pricing.h"
#include "tally/v1/checkout.pb.h"

namespace tally::commands {

// A stream's state bytes ("" when it has none). Quotes read them, checkout has them
// locked in its batch; neither copies them to price.
using StateOf = std::function<std::string_view(const std::string& stream_id)>;

struct CartError {
    std::string code;
    std::string field;
    std::string detail;
};

// Validates the DTO's shape (currency, quantities, ids) and builds the cart.
std::expected<pricing::Cart, CartError> cart_from(const v1::CartRequest& req);

// Streams to read first: products, site settings, coupons, the customer's credit, profile
// and loyalty, and the loyalty program.
std::vector<std::string> first_streams(const pricing::Cart& cart, const std::string& customer_id);
// Then the vendors of the products found.
std::vector<std::string> vendor_streams(const pricing::Cart& cart, const StateOf& state_of);

struct PricingInputs {
    pricing::Catalog catalog;
    pricing::Customer customer;
    std::string loyalty_tier;  // the tier whose discount customer.loyalty_discount_bps is; empty: none
};

PricingInputs assemble(const pricing::Cart& cart, const std::string& customer_id, const StateOf& state_of);

// The referral sources the coupons (those naming an affiliate, in this order) and the
// customer's profile hold; the cookie is the caller's to add.
affiliate::Sources referral_sources(const std::vector<std::string>& coupon_codes, const std::string& customer_id,
                                    const StateOf& state_of);

// A StateOf over a map of stream id -> state bytes.
StateOf state_of(const std::map<std::string, std::string>& states);

nlohmann::json breakdown_json(const pricing::Breakdown& b);

}  // namespace tally::commands
