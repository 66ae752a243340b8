// Checkout over HTTP: server-side prices, price_changed, stock that never
// oversells under 50 concurrent buyers, coupon limits, store credit, idempotency,
// and orders each party may read.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/client.h"
#include "infra/sql.h"
#include "tally/v1/stock.pb.h"
#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;

struct Market : testing::Shop {
    Market() {
        send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"commission_bps", 1500}, {"shipping", {{"flat_minor", 500}}}}, admin);
        send("PUT", "/v1/vendors/bo", {{"currency", "USD"}, {"shipping", {{"flat_minor", 300}}}}, admin);
        send("PUT", "/v1/products/lamp", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 4000}}, admin);
        send("PUT", "/v1/products/soap", {{"vendor_id", "bo"}, {"country_of_origin", "FR"}, {"base_minor", 800}}, admin);
        send("PUT", "/v1/catalog/settings", {{"site_commission_bps", 1000}}, admin);
        send("PUT", "/v1/coupons/FIRST3", {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "SITE"}, {"uses_max_total", 3}}, admin);
        stock("lamp", 10);
        stock("soap", 1000);
    }

    // Catalog definitions must succeed for the tests to mean anything.
    http::ClientResponse send(const std::string& method, const std::string& target, const json& body,
                              const std::string& token, std::string key = "") {
        auto r = testing::Shop::send(method, target, body, token, std::move(key));
        if (method == "PUT") {
            EXPECT_EQ(r.status, 200) << target << ": " << r.body;
        }
        return r;
    }

    void stock(const std::string& sku, int64_t delta) {
        auto r = send("POST", "/v1/products/" + sku + "/stock-adjustments", {{"delta", delta}, {"reason", "received"}}, admin);
        ASSERT_EQ(r.status, 201) << r.body;
    }

    int64_t available(const std::string& sku) {
        v1::StockState s;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            s.ParseFromString(tx.exec("SELECT state FROM snapshots WHERE stream_id = $1", {"stock-" + sku}).at(0).bytes(0));
        }));
        return s.available();
    }

    int64_t count(const std::string& q) {
        int64_t n = 0;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { n = tx.exec(q).at(0).i64(0); }));
        return n;
    }
};

json cart(const std::string& sku, int64_t qty, int64_t expected, std::vector<std::string> coupons = {}) {
    return {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", sku}, {"quantity", qty}}})},
            {"coupon_codes", coupons}, {"expected_total_minor", expected}};
}

}  // namespace

TEST(CheckoutHttp, FiftyBuyersForTenUnitsExactlyTenOrders) {
    Market m;
    constexpr int kBuyers = 50;
    std::vector<std::string> tokens;
    for (int i = 0; i < kBuyers; ++i) tokens.push_back(testing::token_for(m.url, "buyer-" + std::to_string(i), "customer"));
    std::atomic<int> placed{0}, out_of_stock{0}, other{0};
    std::vector<std::thread> buyers;
    for (int i = 0; i < kBuyers; ++i)
        buyers.emplace_back([&, i] {
            http::Client c("127.0.0.1", m.tallyd.port());
            // 40.00 lamp + 5.00 shipping
            auto r = c.request("POST", "/v1/checkout", cart("lamp", 1, 4500).dump(),
                               {{"Authorization", "Bearer " + tokens[i]}, {"Idempotency-Key", "buy"}});
            if (r.status == 201) ++placed;
            else if (r.status == 409 && r.body.find("out_of_stock") != std::string::npos) ++out_of_stock;
            else ++other;
        });
    for (auto& b : buyers) b.join();
    EXPECT_EQ(placed.load(), 10);
    EXPECT_EQ(out_of_stock.load(), 40);
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(m.available("lamp"), 0);
    EXPECT_EQ(m.count("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'"), 10);
    EXPECT_EQ(m.count("SELECT count(*) FROM journal WHERE type = 'StockReserved'"), 10);
}

