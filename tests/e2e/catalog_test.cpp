// Catalog commands over HTTP: who may define vendors, products and stock, and
// bad definitions refused with the field named and nothing written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "infra/sql.h"
#include "tests/support/support.h"

namespace tally {
namespace {

using nlohmann::json;

struct Catalog {
    std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd{url, broker.bootstraps()};
    sql::Pool pool{url, 1};
    std::string admin, clerk, manager, ana, bo, auditor;
    std::unique_ptr<http::Client> client;
    int seq = 0;

    Catalog() {
        tallyd.start();
        admin = testing::token_for(url, "admin-1", "admin");
        clerk = testing::token_for(url, "emp-1", "employee", "orders.view");
        manager = testing::token_for(url, "emp-2", "employee", "catalog.manage");
        ana = testing::token_for(url, "ana", "vendor");
        bo = testing::token_for(url, "bo", "vendor");
        auditor = testing::token_for(url, "aud-1", "auditor");
        client = std::make_unique<http::Client>("127.0.0.1", tallyd.port());
    }

    http::ClientResponse send(const std::string& method, const std::string& target, const json& body,
                              const std::string& token) {
        return client->request(method, target, body.dump(),
                               {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "k" + std::to_string(++seq)}});
    }

    int64_t journal_count() {
        int64_t n = 0;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { n = tx.exec("SELECT count(*) FROM journal").at(0).i64(0); }));
        return n;
    }
};

json vendor_body(const char* currency = "USD") {
    return {{"currency", currency}, {"commission_bps", 1200},
            {"shipping", {{"flat_minor", 500}, {"per_country_minor", {{"CA", 900}}}, {"free_over_minor", 10000}}}};
}

json cards_body() {
    return {{"country_of_origin", "DE"},
            {"base_minor", 20},
            {"matrix", json::array({{{"material", "coated"}, {"finish", "gloss"}, {"turnaround", "rush"},
                                     {"breaks", json::array({{{"min_quantity", 250}, {"unit_minor", 19}},
                                                             {{"min_quantity", 500}, {"unit_minor", 16}}})}}})}};
}

}  // namespace

TEST(CatalogHttp, StaffDefineVendorsVendorsDefineTheirOwnProductsAndStock) {
    Catalog c;
    EXPECT_EQ(c.send("PUT", "/v1/vendors/ana", vendor_body(), c.clerk).status, 403);  // lacks catalog.manage
    EXPECT_EQ(c.send("PUT", "/v1/vendors/ana", vendor_body(), c.ana).status, 403);    // vendors do not define vendors
    // The commission is financial configuration: a catalog manager defines the rest.
    auto rate = c.send("PUT", "/v1/vendors/ana", vendor_body(), c.manager);
    EXPECT_EQ(rate.status, 403) << rate.body;
    EXPECT_NE(rate.body.find("financial_setting"), std::string::npos) << rate.body;
    json without_rate = vendor_body();
    without_rate.erase("commission_bps");
    ASSERT_EQ(c.send("PUT", "/v1/vendors/ana", without_rate, c.manager).status, 200);
    auto v = c.send("PUT", "/v1/vendors/ana", vendor_body(), c.admin);
    ASSERT_EQ(v.status, 200) << v.body;
    ASSERT_EQ(c.send("PUT", "/v1/vendors/bo", vendor_body(), c.admin).status, 200);
    EXPECT_EQ(c.journal_count(), 3);

    // A vendor defines its own product (vendor_id defaults to itself) ...
    auto p = c.send("PUT", "/v1/products/cards", cards_body(), c.ana);
    ASSERT_EQ(p.status, 200) << p.body;
    // ... but not another vendor's, and cannot take over one.
    auto other = cards_body();
    other["vendor_id"] = "ana";
    EXPECT_EQ(c.send("PUT", "/v1/products/mugs", other, c.bo).status, 403);
    EXPECT_EQ(c.send("PUT", "/v1/products/cards", cards_body(), c.bo).status, 403);
    // Staff may move nothing: a product never changes vendor.
    auto moved = cards_body();
    moved["vendor_id"] = "bo";
    auto m = c.send("PUT", "/v1/products/cards", moved, c.admin);
    EXPECT_EQ(m.status, 409) << m.body;
    EXPECT_NE(m.body.find("vendor_must_not_change"), std::string::npos);

    // Stock: the product's vendor adjusts it; another vendor may not; never below zero.
    auto s = c.send("POST", "/v1/products/cards/stock-adjustments", {{"delta", 10}, {"reason", "received"}}, c.ana);
    ASSERT_EQ(s.status, 201) << s.body;
    EXPECT_EQ(json::parse(s.body)["available"], 10);
    EXPECT_EQ(c.send("POST", "/v1/products/cards/stock-adjustments", {{"delta", 5}, {"reason", "x"}}, c.bo).status, 403);
    auto neg = c.send("POST", "/v1/products/cards/stock-adjustments", {{"delta", -11}, {"reason", "loss"}}, c.ana);
    EXPECT_EQ(neg.status, 409) << neg.body;
    EXPECT_NE(neg.body.find("would_go_negative"), std::string::npos);
    auto unknown = c.send("POST", "/v1/products/ghost/stock-adjustments", {{"delta", 1}, {"reason", "x"}}, c.admin);
    EXPECT_EQ(unknown.status, 422) << unknown.body;
    EXPECT_EQ(c.journal_count(), 5);

    // Auditors read the definitions from the log.
    auto st = c.client->request("GET", "/v1/streams/product-cards/events", "", {{"Authorization", "Bearer " + c.auditor}});
    auto events = json::parse(st.body)["events"];
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["type"], "ProductDefined");
    EXPECT_EQ(events[0]["payload"]["product"]["vendor_id"], "ana");
    EXPECT_EQ(events[0]["actor"], "ana");
}

