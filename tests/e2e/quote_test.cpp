// Quotes over HTTP: the server prices from its own catalog (matrix breaks,
// bundles, coupons, shipping, fees, store credit) and writes nothing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "infra/sql.h"
#include "tests/support/support.h"

namespace tally {
namespace {

using nlohmann::json;

struct Shop {
    std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd{url, broker.bootstraps()};
    sql::Pool pool{url, 1};
    std::string admin, buyer;
    std::unique_ptr<http::Client> client;
    int seq = 0;

    Shop() {
        tallyd.start();
        admin = testing::token_for(url, "admin-1", "admin");
        buyer = testing::token_for(url, "cust-1", "customer");
        client = std::make_unique<http::Client>("127.0.0.1", tallyd.port());
        put("/v1/vendors/print", {{"currency", "USD"}, {"commission_bps", 1200},
                                  {"shipping", {{"flat_minor", 500}, {"per_country_minor", {{"CA", 900}}}, {"free_over_minor", 20000}}}});
        put("/v1/vendors/tea", {{"currency", "USD"}, {"shipping", {{"flat_minor", 300}}}});
        put("/v1/products/cards", {{"vendor_id", "print"}, {"country_of_origin", "DE"}, {"base_minor", 20},
                                   {"matrix", json::array({
                                       {{"material", "coated"}, {"finish", "gloss"}, {"turnaround", "standard"},
                                        {"breaks", json::array({{{"min_quantity", 250}, {"unit_minor", 13}}, {{"min_quantity", 500}, {"unit_minor", 11}}})}},
                                       {{"material", "coated"}, {"finish", "gloss"}, {"turnaround", "rush"},
                                        {"breaks", json::array({{{"min_quantity", 250}, {"unit_minor", 19}}, {{"min_quantity", 500}, {"unit_minor", 16}}})}},
                                       {{"material", "uncoated"}, {"finish", "matte"}, {"turnaround", "standard"},
                                        {"breaks", json::array({{{"min_quantity", 250}, {"unit_minor", 10}}, {{"min_quantity", 500}, {"unit_minor", 8}}})}}})}});
        put("/v1/products/sencha", {{"vendor_id", "tea"}, {"country_of_origin", "JP"}, {"base_minor", 1500}});
        put("/v1/catalog/settings", {{"site_commission_bps", 1000}, {"service_fee", {{"percent_bps", 200}, {"fixed_minor", 50}}},
                                     {"bundles", json::array({{{"bundle_id", "desk"}, {"skus", {"cards", "sencha"}}, {"percent_bps", 0}}})}});
        put("/v1/coupons/TEA10", {{"kind", "PERCENT"}, {"percent_bps", 1000}, {"scope", "VENDOR"}, {"scope_id", "tea"}});
        put("/v1/coupons/VIP", {{"kind", "FIXED"}, {"fixed_minor", 1000}, {"scope", "SITE"}, {"exclusive", true}});
    }

    void put(const std::string& target, const json& body) {
        auto r = client->request("PUT", target, body.dump(),
                                 {{"Authorization", "Bearer " + admin}, {"Idempotency-Key", "setup-" + std::to_string(++seq)}});
        ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    }

    http::ClientResponse quote(const json& body, const std::string& token) {
        return client->request("POST", "/v1/quote", body.dump(), {{"Authorization", "Bearer " + token}});
    }

    int64_t journal_count() {
        int64_t n = 0;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { n = tx.exec("SELECT count(*) FROM journal").at(0).i64(0); }));
        return n;
    }
};

json cards(int64_t quantity, const char* material, const char* finish, const char* turnaround) {
    return {{"sku", "cards"}, {"quantity", quantity}, {"material", material}, {"finish", finish}, {"turnaround", turnaround}};
}

}  // namespace

TEST(QuoteHttp, ThePrintShopMatrixThroughTheApi) {
    Shop s;
    struct Case {
        int64_t quantity;
        const char *material, *finish, *turnaround;
        int64_t unit;
    } cases[] = {{250, "coated", "gloss", "standard", 13}, {500, "coated", "gloss", "standard", 11},
                 {250, "coated", "gloss", "rush", 19},     {500, "coated", "gloss", "rush", 16},
                 {250, "uncoated", "matte", "standard", 10}, {500, "uncoated", "matte", "standard", 8}};
    for (const auto& c : cases) {
        auto r = s.quote({{"currency", "USD"}, {"ship_to_country", "US"},
                          {"lines", json::array({cards(c.quantity, c.material, c.finish, c.turnaround)})}}, s.buyer);
        ASSERT_EQ(r.status, 200) << r.body;
        auto q = json::parse(r.body);
        EXPECT_EQ(q["lines"][0]["unit_minor"], c.unit) << c.quantity << " " << c.material << " " << c.turnaround;
        EXPECT_EQ(q["lines"][0]["price_source"], "matrix");
    }
}