TEST(CheckoutHttp, PricesAreTheServersIdempotencyAndPriceChanged) {
    Market m;
    const std::string buyer = testing::token_for(m.url, "cust-1", "customer");
    // The client believes the soap costs less: the server answers with its own breakdown.
    auto drift = m.send("POST", "/v1/checkout", cart("soap", 2, 1000), buyer);
    ASSERT_EQ(drift.status, 409) << drift.body;
    auto problem = json::parse(drift.body);
    EXPECT_EQ(problem["title"], "price_changed");
    EXPECT_EQ(problem["breakdown"]["total_minor"], 1900);  // 2 × 8.00 + 3.00
    EXPECT_EQ(m.count("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'"), 0);

    auto first = m.send("POST", "/v1/checkout", cart("soap", 2, 1900), buyer, "order-1");
    ASSERT_EQ(first.status, 201) << first.body;
    auto order = json::parse(first.body);
    EXPECT_EQ(order["status"], "awaiting_payment");
    EXPECT_EQ(order["payment_idempotency_key"].get<std::string>().size(), 32u);
    auto again = m.send("POST", "/v1/checkout", cart("soap", 2, 1900), buyer, "order-1");
    EXPECT_EQ(again.status, 201);
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ(again.headers["idempotent-replayed"], "true");
    auto other_body = m.send("POST", "/v1/checkout", cart("soap", 3, 2700), buyer, "order-1");
    EXPECT_EQ(other_body.status, 422);
    EXPECT_EQ(m.count("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'"), 1);
    EXPECT_EQ(m.available("soap"), 998);
    // Client-side prices are not even accepted as input.
    auto sneaky = cart("soap", 1, 1100);
    sneaky["lines"][0]["unit_minor"] = 1;
    EXPECT_EQ(m.send("POST", "/v1/checkout", sneaky, buyer).status, 400);
    auto no_total = cart("soap", 1, 0);
    no_total.erase("expected_total_minor");
    EXPECT_EQ(m.send("POST", "/v1/checkout", no_total, buyer).status, 400);
}

