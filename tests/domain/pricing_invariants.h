#pragma once
// What every priced breakdown must satisfy, whatever the cart and catalog: splits sum to
// their totals and nothing is negative. Shared by the RapidCheck properties
// (pricing_properties_test.cpp) and the pricing fuzz target (tests/fuzz/fuzz_pricing.cpp).

#include <optional>
#include <string>

#include "domain/pricing.h"

namespace tally::pricing {

// The first property `b` breaks, named; nothing when it holds them all.
inline std::optional<std::string> breakdown_violation(const Breakdown& b, const Catalog& catalog, const Customer& customer) {
#define TALLY_PRICING_EXPECT(cond) \
    if (!(cond)) return std::string(#cond)
    int64_t net = 0, gross = 0, coupon_lines = 0;
    for (const auto& l : b.lines) {
        TALLY_PRICING_EXPECT(l.gross_minor >= 0 && l.unit_minor >= 0);
        TALLY_PRICING_EXPECT(l.bundle_discount_minor >= 0);
        TALLY_PRICING_EXPECT(l.coupon_discount_minor >= 0);
        TALLY_PRICING_EXPECT(l.loyalty_discount_minor >= 0);
        TALLY_PRICING_EXPECT(l.net_minor >= 0);
        TALLY_PRICING_EXPECT(l.net_minor == l.gross_minor - l.bundle_discount_minor - l.coupon_discount_minor -
                                                l.loyalty_discount_minor);
        // A vendor's coupon discounts its own lines only; what it funds is not the platform's.
        TALLY_PRICING_EXPECT(l.platform_funded_minor >= 0 && l.platform_funded_minor <= l.coupon_discount_minor);
        net += l.net_minor;
        gross += l.gross_minor;
        coupon_lines += l.coupon_discount_minor;
    }
    int64_t coupons = 0, platform_funded = 0;
    for (const auto& c : b.coupons) {
        TALLY_PRICING_EXPECT(c.discount_minor >= 0);
        coupons += c.discount_minor;
        if (c.funded_by == kFundedByPlatform) {
            platform_funded += c.discount_minor;
        } else {
            auto it = catalog.coupons.find(c.code);
            TALLY_PRICING_EXPECT(it != catalog.coupons.end() && it->second.funded_by_vendor == c.funded_by);
        }
    }
    TALLY_PRICING_EXPECT(coupons == coupon_lines);
    TALLY_PRICING_EXPECT(platform_funded == b.promotions_minor);
    TALLY_PRICING_EXPECT(net == b.goods_net_minor);
    TALLY_PRICING_EXPECT(gross == b.goods_gross_minor);
    TALLY_PRICING_EXPECT(b.discounts_minor == gross - net);
    int64_t vendor_goods = 0, payable = 0, commission = 0, shipping = 0, promotions = 0;
    for (const auto& v : b.vendors) {
        TALLY_PRICING_EXPECT(v.payable_minor >= 0 && v.shipping_minor >= 0 && v.promotion_minor >= 0);
        // Commission is on the vendor's sale: what the customer paid plus what the platform funds.
        TALLY_PRICING_EXPECT(v.commission_minor >= 0 && v.commission_minor <= v.goods_net_minor + v.promotion_minor);
        TALLY_PRICING_EXPECT(v.payable_minor == v.goods_net_minor + v.promotion_minor + v.shipping_minor - v.commission_minor);
        promotions += v.promotion_minor;
        vendor_goods += v.goods_net_minor;
        payable += v.payable_minor;
        commission += v.commission_minor;
        shipping += v.shipping_minor;
    }
    TALLY_PRICING_EXPECT(vendor_goods == b.goods_net_minor);
    TALLY_PRICING_EXPECT(shipping == b.shipping_minor);
    TALLY_PRICING_EXPECT(commission == b.commission_minor);
    TALLY_PRICING_EXPECT(b.service_fee_minor >= 0);
    TALLY_PRICING_EXPECT(b.total_minor == b.goods_net_minor + b.shipping_minor + b.service_fee_minor);
    TALLY_PRICING_EXPECT(promotions == b.promotions_minor);
    // What the customer pays and the platform's promotions fund is what vendors and the platform are owed.
    TALLY_PRICING_EXPECT(payable + commission + b.service_fee_minor == b.total_minor + b.promotions_minor);
    TALLY_PRICING_EXPECT(b.credit_applied_minor >= 0 && b.credit_applied_minor <= b.total_minor);
    TALLY_PRICING_EXPECT(b.credit_applied_minor <= customer.credit_available_minor);
    TALLY_PRICING_EXPECT(b.amount_due_minor == b.total_minor - b.credit_applied_minor);
    TALLY_PRICING_EXPECT(b.zero_payment == (b.amount_due_minor == 0));
    TALLY_PRICING_EXPECT(b.amount_due_minor == 0 || b.amount_due_minor >= b.currency.minimum_charge_minor());
#undef TALLY_PRICING_EXPECT
    return std::nullopt;
}

}  // namespace tally::pricing