TEST(QuoteHttp, TwoVendorsCouponsFeesCreditAndNothingWritten) {
    Shop s;
    const int64_t before = s.journal_count();
    json cart = {{"currency", "USD"}, {"ship_to_country", "CA"},
                 {"lines", json::array({cards(500, "uncoated", "matte", "standard"), {{"sku", "sencha"}, {"quantity", 2}}})},
                 {"coupon_codes", {"TEA10"}}};
    auto r = s.quote(cart, s.buyer);
    ASSERT_EQ(r.status, 200) << r.body;
    auto q = json::parse(r.body);
    // print: 500 × 0.08 = 40.00, 12 % commission = 4.80, shipping to CA 9.00.
    // tea: 2 × 15.00 = 30.00 − 10 % coupon = 27.00, flat 3.00; the coupon is the platform's, so it
    // pays tea the 3.00 (promotions) and the site commission of 10 % is on 30.00 = 3.00.
    EXPECT_EQ(q["vendors"][0]["vendor_id"], "print");
    EXPECT_EQ(q["vendors"][0]["goods_net_minor"], 4000);
    EXPECT_EQ(q["vendors"][0]["shipping_minor"], 900);
    EXPECT_EQ(q["vendors"][0]["commission_minor"], 480);
    EXPECT_EQ(q["vendors"][1]["goods_net_minor"], 2700);
    EXPECT_EQ(q["vendors"][1]["commission_minor"], 300);
    EXPECT_EQ(q["vendors"][1]["promotion_minor"], 300);
    EXPECT_EQ(q["vendors"][1]["payable_minor"], 2700 + 300 + 300 - 300);
    EXPECT_EQ(q["coupons"][0]["funded_by"], "platform");
    EXPECT_EQ(q["promotions_minor"], 300);
    EXPECT_EQ(q["coupons"][0]["discount_minor"], 300);
    EXPECT_EQ(q["service_fee_minor"], 50 + 134);  // 2 % of 67.00
    EXPECT_EQ(q["total_minor"], 6700 + 1200 + 184);
    EXPECT_EQ(q["amount_due_minor"], 8084);

    // Store credit applies last.
    auto grant = s.client->request("POST", "/v1/customers/cust-1/credit-grants",
                                   json{{"amount_minor", 5000}, {"currency", "USD"}, {"reason", "goodwill"}}.dump(),
                                   {{"Authorization", "Bearer " + s.admin}, {"Idempotency-Key", "g1"}});
    ASSERT_EQ(grant.status, 201);
    q = json::parse(s.quote(cart, s.buyer).body);
    EXPECT_EQ(q["credit_applied_minor"], 5000);
    EXPECT_EQ(q["amount_due_minor"], 3084);
    cart["apply_credit"] = false;
    EXPECT_EQ(json::parse(s.quote(cart, s.buyer).body)["amount_due_minor"], 8084);

    // Refusals name the problem.
    cart["coupon_codes"] = {"TEA10", "VIP"};
    auto excl = s.quote(cart, s.buyer);
    EXPECT_EQ(excl.status, 422);
    EXPECT_NE(excl.body.find("coupon_not_stackable"), std::string::npos) << excl.body;
    cart["coupon_codes"] = {"NOPE"};
    EXPECT_NE(s.quote(cart, s.buyer).body.find("unknown_coupon"), std::string::npos);
    cart["coupon_codes"] = json::array();
    cart["lines"] = json::array({{{"sku", "ghost"}, {"quantity", 1}}});
    EXPECT_NE(s.quote(cart, s.buyer).body.find("unknown_product"), std::string::npos);
    cart["lines"] = json::array({{{"sku", "sencha"}, {"quantity", 0}}});
    auto zero = s.quote(cart, s.buyer);
    EXPECT_EQ(zero.status, 422);
    EXPECT_NE(zero.body.find("lines[0].quantity"), std::string::npos) << zero.body;
    cart["unit_price_minor"] = 1;  // prices are never taken from the client
    EXPECT_EQ(s.quote(cart, s.buyer).status, 400);

    // Quoting wrote nothing beyond the one credit grant.
    EXPECT_EQ(s.journal_count(), before + 1);
    // Vendors and auditors do not request quotes.
    EXPECT_EQ(s.quote(cart, testing::token_for(s.url, "print", "vendor")).status, 403);
}

TEST(QuoteHttp, WholesalePricesForBusinessCustomersOnly) {
    Shop s;
    s.put("/v1/products/mug", {{"vendor_id", "tea"}, {"country_of_origin", "PT"}, {"base_minor", 1000}, {"wholesale_minor", 700}});
    json cart = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "mug"}, {"quantity", 3}}})}};
    EXPECT_EQ(json::parse(s.quote(cart, s.buyer).body)["lines"][0]["unit_minor"], 1000);
    const auto clerk = testing::token_for(s.url, "emp-1", "employee", "catalog.manage");
    auto denied = s.client->request("PUT", "/v1/customers/cust-1/profile", json{{"wholesale_eligible", true}}.dump(),
                                    {{"Authorization", "Bearer " + clerk}, {"Idempotency-Key", "p0"}});
    EXPECT_EQ(denied.status, 403) << denied.body;  // catalog.manage is not customers.manage
    s.put("/v1/customers/cust-1/profile", {{"wholesale_eligible", true}});
    auto q = json::parse(s.quote(cart, s.buyer).body);
    EXPECT_EQ(q["lines"][0]["unit_minor"], 700);
    EXPECT_EQ(q["lines"][0]["price_source"], "wholesale");
    // Another (retail) customer still pays the base price.
    EXPECT_EQ(json::parse(s.quote(cart, testing::token_for(s.url, "cust-9", "customer")).body)["lines"][0]["unit_minor"], 1000);
}

}  // namespace tally
