#include "domain/pricing.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "domain/assert.h"

namespace tally::pricing {
namespace {

// Catalog amounts (prices, shipping, fees, fixed coupons) stay below this, so that
// 100 lines × 1e6 units never overflow int64 and every sum below is exact.
constexpr int64_t kCatalogAmountMax = 10'000'000'000;  // 1e10 minor units

std::unexpected<PricingError> fail(PricingRejection code, std::string subject = "") {
    return std::unexpected(PricingError{code, std::move(subject)});
}

// The break with the largest min_quantity at or below `quantity`, if any.
std::optional<int64_t> pick_break(const std::vector<QuantityBreak>& breaks, int64_t quantity) {
    std::optional<int64_t> best;
    int64_t best_min = 0;
    for (const auto& b : breaks)
        if (b.min_quantity <= quantity && (!best || b.min_quantity > best_min)) {
            best = b.unit_minor;
            best_min = b.min_quantity;
        }
    return best;
}

std::pair<int64_t, PriceSource> resolve_unit(const Product& p, const CartLine& line, const Customer& customer,
                                             const std::string& subscription_interval) {
    if (!subscription_interval.empty()) return {p.subscription_minor.at(subscription_interval), PriceSource::subscription};
    if (!line.variant_id.empty()) return {p.variant_overrides.at(line.variant_id), PriceSource::variant};
    if (auto cell = p.matrix.find(line.options); cell != p.matrix.end())
        if (auto unit = pick_break(cell->second, line.quantity)) return {*unit, PriceSource::matrix};
    if (auto unit = pick_break(p.bulk_tiers, line.quantity)) return {*unit, PriceSource::bulk};
    if ((customer.wholesale_eligible || customer.wholesale_vendors.contains(p.vendor_id)) && p.wholesale_minor) return {*p.wholesale_minor, PriceSource::wholesale};
    return {p.base_minor, PriceSource::base};
}

int64_t remaining(const PricedLine& l) {
    return l.gross_minor - l.bundle_discount_minor - l.coupon_discount_minor - l.loyalty_discount_minor;
}

bool in_scope(const Coupon& c, const PricedLine& l) {
    // A vendor funds discounts on its own lines only, whatever the scope says.
    if (!c.funded_by_vendor.empty() && l.vendor_id != c.funded_by_vendor) return false;
    switch (c.scope) {
        case CouponScope::site: return true;
        case CouponScope::vendor: return l.vendor_id == c.scope_id;
        case CouponScope::product: return l.sku == c.scope_id;
    }
    return false;
}

bool amount_in_range(int64_t v) { return v >= 0 && v <= kCatalogAmountMax; }

}  // namespace

std::string_view to_string(PriceSource s) {
    switch (s) {
        case PriceSource::variant: return "variant";
        case PriceSource::matrix: return "matrix";
        case PriceSource::bulk: return "bulk";
        case PriceSource::wholesale: return "wholesale";
        case PriceSource::base: return "base";
        case PriceSource::subscription: return "subscription";
    }
    return "unknown";
}

std::string_view to_string(PricingRejection r) {
    switch (r) {
        case PricingRejection::cart_empty: return "cart_empty";
        case PricingRejection::too_many_lines: return "too_many_lines";
        case PricingRejection::quantity_out_of_range: return "quantity_out_of_range";
        case PricingRejection::unknown_product: return "unknown_product";
        case PricingRejection::currency_mismatch: return "currency_mismatch";
        case PricingRejection::unsupported_destination: return "unsupported_destination";
        case PricingRejection::not_subscribable: return "not_subscribable";
        case PricingRejection::coupon_not_for_subscriptions: return "coupon_not_for_subscriptions";
        case PricingRejection::unknown_variant: return "unknown_variant";
        case PricingRejection::unknown_coupon: return "unknown_coupon";
        case PricingRejection::coupon_not_active: return "coupon_not_active";
        case PricingRejection::coupon_usage_exhausted: return "coupon_usage_exhausted";
        case PricingRejection::coupon_not_stackable: return "coupon_not_stackable";
        case PricingRejection::coupon_min_spend_not_met: return "coupon_min_spend_not_met";
        case PricingRejection::price_out_of_range: return "price_out_of_range";
        case PricingRejection::amount_too_small_after_credit: return "amount_too_small_after_credit";
    }
    return "unknown";
}

int64_t percent_of(int64_t amount, uint32_t bps) {
    TALLY_ASSERT(amount >= 0, "percent_of a negative amount {}", amount);
    return static_cast<int64_t>(static_cast<__int128>(amount) * bps / kBpsMax);
}

std::vector<int64_t> allocate(int64_t amount, const std::vector<int64_t>& weights) {
    std::vector<int64_t> parts(weights.size(), 0);
    __int128 total = 0;
    for (int64_t w : weights) {
        TALLY_ASSERT(w >= 0, "negative weight {}", w);
        total += w;
    }
    TALLY_ASSERT(amount >= 0, "negative amount {}", amount);
    if (amount == 0 || total == 0) {
        TALLY_ASSERT(amount == 0, "cannot spread {} over zero weight", amount);
        return parts;
    }
    // Floors first, then one unit each to the largest remainders (earlier index on ties).
    std::vector<std::pair<__int128, size_t>> remainders;
    int64_t given = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
        const __int128 exact = static_cast<__int128>(amount) * weights[i];
        parts[i] = static_cast<int64_t>(exact / total);
        given += parts[i];
        remainders.push_back({exact % total, i});
    }
    std::stable_sort(remainders.begin(), remainders.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 0; given < amount; ++k, ++given) ++parts[remainders[k].second];
    return parts;
}

