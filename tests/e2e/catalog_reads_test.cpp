// Catalog reads for storefronts over HTTP: products (filtered by vendor and country of
// origin, in keyset pages, with the matrix, variants and availability from stock, ETag and
// If-None-Match), vendors, and coupons for staff; all from the catalog projection, which
// a rebuild reproduces exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;

struct Storefront : testing::Shop {
    std::string customer = testing::token_for(url, "cus-1", "customer");

    void put(const std::string& target, const json& body) {
        auto r = send("PUT", target, body, admin);
        ASSERT_EQ(r.status, 200) << target << ": " << r.body;
    }
    json read(const std::string& target, const std::string& token) {
        auto r = get(target, token);
        EXPECT_EQ(r.status, 200) << target << ": " << r.body;
        return r.status == 200 ? json::parse(r.body) : json();
    }
    // Every page of a list, following next_cursor; the ids in order.
    std::vector<std::string> walk(const std::string& target, const std::string& key, const std::string& id, int limit) {
        std::vector<std::string> ids;
        std::string cursor;
        for (int pages = 0; pages < 100; ++pages) {
            const std::string sep = target.find('?') == std::string::npos ? "?" : "&";
            json page = read(target + sep + "limit=" + std::to_string(limit) + (cursor.empty() ? "" : "&cursor=" + cursor), customer);
            EXPECT_LE(page[key].size(), static_cast<size_t>(limit));
            for (const auto& item : page[key]) ids.push_back(item[id]);
            if (page["next_cursor"].is_null()) break;
            cursor = page["next_cursor"];
        }
        return ids;
    }
};

