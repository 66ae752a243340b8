// Vendor-run commerce (issue 11, item 10), end to end over HTTP: a vendor's own coupon
// is funded from its payable and a platform coupon from promotions expense, so the
// ledger shows who paid for each discount; refunds take both back; a vendor grants
// wholesale prices on its own products to a customer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

json cart(const std::vector<std::string>& skus, const std::vector<std::string>& coupons) {
    json lines = json::array();
    for (const auto& s : skus) lines.push_back({{"sku", s}, {"quantity", 1}});
    return {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", lines}, {"coupon_codes", coupons}};
}

json vendor_split(const json& breakdown, const std::string& vendor) {
    for (const auto& v : breakdown["vendors"])
        if (v["vendor_id"] == vendor) return v;
    return nullptr;
}

}  // namespace

TEST(VendorCommerce, AVendorsCouponComesOutOfItsPayableAndAPlatformCouponOutOfPromotions) {
    testing::ProviderShop shop;        // ana sells the lamp: 40.00, 5.00 shipping, 10 % commission
    shop.vendor("bo", "acct_bo", "soap");  // bo likewise, the soap
    const std::string ana = testing::token_for(shop.url, "ana", "vendor");
    const std::string bo = testing::token_for(shop.url, "bo", "vendor");
    const json own = {{"kind", "FIXED"}, {"fixed_minor", 1000}, {"scope", "VENDOR"}, {"scope_id", "ana"}};

    // A vendor's coupons: its own vendor or products only, funded by itself, never another's code.
    auto r = shop.send("PUT", "/v1/coupons/ANA10", own, ana);
    ASSERT_EQ(r.status, 200) << r.body;
    r = shop.send("PUT", "/v1/coupons/ANA-BO", {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "VENDOR"}, {"scope_id", "bo"}},
                  ana);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "coupon_scope_not_vendors");
    r = shop.send("PUT", "/v1/coupons/ANA-SOAP",
                  {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "PRODUCT"}, {"scope_id", "soap"}}, ana);
    EXPECT_EQ(r.status, 422) << r.body;
    r = shop.send("PUT", "/v1/coupons/ANA-SITE", {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "SITE"}}, ana);
    EXPECT_EQ(r.status, 422) << r.body;
    r = shop.send("PUT", "/v1/coupons/BO-PAYS", {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "VENDOR"},
                                                 {"scope_id", "bo"}, {"funded_by_vendor", "bo"}}, ana);
    EXPECT_EQ(r.status, 403) << r.body;
    r = shop.send("PUT", "/v1/coupons/ANA10", {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "VENDOR"}, {"scope_id", "bo"}},
                  bo);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "coupon_code_taken");
    ASSERT_EQ(shop.send("PUT", "/v1/coupons/SITE5", {{"kind", "FIXED"}, {"fixed_minor", 500}, {"scope", "SITE"}}, shop.admin).status,
              200);
    r = shop.send("PUT", "/v1/coupons/SITE5", own, ana);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'CouponDefined'"), 2);

    // The quote says who funds each discount. ANA10 first (by code), then SITE5 over what is
    // left: 30.00 of lamp and 40.00 of soap, 2.14 and 2.86.
    const std::string cus = testing::token_for(shop.url, "cus-1", "customer");
    r = shop.send("POST", "/v1/quote", cart({"lamp", "soap"}, {"ANA10", "SITE5"}), cus);
    ASSERT_EQ(r.status, 200) << r.body;
    const json q = json::parse(r.body);
    EXPECT_EQ(q["coupons"][0]["funded_by"], "ana");
    EXPECT_EQ(q["coupons"][1]["funded_by"], "platform");
    EXPECT_EQ(q["promotions_minor"], 500);
    EXPECT_EQ(q["total_minor"], 8000 + 1000 - 1500);
    // ana: paid 27.86 by the customer and 2.14 by the platform; commission on 40.00 as without coupons.
    const json a = vendor_split(q, "ana");
    EXPECT_EQ(a["goods_net_minor"], 2786);
    EXPECT_EQ(a["promotion_minor"], 214);
    EXPECT_EQ(a["commission_minor"], 400);
    EXPECT_EQ(a["payable_minor"], 4100 - 1000);  // its own 10.00 coupon, out of its payable
    const json b = vendor_split(q, "bo");
    EXPECT_EQ(b["promotion_minor"], 286);
    EXPECT_EQ(b["commission_minor"], 400);
    EXPECT_EQ(b["payable_minor"], 4100);  // the platform's coupon costs bo nothing

    json body = cart({"lamp", "soap"}, {"ANA10", "SITE5"});
    body["expected_total_minor"] = q["total_minor"];
    r = shop.send("POST", "/v1/checkout", body, cus);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string order = json::parse(r.body)["order_id"];
    shop.fake.succeed(shop.intent_of(order)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; }));

    // The order says who paid for each discount, and so does the ledger: promotions expense
    // for the platform's, ana's payable for its own.
    json detail;
    ASSERT_TRUE(testing::eventually([&] {
        auto d = shop.get("/v1/orders/" + order, shop.admin);
        if (d.status == 200) detail = json::parse(d.body);
        return d.status == 200;
    }));
    ASSERT_EQ(detail["coupons"].size(), 2u) << detail.dump();
    EXPECT_EQ(detail["coupons"][0]["funded_by"], "ana");
    EXPECT_EQ(detail["coupons"][1]["funded_by"], "platform");
    EXPECT_EQ(detail["promotions_minor"], 500);
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("promotions_expense") == 500; }));
    EXPECT_EQ(shop.balance("vendor_payable:ana"), -3100);
    EXPECT_EQ(shop.balance("vendor_payable:bo"), -4100);
    EXPECT_EQ(shop.balance("platform_commission_revenue"), -800);

    // Refunded in full: the promotion comes back to the platform, the vendors are owed nothing.
    r = shop.send("POST", "/v1/orders/" + order + "/refunds",
                  {{"amount_minor", q["total_minor"]}, {"destination", "card"}, {"reason", "returned"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("promotions_expense") == 0; }));
    EXPECT_EQ(shop.balance("vendor_payable:ana"), 0);
    EXPECT_EQ(shop.balance("vendor_payable:bo"), 0);
    EXPECT_EQ(shop.balance("platform_commission_revenue"), 0);
    std::string out;
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 0) << out;
}

