#pragma once
// Catalog definitions: vendors and products. Pure validation (decide) and the
// mapping from the recorded definitions to the pricing engine's inputs.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "domain/pricing.h"
#include "tally/v1/catalog.pb.h"

namespace tally::catalog {

enum class CatalogRejection : uint16_t {  // precedence order; numbers are permanent
    id_invalid = 1,
    currency_unknown = 2,
    country_invalid = 3,
    amount_out_of_range = 4,
    commission_out_of_range = 5,
    quantity_break_invalid = 6,
    vendor_unknown = 7,
    vendor_must_not_change = 8,
    currency_must_not_change = 9,
};

std::string_view to_string(CatalogRejection r);

std::string vendor_stream(std::string_view vendor_id);
std::string product_stream(std::string_view sku);

// The current definitions (nothing: never defined).
struct VendorState {
    std::optional<v1::VendorDefinition> vendor;
};
struct ProductState {
    std::optional<v1::ProductDefinition> product;
};

// Pure. Redefining a vendor may change anything but its currency.
std::expected<v1::VendorDefined, CatalogRejection> decide(const VendorState& state, const v1::VendorDefinition& def);

// Pure. `vendor` is the product's vendor as defined now; a product never moves vendors.
std::expected<v1::ProductDefined, CatalogRejection> decide(const ProductState& state, const v1::ProductDefinition& def,
                                                           const VendorState& vendor);

// REQUIRES: definitions that passed decide().
pricing::Vendor to_pricing(const v1::VendorDefinition& v);
pricing::Product to_pricing(const v1::ProductDefinition& p);

}  // namespace tally::catalog
