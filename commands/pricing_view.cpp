#include "commands/pricing_view.h"

#include "domain/catalog.h"
#include "commands/loyalty.h"
#include "commands/pipeline.h"
#include "domain/credit.h"
#include "domain/subscription.h"
#include "tally/v1/customer.pb.h"

namespace tally::commands {

std::expected<pricing::Cart, CartError> cart_from(const v1::CartRequest& req) {
    auto currency = Currency::parse(req.currency());
    if (!currency) return std::unexpected(CartError{"unknown_currency", "currency", req.currency() + " is not a supported currency"});
    if (req.ship_to_country().size() != 2)
        return std::unexpected(CartError{"invalid_value", "ship_to_country", "ship_to_country is an ISO 3166 alpha-2 code"});
    pricing::Cart cart{*currency, {}, {req.coupon_codes().begin(), req.coupon_codes().end()}, req.ship_to_country(),
                       !req.has_apply_credit() || req.apply_credit(), req.subscription_interval()};
    for (int i = 0; i < req.lines_size(); ++i) {
        const auto& l = req.lines(i);
        const std::string field = "lines[" + std::to_string(i) + "]";
        if (l.sku().empty() || l.sku().size() > 64)
            return std::unexpected(CartError{"invalid_value", field + ".sku", "sku is required"});
        if (l.quantity() < 1 || l.quantity() > pricing::kQuantityMax)
            return std::unexpected(CartError{"quantity_out_of_range", field + ".quantity", "quantity must be 1 to 1000000"});
        cart.lines.push_back({l.sku(), l.quantity(), {l.material(), l.finish(), l.turnaround()}, l.variant_id()});
    }
    for (const auto& code : cart.coupon_codes)
        if (code.empty() || code.size() > 64)
            return std::unexpected(CartError{"invalid_value", "coupon_codes", "coupon codes are 1 to 64 characters"});
    if (!req.subscription_interval().empty() && !subscription::parse_interval(req.subscription_interval()))
        return std::unexpected(CartError{"invalid_value", "subscription_interval",
                                         "subscription_interval is week, month or quarter"});
    return cart;
}

std::vector<std::string> first_streams(const pricing::Cart& cart, const std::string& customer_id) {
    std::vector<std::string> ids{std::string(catalog::kSettingsStream), credit::stream_id(customer_id),
                                 catalog::customer_stream(customer_id), loyalty::stream_id(customer_id),
                                 std::string(loyalty::kProgramStream)};
    for (const auto& l : cart.lines) ids.push_back(catalog::product_stream(l.sku));
    for (const auto& code : cart.coupon_codes) ids.push_back(catalog::coupon_stream(code));
    return ids;
}

std::vector<std::string> vendor_streams(const pricing::Cart& cart, const StateOf& state_of) {
    std::vector<std::string> ids;
    for (const auto& l : cart.lines)
        if (auto p = parse_state<v1::ProductDefinition>(state_of(catalog::product_stream(l.sku))))
            ids.push_back(catalog::vendor_stream(p->vendor_id()));
    return ids;
}

PricingInputs assemble(const pricing::Cart& cart, const std::string& customer_id, const StateOf& state_of) {
    PricingInputs in;
    if (auto s = parse_state<v1::CatalogSettings>(state_of(std::string(catalog::kSettingsStream))))
        catalog::apply_settings(*s, in.catalog);
    for (const auto& l : cart.lines) {
        auto p = parse_state<v1::ProductDefinition>(state_of(catalog::product_stream(l.sku)));
        if (!p) continue;  // the engine reports unknown_product
        in.catalog.products[p->sku()] = catalog::to_pricing(*p);
        if (auto v = parse_state<v1::VendorDefinition>(state_of(catalog::vendor_stream(p->vendor_id()))))
            in.catalog.vendors.insert_or_assign(v->vendor_id(), catalog::to_pricing(*v));
    }
    in.customer.id = customer_id;
    if (auto profile = parse_state<v1::CustomerProfile>(state_of(catalog::customer_stream(customer_id)))) {
        in.customer.wholesale_eligible = profile->wholesale_eligible();
        in.customer.wholesale_vendors = {profile->wholesale_vendors().begin(), profile->wholesale_vendors().end()};
    }
    // The tier decided now, from spend, hold and the current program: right even before
    // the re-tiering pass reaches this customer.
    const auto loyal = standing(state_of(loyalty::stream_id(customer_id)), state_of(std::string(loyalty::kProgramStream)),
                                cart.currency.code());
    in.customer.loyalty_discount_bps = loyal.discount_bps;
    in.loyalty_tier = loyal.tier;
    for (const auto& code : cart.coupon_codes) {
        auto c = parse_state<v1::CouponState>(state_of(catalog::coupon_stream(code)));
        if (!c || c->coupon().code().empty()) continue;  // the engine reports unknown_coupon
        in.catalog.coupons[code] = catalog::to_pricing(c->coupon());
        in.catalog.coupon_uses_total[code] = c->uses_total();
        if (auto it = c->uses_by_customer().find(customer_id); it != c->uses_by_customer().end())
            in.customer.coupon_uses[code] = it->second;
    }
    // Store credit counts only in the order's currency.
    const auto account = credit::from_snapshot(customer_id, std::string(state_of(credit::stream_id(customer_id))));
    if (account.currency && *account.currency == cart.currency) in.customer.credit_available_minor = account.balance_minor;
    return in;
}

affiliate::Sources referral_sources(const std::vector<std::string>& coupon_codes, const std::string& customer_id,
                                    const StateOf& state_of) {
    affiliate::Sources sources;
    for (const auto& code : coupon_codes)
        if (auto cs = parse_state<v1::CouponState>(state_of(catalog::coupon_stream(code)));
            cs && !cs->coupon().affiliate_id().empty())
            sources.coupons.emplace_back(code, cs->coupon().affiliate_id());
    if (auto profile = parse_state<v1::CustomerProfile>(state_of(catalog::customer_stream(customer_id)))) {
        if (!profile->referred_by().affiliate_id().empty()) sources.profile = profile->referred_by();
        if (!profile->latest_referral().affiliate_id().empty()) sources.latest = profile->latest_referral();
    }
    return sources;
}

StateOf state_of(const std::map<std::string, std::string>& states) {
    return [&states](const std::string& id) -> std::string_view {
        auto it = states.find(id);
        return it == states.end() ? std::string_view() : std::string_view(it->second);
    };
}

nlohmann::json breakdown_json(const pricing::Breakdown& b) {
    nlohmann::json lines = nlohmann::json::array(), vendors = nlohmann::json::array(), coupons = nlohmann::json::array();
    for (const auto& l : b.lines)
        lines.push_back({{"sku", l.sku}, {"vendor_id", l.vendor_id}, {"quantity", l.quantity}, {"unit_minor", l.unit_minor},
                         {"price_source", std::string(pricing::to_string(l.source))}, {"gross_minor", l.gross_minor},
                         {"bundle_discount_minor", l.bundle_discount_minor},
                         {"coupon_discount_minor", l.coupon_discount_minor},
                         {"loyalty_discount_minor", l.loyalty_discount_minor}, {"net_minor", l.net_minor},
                         {"platform_funded_minor", l.platform_funded_minor}});
    for (const auto& v : b.vendors)
        vendors.push_back({{"vendor_id", v.vendor_id}, {"goods_net_minor", v.goods_net_minor},
                           {"shipping_minor", v.shipping_minor}, {"commission_minor", v.commission_minor},
                           {"payable_minor", v.payable_minor}, {"promotion_minor", v.promotion_minor}});
    for (const auto& c : b.coupons)
        coupons.push_back({{"code", c.code}, {"discount_minor", c.discount_minor}, {"funded_by", c.funded_by}});
    return {{"currency", std::string(b.currency.code())}, {"lines", lines}, {"vendors", vendors}, {"coupons", coupons},
            {"goods_gross_minor", b.goods_gross_minor}, {"discounts_minor", b.discounts_minor},
            {"goods_net_minor", b.goods_net_minor}, {"shipping_minor", b.shipping_minor},
            {"service_fee_minor", b.service_fee_minor}, {"total_minor", b.total_minor},
            {"credit_applied_minor", b.credit_applied_minor}, {"amount_due_minor", b.amount_due_minor},
            {"zero_payment", b.zero_payment}, {"commission_minor", b.commission_minor},
            {"promotions_minor", b.promotions_minor}};
}

}  // namespace tally::commands
