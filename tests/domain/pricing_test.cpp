#include "domain/pricing.h"

#include <gtest/gtest.h>

namespace tally::pricing {
namespace {

const Currency kUsd = *Currency::parse("USD");
constexpr int64_t kNow = 1'800'000'000'000;

// The print shop: business cards priced from a matrix of quantity breaks per
// material × finish × turnaround.
Catalog print_shop() {
    Catalog c;
    c.site_commission_bps = 1000;  // 10 %
    c.vendors.insert_or_assign("print", Vendor{"print", kUsd, std::nullopt, ShippingRule{500, {}, std::nullopt}, {}});
    Product cards;
    cards.sku = "cards";
    cards.vendor_id = "print";
    cards.country_of_origin = "DE";
    cards.base_minor = 20;
    cards.matrix[{"uncoated", "matte", "standard"}] = {{100, 12}, {250, 10}, {500, 8}};
    cards.matrix[{"coated", "gloss", "standard"}] = {{100, 15}, {250, 13}, {500, 11}};
    cards.matrix[{"coated", "gloss", "rush"}] = {{100, 21}, {250, 19}, {500, 16}};
    cards.variant_overrides["cards-sample"] = 0;
    c.products["cards"] = cards;
    return c;
}

Cart cart_of(std::vector<CartLine> lines, std::vector<std::string> coupons = {}) {
    return Cart{kUsd, std::move(lines), std::move(coupons), "US", true};
}

Breakdown ok(const std::expected<Breakdown, PricingError>& r) {
    EXPECT_TRUE(r.has_value()) << (r ? "" : std::string(to_string(r.error().code)) + " " + r.error().subject);
    return r ? *r : Breakdown{kUsd, {}, {}, {}, 0, 0, 0, 0, 0, 0, 0, 0, false, 0};
}

}  // namespace

struct MatrixCase {
    int64_t quantity;
    Options options;
    int64_t unit;
    PriceSource source;
};

class PrintShopMatrix : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(PrintShopMatrix, UnitPriceComesFromTheMatrixBreak) {
    const auto& tc = GetParam();
    auto b = ok(price(cart_of({{"cards", tc.quantity, tc.options, ""}}), print_shop(), Customer{}, kNow));
    ASSERT_EQ(b.lines.size(), 1u);
    EXPECT_EQ(b.lines[0].unit_minor, tc.unit);
    EXPECT_EQ(b.lines[0].source, tc.source);
    EXPECT_EQ(b.lines[0].gross_minor, tc.unit * tc.quantity);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PrintShopMatrix,
    ::testing::Values(
        MatrixCase{250, {"uncoated", "matte", "standard"}, 10, PriceSource::matrix},
        MatrixCase{500, {"uncoated", "matte", "standard"}, 8, PriceSource::matrix},
        MatrixCase{499, {"uncoated", "matte", "standard"}, 10, PriceSource::matrix},  // below the 500 break
        MatrixCase{250, {"coated", "gloss", "standard"}, 13, PriceSource::matrix},     // coated vs uncoated
        MatrixCase{500, {"coated", "gloss", "standard"}, 11, PriceSource::matrix},
        MatrixCase{250, {"coated", "gloss", "rush"}, 19, PriceSource::matrix},         // rush vs standard
        MatrixCase{500, {"coated", "gloss", "rush"}, 16, PriceSource::matrix},
        MatrixCase{50, {"coated", "gloss", "rush"}, 20, PriceSource::base},            // below every break
        MatrixCase{250, {"linen", "matte", "standard"}, 20, PriceSource::base}));      // no such cell

TEST(Pricing, VariantOverrideWinsOverTheMatrix) {
    auto b = ok(price(cart_of({{"cards", 500, {"coated", "gloss", "rush"}, "cards-sample"}}), print_shop(), {}, kNow));
    EXPECT_EQ(b.lines[0].unit_minor, 0);
    EXPECT_EQ(b.lines[0].source, PriceSource::variant);
}

TEST(Pricing, BulkTierThenWholesaleThenBase) {
    Catalog c = print_shop();
    Product mug{"mug", "print", "PT", 1000, {{10, 900}, {50, 800}}, 700, {}, {}, std::nullopt};
    c.products["mug"] = mug;
    Customer retail{"r", false, 0, 0, {}, {}};
    Customer business{"b", true, 0, 0, {}, {}};
    EXPECT_EQ(ok(price(cart_of({{"mug", 5, {}, ""}}), c, retail, kNow)).lines[0].unit_minor, 1000);
    EXPECT_EQ(ok(price(cart_of({{"mug", 5, {}, ""}}), c, business, kNow)).lines[0].unit_minor, 700);
    EXPECT_EQ(ok(price(cart_of({{"mug", 5, {}, ""}}), c, business, kNow)).lines[0].source, PriceSource::wholesale);
    // A bulk tier comes before wholesale in the order of evaluation.
    EXPECT_EQ(ok(price(cart_of({{"mug", 60, {}, ""}}), c, business, kNow)).lines[0].unit_minor, 800);
    EXPECT_EQ(ok(price(cart_of({{"mug", 10, {}, ""}}), c, retail, kNow)).lines[0].source, PriceSource::bulk);
}

namespace {

// A marketplace: three vendors with their own commission and shipping rules.
Catalog marketplace() {
    Catalog c;
    c.site_commission_bps = 1000;
    c.service_fee = {200, 50};  // 2 % + 0.50
    c.vendors.insert_or_assign("ana", Vendor{"ana", kUsd, 1500, ShippingRule{700, {{"CA", 1200}}, 5000}, {}});
    c.vendors.insert_or_assign("bo", Vendor{"bo", kUsd, std::nullopt, ShippingRule{400, {}, std::nullopt}, {}});
    c.vendors.insert_or_assign("cy", Vendor{"cy", kUsd, 500, ShippingRule{0, {}, std::nullopt}, {}});
    c.products["ana-bowl"] = Product{"ana-bowl", "ana", "JP", 2500, {}, std::nullopt, {}, {}, 2000};  // product rate 20 %
    c.products["ana-cup"] = Product{"ana-cup", "ana", "JP", 1200, {}, std::nullopt, {}, {}, std::nullopt};
    c.products["bo-soap"] = Product{"bo-soap", "bo", "FR", 800, {}, std::nullopt, {}, {}, std::nullopt};
    c.products["cy-tea"] = Product{"cy-tea", "cy", "IN", 1500, {}, std::nullopt, {}, {}, std::nullopt};
    c.bundles.push_back(Bundle{"tea-set", {"ana-cup", "cy-tea"}, 1000});  // 10 % off each cup+tea set
    Coupon site10{"SITE10", CouponKind::percent, 1000, 0, CouponScope::site, "", 0, 0, INT64_MAX, 0, 0, false, 1, "", ""};
    Coupon bo5{"BO5", CouponKind::fixed, 0, 500, CouponScope::vendor, "bo", 1000, 0, INT64_MAX, 0, 0, false, 5, "", ""};
    Coupon vip{"VIP", CouponKind::percent, 2500, 0, CouponScope::site, "", 0, 0, INT64_MAX, 0, 0, true, 0, "", ""};
    Coupon once{"ONCE", CouponKind::fixed, 0, 100, CouponScope::site, "", 0, 0, INT64_MAX, 10, 1, false, 0, "", ""};
    Coupon later{"LATER", CouponKind::fixed, 0, 100, CouponScope::site, "", 0, kNow + 1, INT64_MAX, 0, 0, false, 0, "", ""};
    for (const auto& cp : {site10, bo5, vip, once, later}) c.coupons[cp.code] = cp;
    return c;
}

}  // namespace

TEST(Pricing, ThreeVendorsOneCart) {
    auto b = ok(price(cart_of({{"ana-bowl", 1, {}, ""}, {"ana-cup", 2, {}, ""}, {"bo-soap", 3, {}, ""},
                               {"cy-tea", 1, {}, ""}}),
                      marketplace(), Customer{}, kNow));
    // Bundle: one cup+tea set, 10 % off 1200 and 1500.
    EXPECT_EQ(b.lines[1].bundle_discount_minor, 120);
    EXPECT_EQ(b.lines[3].bundle_discount_minor, 150);
    ASSERT_EQ(b.vendors.size(), 3u);
    // ana: bowl 2500 (20 % product rate) + cups 2400 − 120 (15 % vendor rate); under 50.00: flat 7.00.
    EXPECT_EQ(b.vendors[0].vendor_id, "ana");
    EXPECT_EQ(b.vendors[0].goods_net_minor, 2500 + 2280);
    EXPECT_EQ(b.vendors[0].shipping_minor, 700);
    EXPECT_EQ(b.vendors[0].commission_minor, 500 + 342);
    // bo: 2400 at the site rate 10 %, flat 4.00.
    EXPECT_EQ(b.vendors[1].goods_net_minor, 2400);
    EXPECT_EQ(b.vendors[1].shipping_minor, 400);
    EXPECT_EQ(b.vendors[1].commission_minor, 240);
    // cy: 1350 at 5 %, free shipping.
    EXPECT_EQ(b.vendors[2].goods_net_minor, 1350);
    EXPECT_EQ(b.vendors[2].commission_minor, 67);  // 67.5 floored
    EXPECT_EQ(b.goods_net_minor, 8530);
    EXPECT_EQ(b.shipping_minor, 1100);
    EXPECT_EQ(b.service_fee_minor, 50 + 170);  // 2 % of 85.30 = 1.706 → 1.70
    EXPECT_EQ(b.total_minor, 8530 + 1100 + 220);
    EXPECT_EQ(b.amount_due_minor, b.total_minor);
    int64_t payable = 0;
    for (const auto& v : b.vendors) payable += v.payable_minor;
    EXPECT_EQ(payable + b.commission_minor + b.service_fee_minor, b.total_minor);
}

TEST(Pricing, ShippingPerCountryAndFreeOverAThreshold) {
    auto c = marketplace();
    Cart cart = cart_of({{"ana-cup", 1, {}, ""}});
    cart.ship_to_country = "CA";
    EXPECT_EQ(ok(price(cart, c, {}, kNow)).vendors[0].shipping_minor, 1200);
    cart.lines[0].quantity = 5;  // 60.00 of goods, at or over the 50.00 threshold
    EXPECT_EQ(ok(price(cart, c, {}, kNow)).vendors[0].shipping_minor, 0);
}

TEST(Pricing, StackableCouponsApplyByPriorityEachOnWhatIsLeft) {
    auto b = ok(price(cart_of({{"bo-soap", 5, {}, ""}, {"cy-tea", 2, {}, ""}}, {"SITE10", "BO5"}), marketplace(), {},
                      kNow));
    // BO5 (priority 5) first: 5.00 off bo's 40.00. Then SITE10 on what is left: 10 % of 35.00 + 30.00.
    ASSERT_EQ(b.coupons.size(), 2u);
    EXPECT_EQ(b.coupons[0].code, "BO5");
    EXPECT_EQ(b.coupons[0].discount_minor, 500);
    EXPECT_EQ(b.coupons[1].code, "SITE10");
    EXPECT_EQ(b.coupons[1].discount_minor, 650);
    EXPECT_EQ(b.lines[0].coupon_discount_minor + b.lines[1].coupon_discount_minor, 1150);
    EXPECT_EQ(b.goods_net_minor, 4000 + 3000 - 1150);
}

TEST(Pricing, ExclusiveCouponStandsAlone) {
    auto alone = ok(price(cart_of({{"bo-soap", 5, {}, ""}}, {"VIP"}), marketplace(), {}, kNow));
    EXPECT_EQ(alone.coupons[0].discount_minor, 1000);
    auto both = price(cart_of({{"bo-soap", 5, {}, ""}}, {"VIP", "SITE10"}), marketplace(), {}, kNow);
    ASSERT_FALSE(both);
    EXPECT_EQ(both.error().code, PricingRejection::coupon_not_stackable);
    EXPECT_EQ(both.error().subject, "VIP");
}

TEST(Pricing, CouponRulesAreEnforced) {
    auto c = marketplace();
    auto r = price(cart_of({{"bo-soap", 1, {}, ""}}, {"BO5"}), c, {}, kNow);  // 8.00 < 10.00 minimum
    EXPECT_EQ(r.error().code, PricingRejection::coupon_min_spend_not_met);
    r = price(cart_of({{"cy-tea", 1, {}, ""}}, {"BO5"}), c, {}, kNow);  // no line of vendor bo
    EXPECT_EQ(r.error().code, PricingRejection::coupon_min_spend_not_met);
    r = price(cart_of({{"bo-soap", 1, {}, ""}}, {"NOPE"}), c, {}, kNow);
    EXPECT_EQ(r.error().code, PricingRejection::unknown_coupon);
    EXPECT_EQ(r.error().subject, "NOPE");
    r = price(cart_of({{"bo-soap", 1, {}, ""}}, {"LATER"}), c, {}, kNow);
    EXPECT_EQ(r.error().code, PricingRejection::coupon_not_active);
    Customer used{"u", false, 0, 0, {{"ONCE", 1}}, {}};
    r = price(cart_of({{"bo-soap", 1, {}, ""}}, {"ONCE"}), c, used, kNow);
    EXPECT_EQ(r.error().code, PricingRejection::coupon_usage_exhausted);
    c.coupon_uses_total["ONCE"] = 10;
    r = price(cart_of({{"bo-soap", 1, {}, ""}}, {"ONCE"}), c, {}, kNow);
    EXPECT_EQ(r.error().code, PricingRejection::coupon_usage_exhausted);
    // A fixed coupon never takes more than what is left.
    c.coupons["BIG"] = Coupon{"BIG", CouponKind::fixed, 0, 999999, CouponScope::product, "cy-tea", 0, 0, INT64_MAX,
                              0, 0, false, 0, "", ""};
    auto b = ok(price(cart_of({{"cy-tea", 1, {}, ""}, {"bo-soap", 1, {}, ""}}, {"BIG"}), c, {}, kNow));
    EXPECT_EQ(b.lines[0].net_minor, 0);
    EXPECT_EQ(b.lines[1].net_minor, 800);
}

// Who funds a coupon (issue 11): the platform pays its own coupons to the vendor
// (promotions expense; the vendor's sale and commission are as if the customer paid), a
// vendor's coupon comes out of that vendor's payable.
TEST(Pricing, ThePlatformFundsItsCouponsAndAVendorFundsItsOwn) {
    auto c = marketplace();
    c.service_fee = {};
    // bo: 8.00 soap, 4.00 shipping, 10 % site commission.
    const auto plain = ok(price(cart_of({{"bo-soap", 5, {}, ""}}), c, {}, kNow));
    EXPECT_EQ(plain.vendors[0].commission_minor, 400);
    EXPECT_EQ(plain.vendors[0].payable_minor, 4000 + 400 - 400);
    c.coupons["SITE5"] = Coupon{"SITE5", CouponKind::fixed, 0, 500, CouponScope::site, "", 0, 0, INT64_MAX,
                                0, 0, false, 0, "", ""};
    c.coupons["BO5"] = Coupon{"BO5", CouponKind::fixed, 0, 500, CouponScope::vendor, "bo", 0, 0, INT64_MAX,
                              0, 0, false, 0, "", "bo"};
    const auto site = ok(price(cart_of({{"bo-soap", 5, {}, ""}}, {"SITE5"}), c, {}, kNow));
    EXPECT_EQ(site.total_minor, plain.total_minor - 500);
    EXPECT_EQ(site.promotions_minor, 500);
    EXPECT_EQ(site.coupons[0].funded_by, "platform");
    EXPECT_EQ(site.vendors[0].commission_minor, plain.vendors[0].commission_minor);
    EXPECT_EQ(site.vendors[0].payable_minor, plain.vendors[0].payable_minor);
    const auto own = ok(price(cart_of({{"bo-soap", 5, {}, ""}}, {"BO5"}), c, {}, kNow));
    EXPECT_EQ(own.total_minor, plain.total_minor - 500);
    EXPECT_EQ(own.promotions_minor, 0);
    EXPECT_EQ(own.coupons[0].funded_by, "bo");
    EXPECT_EQ(own.vendors[0].commission_minor, plain.vendors[0].commission_minor);  // not the platform's discount
    EXPECT_EQ(own.vendors[0].payable_minor, plain.vendors[0].payable_minor - 500);
    // A vendor's coupon that gives its goods away: no commission on nothing.
    c.coupons["BO5"].fixed_minor = 100000;
    const auto free = ok(price(cart_of({{"bo-soap", 5, {}, ""}}, {"BO5"}), c, {}, kNow));
    EXPECT_EQ(free.vendors[0].commission_minor, 0);
    EXPECT_EQ(free.vendors[0].payable_minor, 400);
    // A vendor's coupon never discounts another vendor's lines, whatever its scope says.
    c.coupons["BO5"].fixed_minor = 500;
    c.coupons["BO5"].scope = CouponScope::site;
    const auto mixed = ok(price(cart_of({{"bo-soap", 1, {}, ""}, {"cy-tea", 1, {}, ""}}, {"BO5"}), c, {}, kNow));
    EXPECT_EQ(mixed.lines[0].coupon_discount_minor, 500);
    EXPECT_EQ(mixed.lines[1].coupon_discount_minor, 0);
}

// A vendor's wholesale grant (issue 11) prices that vendor's products at wholesale for
// that customer; the staff's site-wide flag prices every product that has one.
TEST(Pricing, AVendorsWholesaleGrantCoversItsOwnProductsOnly) {
    auto c = marketplace();
    c.products["bo-soap"].wholesale_minor = 600;
    c.products["cy-tea"].wholesale_minor = 1000;
    Customer granted{"g", false, 0, 0, {}, {"bo"}};
    const auto b = ok(price(cart_of({{"bo-soap", 1, {}, ""}, {"cy-tea", 1, {}, ""}}), c, granted, kNow));
    EXPECT_EQ(b.lines[0].source, PriceSource::wholesale);
    EXPECT_EQ(b.lines[0].unit_minor, 600);
    EXPECT_EQ(b.lines[1].source, PriceSource::base);
    Customer business{"b", true, 0, 0, {}, {}};
    const auto all = ok(price(cart_of({{"bo-soap", 1, {}, ""}, {"cy-tea", 1, {}, ""}}), c, business, kNow));
    EXPECT_EQ(all.lines[1].unit_minor, 1000);
}

TEST(Pricing, LoyaltyDiscountAfterCoupons) {
    Customer gold{"g", false, 500, 0, {}, {}};  // 5 %
    auto b = ok(price(cart_of({{"bo-soap", 5, {}, ""}}, {"SITE10"}), marketplace(), gold, kNow));
    EXPECT_EQ(b.lines[0].coupon_discount_minor, 400);
    EXPECT_EQ(b.lines[0].loyalty_discount_minor, 180);  // 5 % of 36.00
}

TEST(Pricing, StoreCreditLastAndTheMinimumCharge) {
    auto c = marketplace();
    c.service_fee = {};
    Cart cart = cart_of({{"bo-soap", 1, {}, ""}});  // 8.00 + 4.00 shipping
    Customer rich{"r", false, 0, 100000, {}, {}};
    auto paid = ok(price(cart, c, rich, kNow));
    EXPECT_EQ(paid.credit_applied_minor, 1200);
    EXPECT_EQ(paid.amount_due_minor, 0);
    EXPECT_TRUE(paid.zero_payment);
    Customer some{"s", false, 0, 1170, {}, {}};  // leaves 0.30 to pay: under the 0.50 USD minimum
    auto small = price(cart, c, some, kNow);
    ASSERT_FALSE(small);
    EXPECT_EQ(small.error().code, PricingRejection::amount_too_small_after_credit);
    Customer enough{"e", false, 0, 1150, {}, {}};  // leaves exactly 0.50
    EXPECT_EQ(ok(price(cart, c, enough, kNow)).amount_due_minor, 50);
    cart.apply_credit = false;
    EXPECT_EQ(ok(price(cart, c, rich, kNow)).amount_due_minor, 1200);
}

TEST(Pricing, RejectionsInPrecedenceOrder) {
    auto c = marketplace();
    EXPECT_EQ(price(cart_of({}), c, {}, kNow).error().code, PricingRejection::cart_empty);
    std::vector<CartLine> many(101, CartLine{"bo-soap", 1, {}, ""});
    EXPECT_EQ(price(cart_of(many), c, {}, kNow).error().code, PricingRejection::too_many_lines);
    // A zero quantity is reported before an unknown product on another line.
    auto r = price(cart_of({{"ghost", 1, {}, ""}, {"bo-soap", 0, {}, ""}}), c, {}, kNow);
    EXPECT_EQ(r.error().code, PricingRejection::quantity_out_of_range);
    r = price(cart_of({{"ghost", 1, {}, ""}}), c, {}, kNow);
    EXPECT_EQ(r.error().code, PricingRejection::unknown_product);
    EXPECT_EQ(r.error().subject, "ghost");
    c.vendors.insert_or_assign("eu", Vendor{"eu", *Currency::parse("EUR"), std::nullopt, {}, {}});
    c.products["eu-wine"] = Product{"eu-wine", "eu", "FR", 900, {}, std::nullopt, {}, {}, std::nullopt};
    EXPECT_EQ(price(cart_of({{"eu-wine", 1, {}, ""}}), c, {}, kNow).error().code, PricingRejection::currency_mismatch);
    EXPECT_EQ(price(cart_of({{"bo-soap", 1, {}, "no-such"}}), c, {}, kNow).error().code,
              PricingRejection::unknown_variant);
}

TEST(Pricing, QuotingTwiceGivesTheSameAnswer) {
    auto cart = cart_of({{"ana-cup", 3, {}, ""}, {"cy-tea", 2, {}, ""}, {"bo-soap", 7, {}, ""}}, {"SITE10", "BO5"});
    auto a = ok(price(cart, marketplace(), {}, kNow));
    auto b = ok(price(cart, marketplace(), {}, kNow));
    EXPECT_EQ(a.total_minor, b.total_minor);
    for (size_t i = 0; i < a.lines.size(); ++i) EXPECT_EQ(a.lines[i].net_minor, b.lines[i].net_minor);
}

TEST(Allocate, SumsExactlyWithLargestRemainders) {
    EXPECT_EQ(allocate(100, {1, 1, 1}), (std::vector<int64_t>{34, 33, 33}));
    EXPECT_EQ(allocate(2, {1, 1, 1}), (std::vector<int64_t>{1, 1, 0}));
    EXPECT_EQ(allocate(10, {0, 5, 5}), (std::vector<int64_t>{0, 5, 5}));
    EXPECT_EQ(allocate(0, {0, 0}), (std::vector<int64_t>{0, 0}));
    EXPECT_EQ(allocate(7, {3, 0, 4}), (std::vector<int64_t>{3, 0, 4}));
}

TEST(PercentOf, FloorsWithoutOverflow) {
    EXPECT_EQ(percent_of(1706, 1000), 170);
    EXPECT_EQ(percent_of(INT64_MAX, 10000), INT64_MAX);
    EXPECT_EQ(percent_of(999, 1), 0);
}

}  // namespace tally::pricing