TEST(CatalogReads, StorefrontsListFilterAndPageProductsWithListPricesAndStock) {
    Storefront s;
    s.put("/v1/vendors/print", {{"currency", "USD"}, {"commission_bps", 1200}, {"payout_account", "acct_print"},
                                {"shipping", {{"flat_minor", 500}, {"per_country_minor", {{"CA", 900}}}, {"free_over_minor", 20000}}},
                                {"ships_to", {"US", "CA"}}});
    s.put("/v1/vendors/tea", {{"currency", "EUR"}, {"shipping", {{"flat_minor", 300}}}});
    s.put("/v1/products/cards", {{"vendor_id", "print"}, {"country_of_origin", "DE"}, {"base_minor", 20},
                                 {"wholesale_minor", 12}, {"commission_bps", 1500},
                                 {"bulk_tiers", json::array({{{"min_quantity", 100}, {"unit_minor", 18}}})},
                                 {"matrix", json::array({{{"material", "coated"}, {"finish", "gloss"}, {"turnaround", "rush"},
                                                          {"breaks", json::array({{{"min_quantity", 250}, {"unit_minor", 19}}})}}})},
                                 {"variant_overrides", json::array({{{"variant_id", "square"}, {"unit_minor", 25}}})}});
    for (int i = 0; i < 12; ++i)
        s.put("/v1/products/tea-" + std::string(i < 10 ? "0" : "") + std::to_string(i),
              {{"vendor_id", "tea"}, {"country_of_origin", i % 3 == 0 ? "JP" : "CN"}, {"base_minor", 1000 + i}});
    ASSERT_EQ(s.send("POST", "/v1/products/cards/stock-adjustments", {{"delta", 40}, {"reason", "received"}}, s.admin).status, 201);
    s.put("/v1/coupons/TEA10", {{"kind", "PERCENT"}, {"percent_bps", 1000}, {"scope", "VENDOR"}, {"scope_id", "tea"},
                                {"uses_max_total", 5}});
    ASSERT_TRUE(testing::eventually([&] {
        return s.number("SELECT count(*) FROM catalog_products") == 13 && s.number("SELECT count(*) FROM catalog_stock") == 1 &&
               s.number("SELECT count(*) FROM catalog_coupons") == 1;
    }));

    // One product, as a customer sees it: list prices, never wholesale or commission.
    const auto one = s.get("/v1/products/cards", s.customer);
    ASSERT_EQ(one.status, 200) << one.body;
    const json cards = json::parse(one.body);
    EXPECT_EQ(cards["vendor_id"], "print");
    EXPECT_EQ(cards["currency"], "USD");
    EXPECT_EQ(cards["country_of_origin"], "DE");
    EXPECT_EQ(cards["list_price"]["base_minor"], 20);
    EXPECT_EQ(cards["list_price"]["bulk_tiers"][0]["unit_minor"], 18);
    EXPECT_EQ(cards["matrix"][0]["turnaround"], "rush");
    EXPECT_EQ(cards["matrix"][0]["breaks"][0]["unit_minor"], 19);
    EXPECT_EQ(cards["variants"][0]["variant_id"], "square");
    EXPECT_EQ(cards["availability"]["available"], 40);
    EXPECT_EQ(cards["availability"]["in_stock"], true);
    EXPECT_EQ(one.body.find("wholesale"), std::string::npos) << one.body;
    EXPECT_EQ(one.body.find("commission"), std::string::npos) << one.body;
    EXPECT_EQ(s.read("/v1/products/tea-00", s.customer)["availability"]["in_stock"], false) << "no stock counted yet";

    // ETag: the same answer is not sent twice; a stock change makes a new one.
    const std::string etag = one.headers.at("etag");
    EXPECT_EQ(s.client->request("GET", "/v1/products/cards", "",
                                {{"Authorization", "Bearer " + s.customer}, {"If-None-Match", etag}}).status,
              304);
    EXPECT_EQ(s.client->request("GET", "/v1/products/cards", "",
                                {{"Authorization", "Bearer " + s.customer}, {"If-None-Match", "\"other\", W/" + etag}}).status,
              304);
    ASSERT_EQ(s.send("POST", "/v1/products/cards/stock-adjustments", {{"delta", -5}, {"reason", "damaged"}}, s.admin).status, 201);
    ASSERT_TRUE(testing::eventually([&] { return s.read("/v1/products/cards", s.customer)["availability"]["available"] == 35; }));
    const auto changed = s.client->request("GET", "/v1/products/cards", "",
                                           {{"Authorization", "Bearer " + s.customer}, {"If-None-Match", etag}});
    EXPECT_EQ(changed.status, 200);
    EXPECT_NE(changed.headers.at("etag"), etag);

    // Pages: every product once, in order, however the pages fall; filters by index.
    std::vector<std::string> all = s.walk("/v1/products", "products", "sku", 5);
    ASSERT_EQ(all.size(), 13u);
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 13u);
    EXPECT_EQ(s.walk("/v1/products?vendor_id=tea", "products", "sku", 4).size(), 12u);
    const auto japanese = s.walk("/v1/products?vendor_id=tea&country_of_origin=JP", "products", "sku", 2);
    EXPECT_EQ(japanese, (std::vector<std::string>{"tea-00", "tea-03", "tea-06", "tea-09"}));
    EXPECT_TRUE(s.read("/v1/products?vendor_id=nobody", s.customer)["products"].empty());
    EXPECT_EQ(s.read("/v1/products?limit=0", s.customer)["products"].size(), 0u);

    // Vendors: shipping and where they ship; never the payout account or commission.
    EXPECT_EQ(s.walk("/v1/vendors", "vendors", "vendor_id", 1), (std::vector<std::string>{"print", "tea"}));
    const auto vendor = s.get("/v1/vendors/print", s.customer);
    ASSERT_EQ(vendor.status, 200);
    const json print = json::parse(vendor.body);
    EXPECT_EQ(print["shipping"]["per_country_minor"]["CA"], 900);
    EXPECT_EQ(print["shipping"]["free_over_minor"], 20000);
    EXPECT_EQ(print["ships_to"], json({"US", "CA"}));
    EXPECT_EQ(vendor.body.find("acct_print"), std::string::npos);
    EXPECT_EQ(vendor.body.find("commission"), std::string::npos);
    EXPECT_EQ(s.get("/v1/vendors/nobody", s.customer).status, 404);
    EXPECT_EQ(s.get("/v1/products/nothing", s.customer).status, 404);

    // Coupons: staff only.
    const json coupons = s.read("/v1/coupons", s.admin)["coupons"];
    ASSERT_EQ(coupons.size(), 1u);
    EXPECT_EQ(coupons[0]["code"], "TEA10");
    EXPECT_EQ(coupons[0]["uses_max_total"], 5);
    EXPECT_EQ(coupons[0]["uses_total"], 0);
    EXPECT_EQ(s.get("/v1/coupons", s.customer).status, 403);
    EXPECT_EQ(s.get("/v1/coupons", testing::token_for(s.url, "ven-tea", "vendor")).status, 403);
    EXPECT_EQ(s.get("/v1/coupons", testing::token_for(s.url, "aud-1", "auditor")).status, 200);

    // Any principal reads the catalog; nobody without a token.
    for (const std::string role : {"vendor", "affiliate", "storefront", "auditor"})
        EXPECT_EQ(s.get("/v1/products?limit=1", testing::token_for(s.url, role + "-x", role)).status, 200) << role;
    EXPECT_EQ(s.client->request("GET", "/v1/products").status, 401);

    // A definition changed later shows as changed; a rebuild from the log is equal.
    s.put("/v1/products/tea-01", {{"vendor_id", "tea"}, {"country_of_origin", "JP"}, {"base_minor", 1400}});
    ASSERT_TRUE(testing::eventually([&] { return s.read("/v1/products/tea-01", s.customer)["list_price"]["base_minor"] == 1400; }));
    EXPECT_EQ(s.walk("/v1/products?country_of_origin=JP", "products", "sku", 10).size(), 5u);
    const std::string before = s.read("/v1/products?limit=500", s.customer).dump() + s.read("/v1/vendors", s.customer).dump() +
                               s.read("/v1/coupons", s.admin).dump();
    auto rebuilt = s.send("POST", "/v1/projections/catalog/rebuild", {{"reason", "test"}}, s.admin);
    ASSERT_EQ(rebuilt.status, 200) << rebuilt.body;
    EXPECT_EQ(s.read("/v1/products?limit=500", s.customer).dump() + s.read("/v1/vendors", s.customer).dump() +
                  s.read("/v1/coupons", s.admin).dump(),
              before);
}

}  // namespace
}  // namespace tally
