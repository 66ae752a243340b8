#include "domain/catalog.h"

#include <cctype>

#include "domain/assert.h"

namespace tally::catalog {
namespace {

// Ids travel in stream ids and URLs: 1..64 of [A-Za-z0-9._-].
bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

bool valid_country(std::string_view c) {
    return c.size() == 2 && std::isupper(static_cast<unsigned char>(c[0])) && std::isupper(static_cast<unsigned char>(c[1]));
}

constexpr int64_t kAmountMax = 10'000'000'000;  // the pricing engine's bound on catalog amounts

bool amount_ok(int64_t v) { return v >= 0 && v <= kAmountMax; }

bool breaks_ok(const google::protobuf::RepeatedPtrField<v1::QuantityBreak>& breaks) {
    for (const auto& b : breaks)
        if (b.min_quantity() < 1 || b.min_quantity() > pricing::kQuantityMax || !amount_ok(b.unit_minor())) return false;
    return true;
}

std::vector<pricing::QuantityBreak> breaks_of(const google::protobuf::RepeatedPtrField<v1::QuantityBreak>& breaks) {
    std::vector<pricing::QuantityBreak> out;
    for (const auto& b : breaks) out.push_back({b.min_quantity(), b.unit_minor()});
    return out;
}

}  // namespace

std::string_view to_string(CatalogRejection r) {
    switch (r) {
        case CatalogRejection::id_invalid: return "id_invalid";
        case CatalogRejection::currency_unknown: return "currency_unknown";
        case CatalogRejection::country_invalid: return "country_invalid";
        case CatalogRejection::amount_out_of_range: return "amount_out_of_range";
        case CatalogRejection::commission_out_of_range: return "commission_out_of_range";
        case CatalogRejection::quantity_break_invalid: return "quantity_break_invalid";
        case CatalogRejection::vendor_unknown: return "vendor_unknown";
        case CatalogRejection::vendor_must_not_change: return "vendor_must_not_change";
        case CatalogRejection::currency_must_not_change: return "currency_must_not_change";
    }
    return "unknown";
}

std::string vendor_stream(std::string_view vendor_id) { return "vendor-" + std::string(vendor_id); }
std::string product_stream(std::string_view sku) { return "product-" + std::string(sku); }

std::expected<v1::VendorDefined, CatalogRejection> decide(const VendorState& state, const v1::VendorDefinition& def) {
    if (!valid_id(def.vendor_id())) return std::unexpected(CatalogRejection::id_invalid);
    if (!Currency::parse(def.currency())) return std::unexpected(CatalogRejection::currency_unknown);
    for (const auto& [country, fee] : def.shipping().per_country_minor())
        if (!valid_country(country)) return std::unexpected(CatalogRejection::country_invalid);
    if (!amount_ok(def.shipping().flat_minor()) || !amount_ok(def.shipping().free_over_minor()))
        return std::unexpected(CatalogRejection::amount_out_of_range);
    for (const auto& [country, fee] : def.shipping().per_country_minor())
        if (!amount_ok(fee)) return std::unexpected(CatalogRejection::amount_out_of_range);
    if (def.commission_bps() > pricing::kBpsMax) return std::unexpected(CatalogRejection::commission_out_of_range);
    if (state.vendor && state.vendor->currency() != def.currency())
        return std::unexpected(CatalogRejection::currency_must_not_change);
    v1::VendorDefined e;
    *e.mutable_vendor() = def;
    return e;
}

std::expected<v1::ProductDefined, CatalogRejection> decide(const ProductState& state, const v1::ProductDefinition& def,
                                                           const VendorState& vendor) {
    if (!valid_id(def.sku()) || !valid_id(def.vendor_id())) return std::unexpected(CatalogRejection::id_invalid);
    for (const auto& v : def.variant_overrides())
        if (!valid_id(v.variant_id())) return std::unexpected(CatalogRejection::id_invalid);
    if (!valid_country(def.country_of_origin())) return std::unexpected(CatalogRejection::country_invalid);
    if (!amount_ok(def.base_minor()) || !amount_ok(def.wholesale_minor()))
        return std::unexpected(CatalogRejection::amount_out_of_range);
    for (const auto& v : def.variant_overrides())
        if (!amount_ok(v.unit_minor())) return std::unexpected(CatalogRejection::amount_out_of_range);
    if (def.commission_bps() > pricing::kBpsMax) return std::unexpected(CatalogRejection::commission_out_of_range);
    if (!breaks_ok(def.bulk_tiers())) return std::unexpected(CatalogRejection::quantity_break_invalid);
    for (const auto& cell : def.matrix())
        if (!breaks_ok(cell.breaks())) return std::unexpected(CatalogRejection::quantity_break_invalid);
    if (!vendor.vendor || vendor.vendor->vendor_id() != def.vendor_id())
        return std::unexpected(CatalogRejection::vendor_unknown);
    if (state.product && state.product->vendor_id() != def.vendor_id())
        return std::unexpected(CatalogRejection::vendor_must_not_change);
    v1::ProductDefined e;
    *e.mutable_product() = def;
    return e;
}

pricing::Vendor to_pricing(const v1::VendorDefinition& v) {
    auto currency = Currency::parse(v.currency());
    TALLY_ASSERT(currency.has_value(), "vendor {} has unknown currency {}", v.vendor_id(), v.currency());
    pricing::ShippingRule ship;
    ship.flat_minor = v.shipping().flat_minor();
    for (const auto& [country, fee] : v.shipping().per_country_minor()) ship.per_country_minor[country] = fee;
    if (v.shipping().has_free_over_minor()) ship.free_over_minor = v.shipping().free_over_minor();
    return pricing::Vendor{v.vendor_id(), *currency,
                           v.has_commission_bps() ? std::optional<uint32_t>(v.commission_bps()) : std::nullopt, ship};
}

pricing::Product to_pricing(const v1::ProductDefinition& p) {
    pricing::Product out;
    out.sku = p.sku();
    out.vendor_id = p.vendor_id();
    out.country_of_origin = p.country_of_origin();
    out.base_minor = p.base_minor();
    out.bulk_tiers = breaks_of(p.bulk_tiers());
    if (p.has_wholesale_minor()) out.wholesale_minor = p.wholesale_minor();
    for (const auto& cell : p.matrix())
        out.matrix[{cell.material(), cell.finish(), cell.turnaround()}] = breaks_of(cell.breaks());
    for (const auto& v : p.variant_overrides()) out.variant_overrides[v.variant_id()] = v.unit_minor();
    if (p.has_commission_bps()) out.commission_bps = p.commission_bps();
    return out;
}

}  // namespace tally::catalog
