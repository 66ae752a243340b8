#pragma once
// The pricing engine: a pure function from cart + catalog + customer + time to a
// breakdown. Evaluation order (DOMAIN.md): unit price per line (a subscription's
// order: the subscription price for its interval; else variant override,
// else matrix break for quantity and options, else bulk tier, else wholesale if
// eligible, else base) → bundle discounts → coupons (an exclusive coupon alone;
// stackable ones by priority, each on what the previous left) → loyalty discount →
// per-vendor shipping → service fee → total → store credit (last) → amount due.
//
// Rounding is deterministic: a percentage is floored on the exact product, and an
// amount spread over lines uses the largest-remainder method (ties to the earlier
// line), so every split sums exactly to its total.

#include <cstdint>
#include <expected>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/money.h"

namespace tally::pricing {

inline constexpr int64_t kLinesMax = 100;
inline constexpr int64_t kQuantityMax = 1'000'000;
inline constexpr int64_t kUnitPriceMax = 100'000'000'000;  // 1e11 minor units
inline constexpr uint32_t kBpsMax = 10'000;              // 100 %

struct QuantityBreak {
    int64_t min_quantity = 1;  // applies from this quantity up
    int64_t unit_minor = 0;
};

// Print-shop options; empty strings for products without options.
struct Options {
    std::string material;
    std::string finish;
    std::string turnaround;
    auto operator<=>(const Options&) const = default;
};

struct Product {
    std::string sku;
    std::string vendor_id;
    std::string country_of_origin;
    int64_t base_minor = 0;
    std::vector<QuantityBreak> bulk_tiers;             // any order
    std::optional<int64_t> wholesale_minor;            // for eligible business customers
    std::map<Options, std::vector<QuantityBreak>> matrix;  // quantity breaks per option combination
    std::map<std::string, int64_t> variant_overrides;  // variant id -> unit price; wins over everything
    std::optional<uint32_t> commission_bps;            // product level: the most specific rate
    std::map<std::string, int64_t> subscription_minor = {};  // interval ("week", "month", "quarter") -> unit price
};

struct ShippingRule {
    int64_t flat_minor = 0;
    std::map<std::string, int64_t> per_country_minor;  // ISO country -> price; else flat
    std::optional<int64_t> free_over_minor;            // vendor goods (after discounts) at or above: free
};

struct Vendor {
    std::string id;
    Currency currency;
    std::optional<uint32_t> commission_bps;  // vendor level
    ShippingRule shipping;
    std::set<std::string> ships_to;          // empty: anywhere the site ships
};

// All SKUs in the cart together: each complete set gets `percent_bps` off its unit prices.
struct Bundle {
    std::string id;
    std::vector<std::string> skus;
    uint32_t percent_bps = 0;
};

enum class CouponKind : uint8_t { percent = 1, fixed = 2 };
enum class CouponScope : uint8_t { site = 1, vendor = 2, product = 3 };

struct Coupon {
    std::string code;
    CouponKind kind = CouponKind::percent;
    uint32_t percent_bps = 0;   // kind == percent
    int64_t fixed_minor = 0;    // kind == fixed
    CouponScope scope = CouponScope::site;
    std::string scope_id;       // vendor id or SKU
    int64_t min_spend_minor = 0;  // on the eligible lines after bundle discounts
    int64_t valid_from_ms = 0;
    int64_t valid_until_ms = INT64_MAX;  // exclusive
    int64_t uses_max_total = 0;          // 0: unlimited
    int64_t uses_max_per_customer = 0;   // 0: unlimited
    bool exclusive = false;
    int32_t priority = 0;        // stackable coupons apply in descending priority, then by code
    std::string affiliate_id;    // the affiliate's own coupon (attribution), may be empty
    std::string funded_by_vendor;  // empty: the platform funds it; else that vendor (its own lines only)
    bool allows_subscriptions = false;  // may apply to a subscription's orders
};

struct ServiceFee {
    uint32_t percent_bps = 0;  // of the goods after discounts
    int64_t fixed_minor = 0;   // per order
};

struct Catalog {
    std::map<std::string, Vendor> vendors;
    std::map<std::string, Product> products;
    std::vector<Bundle> bundles;
    std::map<std::string, Coupon> coupons;
    std::map<std::string, int64_t> coupon_uses_total;  // code -> uses so far
    uint32_t site_commission_bps = 0;
    ServiceFee service_fee;
    std::set<std::string> ships_to;  // the site's; empty: anywhere
};

struct Customer {
    std::string id;
    bool wholesale_eligible = false;                   // site-wide, set by staff
    uint32_t loyalty_discount_bps = 0;                 // from the loyalty tier, if any
    int64_t credit_available_minor = 0;                // store-credit balance
    std::map<std::string, int64_t> coupon_uses;        // code -> this customer's uses
    std::set<std::string> wholesale_vendors;           // vendors granting wholesale on their own products
};

struct CartLine {
    std::string sku;
    int64_t quantity = 0;
    Options options;
    std::string variant_id;  // empty: none
};

struct Cart {
    Currency currency;
    std::vector<CartLine> lines;
    std::vector<std::string> coupon_codes;
    std::string ship_to_country;
    bool apply_credit = true;
    // A subscription's order (or its quote): every line at the product's subscription price
    // for this interval, which wins over every other price; only coupons that allow
    // subscriptions apply. Empty: a one-off order.
    std::string subscription_interval = {};
};

enum class PriceSource : uint8_t { variant = 1, matrix = 2, bulk = 3, wholesale = 4, base = 5, subscription = 6 };
std::string_view to_string(PriceSource s);

struct PricedLine {
    std::string sku;
    std::string vendor_id;
    int64_t quantity = 0;
    int64_t unit_minor = 0;
    PriceSource source = PriceSource::base;
    int64_t gross_minor = 0;  // unit × quantity
    int64_t bundle_discount_minor = 0;
    int64_t coupon_discount_minor = 0;
    int64_t loyalty_discount_minor = 0;
    int64_t net_minor = 0;    // gross − all discounts: what the customer pays for the line
    uint32_t commission_bps = 0;
    int64_t platform_funded_minor = 0;  // of coupon_discount_minor, what the platform pays the vendor
};

// Who pays for a coupon's discount: the platform (promotions expense: the vendor is paid as
// if the customer had) or the vendor that defined it (out of its payable). Neither moves
// the platform's commission, which is on the goods after bundle and loyalty discounts,
// before coupons (and never more than the goods bring in).
struct VendorSplit {
    std::string vendor_id;
    int64_t goods_net_minor = 0;
    int64_t shipping_minor = 0;
    int64_t commission_minor = 0;  // platform revenue
    int64_t payable_minor = 0;     // goods_net + promotion + shipping − commission
    int64_t promotion_minor = 0;   // platform-funded coupon discounts on its lines
};

inline constexpr std::string_view kFundedByPlatform = "platform";

struct AppliedCoupon {
    std::string code;
    int64_t discount_minor = 0;
    std::string funded_by;  // kFundedByPlatform or the vendor id
};

struct Breakdown {
    Currency currency;
    std::vector<PricedLine> lines;       // cart order
    std::vector<VendorSplit> vendors;    // by vendor id
    std::vector<AppliedCoupon> coupons;  // in application order
    int64_t goods_gross_minor = 0;
    int64_t discounts_minor = 0;
    int64_t goods_net_minor = 0;
    int64_t shipping_minor = 0;
    int64_t service_fee_minor = 0;
    int64_t total_minor = 0;
    int64_t credit_applied_minor = 0;
    int64_t amount_due_minor = 0;
    bool zero_payment = false;           // credit covers everything: no provider call
    int64_t commission_minor = 0;
    int64_t promotions_minor = 0;        // platform-funded coupon discounts: promotions expense
};

enum class PricingRejection : uint16_t {  // precedence order; numbers are permanent
    cart_empty = 1,
    too_many_lines = 2,
    quantity_out_of_range = 3,
    unknown_product = 4,
    currency_mismatch = 5,
    unknown_variant = 6,
    unknown_coupon = 7,
    coupon_not_active = 8,
    coupon_usage_exhausted = 9,
    coupon_not_stackable = 10,
    coupon_min_spend_not_met = 11,
    price_out_of_range = 12,
    amount_too_small_after_credit = 13,
    unsupported_destination = 14,  // a line's vendor, or the site, does not ship to ship_to_country
    not_subscribable = 15,         // a subscription's line has no subscription price for its interval
    coupon_not_for_subscriptions = 16,
};

std::string_view to_string(PricingRejection r);

struct PricingError {
    PricingRejection code;
    std::string subject;  // the SKU, variant or coupon code at fault, if any
};

// Pure. Deterministic: the same inputs give the same breakdown.
std::expected<Breakdown, PricingError> price(const Cart& cart, const Catalog& catalog, const Customer& customer,
                                             int64_t now_unix_ms);

// Spreads `amount` over `weights` in proportion (largest remainder, ties to the
// earlier index). REQUIRES: amount >= 0, weights >= 0, and a positive sum of
// weights unless amount is 0. The parts sum to `amount` exactly; when amount <=
// sum(weights) no part exceeds its weight.
std::vector<int64_t> allocate(int64_t amount, const std::vector<int64_t>& weights);

// floor(amount × bps / 10000) without overflow. REQUIRES: amount >= 0.
int64_t percent_of(int64_t amount, uint32_t bps);

}  // namespace tally::pricing