TEST(CatalogHttp, BadDefinitionsAreRefusedWithTheFieldNamed) {
    Catalog c;
    ASSERT_EQ(c.send("PUT", "/v1/vendors/ana", vendor_body(), c.admin).status, 200);
    struct Case {
        std::string name;
        std::string target;
        std::string body;
        int status;
        std::string code, field;
    };
    const std::vector<Case> cases = {
        {"unknown field", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":5,"vendor_id":"ana","colour":"red"})", 400, "unknown_field", "colour"},
        {"wrong type", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":"lots","vendor_id":"ana"})", 400, "wrong_type", "base_minor"},
        {"fraction", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":1.5,"vendor_id":"ana"})", 400, "wrong_type", "base_minor"},
        {"not an object", "/v1/products/p1", "[]", 400, "malformed_json", ""},
        {"NUL", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":5,"vendor_id":"ana","matrix":[{"material":"a\u0000"}]})", 422, "invalid_value", ""},
        {"negative price", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":-5,"vendor_id":"ana"})", 422, "amount_out_of_range", ""},
        {"bad country", "/v1/products/p1", R"({"country_of_origin":"Germany","base_minor":5,"vendor_id":"ana"})", 422, "country_invalid", ""},
        {"unknown vendor", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":5,"vendor_id":"zed"})", 422, "vendor_unknown", ""},
        {"bad break", "/v1/products/p1", R"({"country_of_origin":"DE","base_minor":5,"vendor_id":"ana","bulk_tiers":[{"min_quantity":0,"unit_minor":1}]})", 422, "quantity_break_invalid", ""},
        {"currency change", "/v1/vendors/ana", R"({"currency":"EUR"})", 409, "currency_must_not_change", ""},
        {"unknown currency", "/v1/vendors/zed", R"({"currency":"XYZ"})", 422, "currency_unknown", ""},
        {"mismatched id", "/v1/vendors/zed", R"({"vendor_id":"other","currency":"USD"})", 422, "invalid_value", "vendor_id"},
    };
    const int64_t before = c.journal_count();
    for (const auto& tc : cases) {
        auto r = c.client->request("PUT", tc.target, tc.body,
                                   {{"Authorization", "Bearer " + c.admin}, {"Idempotency-Key", "bad-" + tc.name}});
        EXPECT_EQ(r.status, tc.status) << tc.name << ": " << r.body;
        auto j = json::parse(r.body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << tc.name;
        EXPECT_EQ(j["title"], tc.code) << tc.name << ": " << r.body;
        if (!tc.field.empty()) {
            EXPECT_EQ(j["field"], tc.field) << tc.name << ": " << r.body;
        }
    }
    EXPECT_EQ(c.journal_count(), before);
    // Without an Idempotency-Key nothing is even considered.
    EXPECT_EQ(c.client->request("PUT", "/v1/vendors/x", vendor_body().dump(), {{"Authorization", "Bearer " + c.admin}}).status, 400);
}

}  // namespace tally
