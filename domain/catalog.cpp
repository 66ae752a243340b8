#include "domain/catalog.h"

#include <cctype>

#include "domain/assert.h"
#include "domain/ids.h"

namespace tally::catalog {
namespace {

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
        case CatalogRejection::coupon_kind_missing: return "coupon_kind_missing";
        case CatalogRejection::coupon_scope_missing: return "coupon_scope_missing";
        case CatalogRejection::window_invalid: return "window_invalid";
    }
    return "unknown";
}

std::string vendor_stream(std::string_view vendor_id) { return "vendor-" + std::string(vendor_id); }
std::string product_stream(std::string_view sku) { return "product-" + std::string(sku); }
std::string coupon_stream(std::string_view code) { return "coupon-" + std::string(code); }
std::string customer_stream(std::string_view customer_id) { return "customer-" + std::string(customer_id); }

std::expected<v1::CatalogSettingsChanged, CatalogRejection> decide(const v1::CatalogSettings& settings) {
    for (const auto& country : settings.ships_to())
        if (!valid_country(country)) return std::unexpected(CatalogRejection::country_invalid);
    for (const auto& b : settings.bundles()) {
        if (!valid_id(b.bundle_id())) return std::unexpected(CatalogRejection::id_invalid);
        for (const auto& sku : b.skus())
            if (!valid_id(sku)) return std::unexpected(CatalogRejection::id_invalid);
    }
    if (!amount_ok(settings.service_fee().fixed_minor())) return std::unexpected(CatalogRejection::amount_out_of_range);
    if (settings.site_commission_bps() > pricing::kBpsMax || settings.service_fee().percent_bps() > pricing::kBpsMax)
        return std::unexpected(CatalogRejection::commission_out_of_range);
    for (const auto& b : settings.bundles())
        if (b.percent_bps() > pricing::kBpsMax) return std::unexpected(CatalogRejection::commission_out_of_range);
    v1::CatalogSettingsChanged e;
    *e.mutable_settings() = settings;
    return e;
}

std::expected<v1::CouponDefined, CatalogRejection> decide(const v1::CouponDefinition& def) {
    if (!valid_id(def.code()) || (def.scope() != v1::SITE && !valid_id(def.scope_id())))
        return std::unexpected(CatalogRejection::id_invalid);
    if (!amount_ok(def.fixed_minor()) || !amount_ok(def.min_spend_minor()) || def.uses_max_total() < 0 ||
        def.uses_max_per_customer() < 0)
        return std::unexpected(CatalogRejection::amount_out_of_range);
    if (def.percent_bps() > pricing::kBpsMax) return std::unexpected(CatalogRejection::commission_out_of_range);
    if (def.kind() != v1::PERCENT && def.kind() != v1::FIXED) return std::unexpected(CatalogRejection::coupon_kind_missing);
    if (def.scope() != v1::SITE && def.scope() != v1::VENDOR && def.scope() != v1::PRODUCT)
        return std::unexpected(CatalogRejection::coupon_scope_missing);
    if (def.has_valid_until_unix_ms() && def.valid_until_unix_ms() <= def.valid_from_unix_ms())
        return std::unexpected(CatalogRejection::window_invalid);
    v1::CouponDefined e;
    *e.mutable_coupon() = def;
    return e;
}

std::expected<v1::VendorDefined, CatalogRejection> decide(const VendorState& state, const v1::VendorDefinition& def) {
    if (!valid_id(def.vendor_id())) return std::unexpected(CatalogRejection::id_invalid);
    if (!def.payout_account().empty() && !valid_id(def.payout_account()))
        return std::unexpected(CatalogRejection::id_invalid);
    if (!Currency::parse(def.currency())) return std::unexpected(CatalogRejection::currency_unknown);
    for (const auto& [country, fee] : def.shipping().per_country_minor())
        if (!valid_country(country)) return std::unexpected(CatalogRejection::country_invalid);
    for (const auto& country : def.ships_to())
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
    const auto& sub = def.subscription_prices();
    if (!amount_ok(sub.week_minor()) || !amount_ok(sub.month_minor()) || !amount_ok(sub.quarter_minor()))
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
                           v.has_commission_bps() ? std::optional<uint32_t>(v.commission_bps()) : std::nullopt, ship,
                           {v.ships_to().begin(), v.ships_to().end()}};
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
    const auto& sub = p.subscription_prices();
    if (sub.has_week_minor()) out.subscription_minor["week"] = sub.week_minor();
    if (sub.has_month_minor()) out.subscription_minor["month"] = sub.month_minor();
    if (sub.has_quarter_minor()) out.subscription_minor["quarter"] = sub.quarter_minor();
    return out;
}