TEST(CheckoutHttp, CouponLimitsStoreCreditZeroPaymentAndTheMinimumCharge) {
    Market m;
    // The coupon's three uses go to exactly three orders, even when asked for concurrently.
    std::atomic<int> with_coupon{0}, exhausted{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 6; ++i)
        ts.emplace_back([&, i] {
            const auto token = testing::token_for(m.url, "c" + std::to_string(i), "customer");
            http::Client c("127.0.0.1", m.tallyd.port());
            auto r = c.request("POST", "/v1/checkout", cart("soap", 1, 1000, {"FIRST3"}).dump(),
                               {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "k"}});
            if (r.status == 201) ++with_coupon;
            else if (r.body.find("coupon_usage_exhausted") != std::string::npos) ++exhausted;
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(with_coupon.load(), 3);
    EXPECT_EQ(exhausted.load(), 3);

    // Credit covers everything: paid at once, no payment provider.
    const std::string rich = testing::token_for(m.url, "rich", "customer");
    ASSERT_EQ(m.send("POST", "/v1/customers/rich/credit-grants", {{"amount_minor", 5000}, {"currency", "USD"}, {"reason", "vip"}},
                     m.admin).status, 201);
    auto paid = m.send("POST", "/v1/checkout", cart("soap", 1, 1100), rich);
    ASSERT_EQ(paid.status, 201) << paid.body;
    auto o = json::parse(paid.body);
    EXPECT_EQ(o["status"], "paid");
    EXPECT_EQ(o["zero_payment"], true);
    EXPECT_EQ(o["payment_idempotency_key"], "");
    EXPECT_EQ(o["breakdown"]["credit_applied_minor"], 1100);
    // 39.00 left; an order of 39.30 would leave 0.30 to pay: under the 0.50 minimum.
    ASSERT_EQ(m.send("PUT", "/v1/products/soap", {{"vendor_id", "bo"}, {"country_of_origin", "FR"}, {"base_minor", 3630}},
                     m.admin).status, 200);
    auto small = m.send("POST", "/v1/checkout", cart("soap", 1, 3930), rich);
    EXPECT_EQ(small.status, 422) << small.body;
    EXPECT_NE(small.body.find("amount_too_small_after_credit"), std::string::npos);

    // The ledger balances and the credit cache agrees with it.
    const auto auditor = testing::token_for(m.url, "aud", "auditor");
    ASSERT_TRUE(testing::eventually([&] {
        auto l = json::parse(m.client->request("GET", "/v1/ledger/accounts", "", {{"Authorization", "Bearer " + auditor}}).body);
        for (const auto& a : l["accounts"])
            if (a["account"] == "store_credit_liability:rich") return a["balance_minor"] == -3900;
        return false;
    }));
    auto l = json::parse(m.client->request("GET", "/v1/ledger/accounts", "", {{"Authorization", "Bearer " + auditor}}).body);
    EXPECT_EQ(l["totals"]["USD"]["balanced"], true);
    // The credit projection is a separate projector: wait for it too.
    EXPECT_TRUE(testing::eventually([&] {
        auto credit = json::parse(m.client->request("GET", "/v1/customers/rich/credit", "", {{"Authorization", "Bearer " + rich}}).body);
        return credit["balance_minor"] == 3900 && credit["entries"].size() == 2u && credit["entries"][0]["kind"] == "spend";
    }));
}

TEST(CheckoutHttp, EachPartyReadsOnlyWhatIsTheirs) {
    Market m;
    const std::string buyer = testing::token_for(m.url, "cust-1", "customer");
    const std::string stranger = testing::token_for(m.url, "cust-2", "customer");
    const std::string ana = testing::token_for(m.url, "ana", "vendor");
    const std::string bo = testing::token_for(m.url, "bo", "vendor");
    const std::string zed = testing::token_for(m.url, "zed", "vendor");
    json both = {{"currency", "USD"}, {"ship_to_country", "US"},
                 {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}, {{"sku", "soap"}, {"quantity", 2}}})},
                 {"expected_total_minor", 4000 + 500 + 1600 + 300}};
    auto r = m.send("POST", "/v1/checkout", both, buyer);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = json::parse(r.body)["order_id"];
    auto get = [&](const std::string& token) {
        return m.client->request("GET", "/v1/orders/" + id, "", {{"Authorization", "Bearer " + token}});
    };
    ASSERT_TRUE(testing::eventually([&] { return get(buyer).status == 200; }));
    auto mine = json::parse(get(buyer).body);
    EXPECT_EQ(mine["total_minor"], 6400);
    EXPECT_EQ(mine["sub_orders"].size(), 2u);
    EXPECT_EQ(get(stranger).status, 403);
    EXPECT_EQ(get(zed).status, 403);  // a vendor with no part in the order
    auto as_ana = json::parse(get(ana).body);
    ASSERT_EQ(as_ana["sub_orders"].size(), 1u);
    EXPECT_EQ(as_ana["sub_orders"][0]["vendor_id"], "ana");
    ASSERT_EQ(as_ana["lines"].size(), 1u);
    EXPECT_EQ(as_ana["lines"][0]["sku"], "lamp");
    EXPECT_FALSE(as_ana.contains("total_minor"));  // never another vendor's totals
    auto as_bo = json::parse(get(bo).body);
    EXPECT_EQ(as_bo["sub_orders"][0]["payable_minor"], 1600 + 300 - 160);
    // Vendors and auditors do not check out.
    EXPECT_EQ(m.send("POST", "/v1/checkout", both, ana).status, 403);
}

