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
    coupon_kind_missing = 10,
    coupon_scope_missing = 11,
    window_invalid = 12,
};

std::string_view to_string(CatalogRejection r);

std::string vendor_stream(std::string_view vendor_id);
std::string product_stream(std::string_view sku);
std::string coupon_stream(std::string_view code);
std::string customer_stream(std::string_view customer_id);  // the pricing profile
inline constexpr std::string_view kSettingsStream = "catalog-settings";

// The current definitions (nothing: never defined).
struct VendorState {
    std::optional<v1::VendorDefinition> vendor;
};
struct ProductState {
    std::optional<v1::ProductDefinition> product;
};

// Pure. Redefining a vendor may change anything but its currency.
// Financial configuration (commission at every level, the service fee) is finance's: an
// admin's or an employee's with finance.manage (DOMAIN.md, Commission). Anyone else's
// definition keeps the current values where it leaves them out (absent; for the settings'
// site rate, 0), and may not change them: the field it tried to change, else nothing.
std::optional<std::string> keep_financial(const v1::VendorDefinition* current, v1::VendorDefinition& wanted);
std::optional<std::string> keep_financial(const v1::ProductDefinition* current, v1::ProductDefinition& wanted);
std::optional<std::string> keep_financial(const v1::CatalogSettings* current, v1::CatalogSettings& wanted);
// Subscription prices a definition leaves out are kept as they are; true when `wanted`
// changes them (only finance or the product's vendor may).
bool keep_subscription_prices(const v1::ProductDefinition* current, v1::ProductDefinition& wanted);

std::expected<v1::VendorDefined, CatalogRejection> decide(const VendorState& state, const v1::VendorDefinition& def);

// Pure. `vendor` is the product's vendor as defined now; a product never moves vendors.
std::expected<v1::ProductDefined, CatalogRejection> decide(const ProductState& state, const v1::ProductDefinition& def,
                                                           const VendorState& vendor);

// Pure. A bundle naming SKUs not (yet) defined simply never applies; only its shape
// is checked.
std::expected<v1::CatalogSettingsChanged, CatalogRejection> decide(const v1::CatalogSettings& settings);

// Pure. Redefining a coupon keeps its usage counts.
std::expected<v1::CouponDefined, CatalogRejection> decide(const v1::CouponDefinition& def);

// REQUIRES: definitions that passed decide().
pricing::Vendor to_pricing(const v1::VendorDefinition& v);
pricing::Product to_pricing(const v1::ProductDefinition& p);
pricing::Coupon to_pricing(const v1::CouponDefinition& c);
// Site commission, service fee and bundles into `catalog`.
void apply_settings(const v1::CatalogSettings& s, pricing::Catalog& catalog);

}  // namespace tally::catalog