pricing::Coupon to_pricing(const v1::CouponDefinition& c) {
    pricing::Coupon out;
    out.code = c.code();
    out.kind = c.kind() == v1::FIXED ? pricing::CouponKind::fixed : pricing::CouponKind::percent;
    out.percent_bps = c.percent_bps();
    out.fixed_minor = c.fixed_minor();
    out.scope = c.scope() == v1::VENDOR    ? pricing::CouponScope::vendor
                : c.scope() == v1::PRODUCT ? pricing::CouponScope::product
                                           : pricing::CouponScope::site;
    out.scope_id = c.scope_id();
    out.min_spend_minor = c.min_spend_minor();
    out.valid_from_ms = c.valid_from_unix_ms();
    out.valid_until_ms = c.has_valid_until_unix_ms() ? c.valid_until_unix_ms() : INT64_MAX;
    out.uses_max_total = c.uses_max_total();
    out.uses_max_per_customer = c.uses_max_per_customer();
    out.exclusive = c.exclusive();
    out.priority = c.priority();
    out.affiliate_id = c.affiliate_id();
    out.funded_by_vendor = c.funded_by_vendor();
    out.allows_subscriptions = c.allows_subscriptions();
    return out;
}

void apply_settings(const v1::CatalogSettings& s, pricing::Catalog& catalog) {
    catalog.site_commission_bps = s.site_commission_bps();
    catalog.service_fee = {s.service_fee().percent_bps(), s.service_fee().fixed_minor()};
    catalog.ships_to = {s.ships_to().begin(), s.ships_to().end()};
    catalog.bundles.clear();
    for (const auto& b : s.bundles())
        catalog.bundles.push_back({b.bundle_id(), {b.skus().begin(), b.skus().end()}, b.percent_bps()});
}

namespace {

template <typename Definition>
std::optional<std::string> keep_commission(const Definition* current, Definition& wanted) {
    const bool had = current && current->has_commission_bps();
    if (!wanted.has_commission_bps()) {
        if (had) wanted.set_commission_bps(current->commission_bps());
        return std::nullopt;
    }
    if (!had || current->commission_bps() != wanted.commission_bps()) return "commission_bps";
    return std::nullopt;
}

}  // namespace

std::optional<std::string> keep_financial(const v1::VendorDefinition* current, v1::VendorDefinition& wanted) {
    return keep_commission(current, wanted);
}

std::optional<std::string> keep_financial(const v1::ProductDefinition* current, v1::ProductDefinition& wanted) {
    return keep_commission(current, wanted);
}

bool keep_subscription_prices(const v1::ProductDefinition* current, v1::ProductDefinition& wanted) {
    const bool had = current && current->has_subscription_prices();
    if (!wanted.has_subscription_prices()) {
        if (had) *wanted.mutable_subscription_prices() = current->subscription_prices();
        return false;
    }
    return !had || current->subscription_prices().SerializeAsString() != wanted.subscription_prices().SerializeAsString();
}

std::optional<std::string> keep_financial(const v1::CatalogSettings* current, v1::CatalogSettings& wanted) {
    const uint32_t site = current ? current->site_commission_bps() : 0;
    if (wanted.site_commission_bps() == 0) wanted.set_site_commission_bps(site);
    else if (wanted.site_commission_bps() != site) return "site_commission_bps";
    if (!wanted.has_service_fee()) {
        if (current && current->has_service_fee()) *wanted.mutable_service_fee() = current->service_fee();
    } else if (!current || !current->has_service_fee() ||
               current->service_fee().SerializeAsString() != wanted.service_fee().SerializeAsString()) {
        return "service_fee";
    }
    return std::nullopt;
}

}  // namespace tally::catalog