namespace tally::pricing {

// Shipping destinations (issue 11): a vendor, or the site, may list where it ships; a
// line that cannot go to ship_to_country is refused, naming its SKU.
TEST(Pricing, ALineThatCannotShipThereIsRefusedNamingItsSku) {
    Catalog c = print_shop();
    Product mug;
    mug.sku = "mug";
    mug.vendor_id = "pots";
    mug.country_of_origin = "PT";
    mug.base_minor = 900;
    c.products["mug"] = mug;
    c.vendors.insert_or_assign("pots", Vendor{"pots", kUsd, std::nullopt, ShippingRule{0, {}, std::nullopt}, {"PT", "ES"}});
    const CartLine cards{"cards", 100, {"uncoated", "matte", "standard"}, ""};
    const CartLine mugs{"mug", 1, {}, ""};
    Cart to_us = cart_of({cards, mugs});
    auto refused = price(to_us, c, Customer{}, kNow);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, PricingRejection::unsupported_destination);
    EXPECT_EQ(refused.error().subject, "mug");
    EXPECT_EQ(to_string(refused.error().code), "unsupported_destination");
    Cart to_pt = to_us;
    to_pt.ship_to_country = "PT";
    ok(price(to_pt, c, Customer{}, kNow));  // the print shop ships anywhere
    // The site's list binds every vendor.
    c.ships_to = {"US", "CA"};
    auto site = price(to_pt, c, Customer{}, kNow);
    ASSERT_FALSE(site);
    EXPECT_EQ(site.error().subject, "cards");
    ok(price(cart_of({cards}), c, Customer{}, kNow));
}

}  // namespace tally::pricing