std::expected<Breakdown, PricingError> price(const Cart& cart, const Catalog& catalog, const Customer& customer,
                                             int64_t now_ms) {
    // Rejections in precedence order, each rule over the whole cart.
    if (cart.lines.empty()) return fail(PricingRejection::cart_empty);
    if (static_cast<int64_t>(cart.lines.size()) > kLinesMax) return fail(PricingRejection::too_many_lines);
    for (const auto& l : cart.lines)
        if (l.quantity < 1 || l.quantity > kQuantityMax) return fail(PricingRejection::quantity_out_of_range, l.sku);
    for (const auto& l : cart.lines)
        if (!catalog.products.contains(l.sku) || !catalog.vendors.contains(catalog.products.at(l.sku).vendor_id))
            return fail(PricingRejection::unknown_product, l.sku);
    for (const auto& l : cart.lines)
        if (catalog.vendors.at(catalog.products.at(l.sku).vendor_id).currency != cart.currency)
            return fail(PricingRejection::currency_mismatch, l.sku);
    for (const auto& l : cart.lines)
        if (!l.variant_id.empty() && !catalog.products.at(l.sku).variant_overrides.contains(l.variant_id))
            return fail(PricingRejection::unknown_variant, l.variant_id);
    for (const auto& l : cart.lines) {
        const auto& ships_to = catalog.vendors.at(catalog.products.at(l.sku).vendor_id).ships_to;
        if ((!catalog.ships_to.empty() && !catalog.ships_to.contains(cart.ship_to_country)) ||
            (!ships_to.empty() && !ships_to.contains(cart.ship_to_country)))
            return fail(PricingRejection::unsupported_destination, l.sku);
    }
    if (!cart.subscription_interval.empty())
        for (const auto& l : cart.lines)
            if (!catalog.products.at(l.sku).subscription_minor.contains(cart.subscription_interval))
                return fail(PricingRejection::not_subscribable, l.sku);

    std::vector<std::string> codes;
    for (const auto& code : cart.coupon_codes)
        if (std::find(codes.begin(), codes.end(), code) == codes.end()) codes.push_back(code);
    std::vector<const Coupon*> coupons;
    for (const auto& code : codes) {
        auto it = catalog.coupons.find(code);
        if (it == catalog.coupons.end()) return fail(PricingRejection::unknown_coupon, code);
        coupons.push_back(&it->second);
    }
    for (const auto* c : coupons)
        if (now_ms < c->valid_from_ms || now_ms >= c->valid_until_ms)
            return fail(PricingRejection::coupon_not_active, c->code);
    for (const auto* c : coupons) {
        const auto total_uses = catalog.coupon_uses_total.contains(c->code) ? catalog.coupon_uses_total.at(c->code) : 0;
        const auto mine = customer.coupon_uses.contains(c->code) ? customer.coupon_uses.at(c->code) : 0;
        if ((c->uses_max_total > 0 && total_uses >= c->uses_max_total) ||
            (c->uses_max_per_customer > 0 && mine >= c->uses_max_per_customer))
            return fail(PricingRejection::coupon_usage_exhausted, c->code);
    }
    for (const auto* c : coupons)
        if (c->exclusive && coupons.size() > 1) return fail(PricingRejection::coupon_not_stackable, c->code);
    if (!cart.subscription_interval.empty())
        for (const auto* c : coupons)
            if (!c->allows_subscriptions) return fail(PricingRejection::coupon_not_for_subscriptions, c->code);

    // 1. Unit prices.
    Breakdown out{cart.currency, {}, {}, {}, 0, 0, 0, 0, 0, 0, 0, 0, false, 0};
    for (const auto& l : cart.lines) {
        const Product& p = catalog.products.at(l.sku);
        const Vendor& v = catalog.vendors.at(p.vendor_id);
        auto [unit, source] = resolve_unit(p, l, customer, cart.subscription_interval);
        if (!amount_in_range(unit)) return fail(PricingRejection::price_out_of_range, l.sku);
        const uint32_t rate = p.commission_bps.value_or(v.commission_bps.value_or(catalog.site_commission_bps));
        if (rate > kBpsMax) return fail(PricingRejection::price_out_of_range, l.sku);
        PricedLine pl;
        pl.sku = l.sku;
        pl.vendor_id = p.vendor_id;
        pl.quantity = l.quantity;
        pl.unit_minor = unit;
        pl.source = source;
        pl.gross_minor = unit * l.quantity;  // <= 1e10 × 1e6
        pl.commission_bps = rate;
        out.lines.push_back(pl);
    }

    // 2. Bundles: each complete set of the bundle's SKUs gets percent_bps off; a unit
    // joins at most one bundle (bundles in catalog order, lines in cart order).
    std::vector<int64_t> unbundled;
    for (const auto& l : out.lines) unbundled.push_back(l.quantity);
    for (const auto& b : catalog.bundles) {
        if (b.skus.empty() || b.percent_bps == 0 || b.percent_bps > kBpsMax) continue;
        int64_t sets = INT64_MAX;
        for (const auto& sku : std::set<std::string>(b.skus.begin(), b.skus.end())) {
            int64_t available = 0;
            for (size_t i = 0; i < out.lines.size(); ++i)
                if (out.lines[i].sku == sku) available += unbundled[i];
            sets = std::min(sets, available);
        }
        if (sets == 0) continue;
        for (const auto& sku : std::set<std::string>(b.skus.begin(), b.skus.end())) {
            int64_t need = sets;
            for (size_t i = 0; i < out.lines.size() && need > 0; ++i) {
                if (out.lines[i].sku != sku) continue;
                const int64_t take = std::min(need, unbundled[i]);
                unbundled[i] -= take;
                need -= take;
                out.lines[i].bundle_discount_minor += percent_of(take * out.lines[i].unit_minor, b.percent_bps);
            }
        }
    }

    // 3. Coupons: exclusive alone (checked above), stackable by priority, each on what is left.
    std::stable_sort(coupons.begin(), coupons.end(), [](const Coupon* a, const Coupon* b) {
        return a->priority != b->priority ? a->priority > b->priority : a->code < b->code;
    });
    for (const auto* c : coupons) {
        if (c->kind == CouponKind::percent ? c->percent_bps > kBpsMax : !amount_in_range(c->fixed_minor))
            return fail(PricingRejection::price_out_of_range, c->code);
        std::vector<size_t> eligible;
        int64_t after_bundles = 0, left = 0;
        for (size_t i = 0; i < out.lines.size(); ++i)
            if (in_scope(*c, out.lines[i])) {
                eligible.push_back(i);
                after_bundles += out.lines[i].gross_minor - out.lines[i].bundle_discount_minor;
                left += remaining(out.lines[i]);
            }
        if (eligible.empty() || after_bundles < c->min_spend_minor)
            return fail(PricingRejection::coupon_min_spend_not_met, c->code);
        const int64_t discount =
            c->kind == CouponKind::percent ? percent_of(left, c->percent_bps) : std::min(c->fixed_minor, left);
        std::vector<int64_t> weights;
        for (size_t i : eligible) weights.push_back(remaining(out.lines[i]));
        const auto parts = allocate(discount, weights);
        for (size_t k = 0; k < eligible.size(); ++k) {
            out.lines[eligible[k]].coupon_discount_minor += parts[k];
            if (c->funded_by_vendor.empty()) out.lines[eligible[k]].platform_funded_minor += parts[k];
        }
        out.coupons.push_back(
            {c->code, discount, c->funded_by_vendor.empty() ? std::string(kFundedByPlatform) : c->funded_by_vendor});
    }

    // 4. Loyalty: the tier's percentage on what is left, across all lines.
    if (customer.loyalty_discount_bps > kBpsMax) return fail(PricingRejection::price_out_of_range);
    if (customer.loyalty_discount_bps > 0) {
        std::vector<int64_t> weights;
        int64_t left = 0;
        for (const auto& l : out.lines) {
            weights.push_back(remaining(l));
            left += remaining(l);
        }
        const auto parts = allocate(percent_of(left, customer.loyalty_discount_bps), weights);
        for (size_t i = 0; i < out.lines.size(); ++i) out.lines[i].loyalty_discount_minor = parts[i];
    }

    // 5. Per-vendor goods, shipping and commission (vendors in id order).
    std::map<std::string, VendorSplit> splits;
    std::map<std::string, __int128> commission_exact;
    for (auto& l : out.lines) {
        l.net_minor = remaining(l);
        auto& s = splits[l.vendor_id];
        s.vendor_id = l.vendor_id;
        s.goods_net_minor += l.net_minor;
        s.promotion_minor += l.platform_funded_minor;
        // Coupons are funded (by the platform or the vendor), not price cuts: commission is
        // on the goods before them, whoever pays for the discount.
        commission_exact[l.vendor_id] += static_cast<__int128>(l.net_minor + l.coupon_discount_minor) * l.commission_bps;
        out.goods_gross_minor += l.gross_minor;
        out.goods_net_minor += l.net_minor;
    }
    for (auto& [id, s] : splits) {
        const ShippingRule& rule = catalog.vendors.at(id).shipping;
        auto per_country = rule.per_country_minor.find(cart.ship_to_country);
        const int64_t fee = per_country != rule.per_country_minor.end() ? per_country->second : rule.flat_minor;
        if (!amount_in_range(fee)) return fail(PricingRejection::price_out_of_range, id);
        s.shipping_minor = (rule.free_over_minor && s.goods_net_minor >= *rule.free_over_minor) ? 0 : fee;
        // Never more than the goods bring in (a vendor's coupon may give its goods away).
        s.commission_minor = std::min<int64_t>(static_cast<int64_t>(commission_exact[id] / kBpsMax),
                                               s.goods_net_minor + s.promotion_minor);
        s.payable_minor = s.goods_net_minor + s.promotion_minor + s.shipping_minor - s.commission_minor;
        out.shipping_minor += s.shipping_minor;
        out.commission_minor += s.commission_minor;
        out.promotions_minor += s.promotion_minor;
        out.vendors.push_back(s);
    }
    out.discounts_minor = out.goods_gross_minor - out.goods_net_minor;

    // 6. Service fee, total, store credit last, amount due.
    if (!amount_in_range(catalog.service_fee.fixed_minor) || catalog.service_fee.percent_bps > kBpsMax)
        return fail(PricingRejection::price_out_of_range);
    out.service_fee_minor = catalog.service_fee.fixed_minor + percent_of(out.goods_net_minor, catalog.service_fee.percent_bps);
    out.total_minor = out.goods_net_minor + out.shipping_minor + out.service_fee_minor;
    out.credit_applied_minor =
        cart.apply_credit ? std::clamp<int64_t>(customer.credit_available_minor, 0, out.total_minor) : 0;
    out.amount_due_minor = out.total_minor - out.credit_applied_minor;
    if (out.amount_due_minor > 0 && out.amount_due_minor < cart.currency.minimum_charge_minor())
        return fail(PricingRejection::amount_too_small_after_credit);
    out.zero_payment = out.amount_due_minor == 0;
    return out;
}

}  // namespace tally::pricing