TEST(VendorCommerce, AVendorGrantsWholesaleOnItsOwnProductsToOneCustomer) {
    testing::ProviderShop shop;
    shop.vendor("bo", "acct_bo", "soap");
    for (const std::string sku : {"lamp", "soap"}) {  // both have a wholesale price of 30.00
        const std::string vendor = sku == "lamp" ? "ana" : "bo";
        ASSERT_EQ(shop.send("PUT", "/v1/products/" + sku,
                            {{"vendor_id", vendor}, {"country_of_origin", "DK"}, {"base_minor", 4000}, {"wholesale_minor", 3000}},
                            shop.admin).status, 200);
    }
    const std::string ana = testing::token_for(shop.url, "ana", "vendor");
    const std::string cus = testing::token_for(shop.url, "cus-biz", "customer");
    auto units = [&] {
        auto r = shop.send("POST", "/v1/quote", cart({"lamp", "soap"}, {}), cus);
        EXPECT_EQ(r.status, 200) << r.body;
        const json q = json::parse(r.body);
        return std::make_pair(q["lines"][0]["unit_minor"].get<int64_t>(), q["lines"][1]["unit_minor"].get<int64_t>());
    };
    EXPECT_EQ(units(), std::make_pair(int64_t{4000}, int64_t{4000}));
    // Another vendor's customers are not ana's to grant; a customer never grants.
    EXPECT_EQ(shop.send("PUT", "/v1/vendors/bo/wholesale-customers/cus-biz", json::object(), ana).status, 403);
    EXPECT_EQ(shop.send("PUT", "/v1/vendors/ana/wholesale-customers/cus-biz", json::object(), cus).status, 403);
    EXPECT_EQ(shop.send("PUT", "/v1/vendors/nobody/wholesale-customers/cus-biz", json::object(), shop.admin).status, 422);
    auto r = shop.send("PUT", "/v1/vendors/ana/wholesale-customers/cus-biz", json::object(), ana);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["wholesale"], true);
    EXPECT_EQ(units(), std::make_pair(int64_t{3000}, int64_t{4000}));
    // The staff's site-wide flag is another thing, and setting it keeps ana's grant.
    ASSERT_EQ(shop.send("PUT", "/v1/customers/cus-biz/profile", {{"wholesale_eligible", true}}, shop.admin).status, 200);
    EXPECT_EQ(units(), std::make_pair(int64_t{3000}, int64_t{3000}));
    ASSERT_EQ(shop.send("PUT", "/v1/customers/cus-biz/profile", {{"wholesale_eligible", false}}, shop.admin).status, 200);
    EXPECT_EQ(units(), std::make_pair(int64_t{3000}, int64_t{4000}));
    // Checkout prices it the same, on the server.
    json body = cart({"lamp"}, {});
    body["expected_total_minor"] = 3000 + 500;
    r = shop.send("POST", "/v1/checkout", body, cus);
    EXPECT_EQ(r.status, 201) << r.body;
    // Withdrawn: base prices again.
    r = shop.send("DELETE", "/v1/vendors/ana/wholesale-customers/cus-biz", json::object(), ana);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["wholesale"], false);
    EXPECT_EQ(units(), std::make_pair(int64_t{4000}, int64_t{4000}));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'WholesaleGranted'"), 2);
}

}  // namespace tally