TEST(CheckoutHttp, ListingsFilterPaginateAndKeepVendorsApart) {
    Market m;
    const std::string a = testing::token_for(m.url, "cust-a", "customer");
    const std::string b = testing::token_for(m.url, "cust-b", "customer");
    const std::string ana = testing::token_for(m.url, "ana", "vendor");
    const std::string clerk = testing::token_for(m.url, "emp", "employee", "orders.view");
    // cust-a: 5 soap orders (bo); cust-b: 2 lamp orders (ana) and 1 mixed.
    // (Each to another country: the same cart again within five minutes would be a double click.)
    const std::vector<std::string> countries = {"US", "CA", "GB", "DE", "FR"};
    auto to = [](json c, const std::string& country) {
        c["ship_to_country"] = country;
        return c;
    };
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(m.send("POST", "/v1/checkout", to(cart("soap", 1, 1100), countries[static_cast<size_t>(i)]), a).status, 201);
    for (int i = 0; i < 2; ++i)
        ASSERT_EQ(m.send("POST", "/v1/checkout", to(cart("lamp", 1, 4500), countries[static_cast<size_t>(i)]), b).status, 201);
    json both = {{"currency", "USD"}, {"ship_to_country", "US"},
                 {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}, {{"sku", "soap"}, {"quantity", 1}}})},
                 {"expected_total_minor", 4000 + 500 + 800 + 300}};
    ASSERT_EQ(m.send("POST", "/v1/checkout", both, b).status, 201);
    auto list = [&](const std::string& target, const std::string& token) {
        return m.client->request("GET", target, "", {{"Authorization", "Bearer " + token}});
    };
    ASSERT_TRUE(testing::eventually([&] { return json::parse(list("/v1/orders?limit=200", m.admin).body)["orders"].size() == 8u; }));

    // Pages of 3 walk every order once, newest first.
    std::set<std::string> seen;
    std::string cursor;
    int pages = 0;
    int64_t last_time = INT64_MAX;
    do {
        auto page = json::parse(list("/v1/orders?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), m.admin).body);
        for (const auto& o : page["orders"]) {
            EXPECT_TRUE(seen.insert(o["order_id"]).second) << "duplicate " << o["order_id"];
            EXPECT_LE(o["placed_at_unix_ms"].get<int64_t>(), last_time);
            last_time = o["placed_at_unix_ms"];
        }
        cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
        ++pages;
    } while (!cursor.empty() && pages < 10);
    EXPECT_EQ(seen.size(), 8u);
    EXPECT_EQ(pages, 3);

    // Filters: by vendor and status; a date range that excludes everything.
    EXPECT_EQ(json::parse(list("/v1/orders?vendor_id=ana", m.admin).body)["orders"].size(), 3u);
    EXPECT_EQ(json::parse(list("/v1/orders?status=awaiting_payment", m.admin).body)["orders"].size(), 8u);
    EXPECT_EQ(json::parse(list("/v1/orders?status=paid", m.admin).body)["orders"].size(), 0u);
    EXPECT_EQ(json::parse(list("/v1/orders?to_ms=1", m.admin).body)["orders"].size(), 0u);
    EXPECT_EQ(json::parse(list("/v1/orders", clerk).body)["orders"].size(), 8u);

    // Customers see their own; vendors their sub-orders, never order totals.
    EXPECT_EQ(json::parse(list("/v1/customers/cust-a/orders", a).body)["orders"].size(), 5u);
    EXPECT_EQ(list("/v1/customers/cust-a/orders", b).status, 403);
    auto vendor = json::parse(list("/v1/vendors/ana/orders", ana).body)["orders"];
    ASSERT_EQ(vendor.size(), 3u);
    for (const auto& o : vendor) {
        EXPECT_EQ(o["vendor_id"], "ana");
        EXPECT_FALSE(o.contains("total_minor"));
        EXPECT_EQ(o["goods_net_minor"], 4000);
    }
    EXPECT_EQ(list("/v1/vendors/bo/orders", ana).status, 403);
    EXPECT_EQ(list("/v1/orders", ana).status, 403);
    EXPECT_EQ(list("/v1/orders", a).status, 403);
    EXPECT_EQ(list("/v1/orders?cursor=garbage", m.admin).status, 400);
}

}  // namespace tally
