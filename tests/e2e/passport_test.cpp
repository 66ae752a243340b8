// Passports over HTTP: stamps from paid orders (through signed webhooks), a stamp lost
// on a full refund and kept on a partial one, badges, the leaderboard naming only who
// opted in, and the auditor's reconciliation with a rebuild.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "domain/passport.h"
#include "infra/migrate.h"
#include "infra/sql.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

struct PassportShop : testing::ProviderShop {
    PassportShop() {
        // Beans from Ethiopia and tea from Kenya, beside ana's Danish lamp.
        for (const auto& [sku, country] : std::vector<std::pair<std::string, std::string>>{{"beans", "ET"}, {"tea", "KE"}}) {
            EXPECT_EQ(send("PUT", "/v1/products/" + sku, {{"vendor_id", "ana"}, {"country_of_origin", country}, {"base_minor", 1000}},
                           admin).status, 200);
            EXPECT_EQ(send("POST", "/v1/products/" + sku + "/stock-adjustments", {{"delta", 100}, {"reason", "received"}}, admin).status,
                      201);
        }
    }
    // A paid order of these lines (sku, quantity); its total.
    std::pair<std::string, int64_t> pay(const std::string& customer, const std::vector<std::pair<std::string, int>>& lines) {
        json l = json::array();
        int64_t total = 500;
        for (const auto& [sku, q] : lines) {
            l.push_back({{"sku", sku}, {"quantity", q}});
            total += (sku == "lamp" ? 4000 : 1000) * q;
        }
        auto r = send("POST", "/v1/checkout", {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", l}, {"expected_total_minor", total}},
                      testing::token_for(url, customer, "customer"));
        EXPECT_EQ(r.status, 201) << r.body;
        const std::string order = json::parse(r.body).value("order_id", "");
        fake.succeed(intent_of(order)["id"]);
        EXPECT_TRUE(testing::eventually([&] { return status(order) == "paid"; }));
        return {order, total};
    }
    json passport(const std::string& customer) {
        auto r = get("/v1/customers/" + customer + "/passport", admin);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body) : json::object();
    }
    std::vector<std::string> countries(const std::string& customer) {
        std::vector<std::string> out;
        const json p = passport(customer);
        for (const auto& s : p["stamps"]) out.push_back(s["country"]);
        std::sort(out.begin(), out.end());
        return out;
    }
};

TEST(PassportE2E, StampsFillFromPaidOrdersAndAFullRefundTakesOneAway) {
    PassportShop shop;
    const std::string c = "cus-pp";
    const auto [first, first_total] = shop.pay(c, {{"lamp", 1}, {"beans", 2}});
    ASSERT_TRUE(testing::eventually([&] { return shop.countries(c) == std::vector<std::string>{"DK", "ET"}; }))
        << shop.passport(c);
    auto p = shop.passport(c);
    EXPECT_EQ(p["countries"], 2);
    EXPECT_EQ(p["badges"], json::array({"countries_1", "continent_AF", "continent_EU"}));
    // An unpaid order stamps nothing.
    auto unpaid = shop.send("POST", "/v1/checkout",
                            {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "tea"}, {"quantity", 1}}})},
                             {"expected_total_minor", 1500}},
                            testing::token_for(shop.url, c, "customer"));
    ASSERT_EQ(unpaid.status, 201) << unpaid.body;
    const auto [second, second_total] = shop.pay(c, {{"beans", 1}});
    ASSERT_TRUE(testing::eventually([&] {
        const json now = shop.passport(c);
        for (const auto& s : now["stamps"])
            if (s["country"] == "ET") return s["orders"].size() == 2 && s["units"] == 3;
        return false;
    })) << shop.passport(c);
    EXPECT_EQ(shop.countries(c), (std::vector<std::string>{"DK", "ET"}));
    int64_t et_first = 0;
    const json before_refunds = shop.passport(c);
    for (const auto& s : before_refunds["stamps"])
        if (s["country"] == "ET") et_first = s["first_purchase_unix_ms"];
    EXPECT_GT(et_first, 0);

    // A partial refund keeps the stamps; a full refund of the first order takes DK away,
    // and ET stays on the second order.
    auto r = shop.send("POST", "/v1/orders/" + first + "/refunds",
                       {{"amount_minor", 1000}, {"destination", "card"}, {"reason", "dented"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    r = shop.send("POST", "/v1/orders/" + first + "/refunds",
                  {{"amount_minor", first_total - 1000}, {"destination", "card"}, {"reason", "returned"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.countries(c) == std::vector<std::string>{"ET"}; })) << shop.passport(c);
    p = shop.passport(c);
    EXPECT_EQ(p["stamps"][0]["orders"], json::array({second}));
    EXPECT_EQ(p["stamps"][0]["units"], 1);
    EXPECT_EQ(p["stamps"][0]["products"], json::array({"beans"}));
    // ET's first purchase is now the second order's.
    EXPECT_GT(p["stamps"][0]["first_purchase_unix_ms"].get<int64_t>(), et_first) << p;
    EXPECT_EQ(p["badges"], json::array({"countries_1", "continent_AF"}));

    // Read by the customer; not by another.
    EXPECT_EQ(shop.get("/v1/customers/" + c + "/passport", testing::token_for(shop.url, c, "customer")).status, 200);
    EXPECT_EQ(shop.get("/v1/customers/" + c + "/passport", testing::token_for(shop.url, "cus-nosy", "customer")).status, 403);

    // The auditor's reconciliation agrees; catches stamps edited by hand; a rebuild fixes them.
    std::string out;
    // Clean with nothing pending: every projector has applied every event, so none of them
    // rewrites this customer's stamps after the edit below (which would hide it).
    ASSERT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(shop.url, out); })) << out;
    // Edited again if a late event (the vendor's payout, a second after payment) left the
    // passport projector pending on it, or rewrote the stamps, before reconcile looked.
    EXPECT_TRUE(testing::eventually([&] {
        EXPECT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
            tx.exec("INSERT INTO passport_stamps VALUES ($1, 'DK', 'EU', 1, 1) ON CONFLICT (customer_id, country) DO NOTHING",
                    {c});
            tx.exec("INSERT INTO passport_stamp_orders VALUES ($1, 'DK', 'x', 1) ON CONFLICT DO NOTHING", {c});
            tx.exec("INSERT INTO passport_stamp_products VALUES ($1, 'DK', 'lamp', 1) ON CONFLICT DO NOTHING", {c});
            tx.exec("UPDATE passport_counts SET countries = 7 WHERE customer_id = $1", {c});
        }));
        return testing::run_replay(shop.url, "reconcile", out) == 1 &&
               out.find("passport_stamps " + c + " DK: cached 1 units/1 orders/first 1/lamp, log (no stamp)") != std::string::npos;
    })) << out;
    EXPECT_NE(out.find("passport_counts " + c + " countries [badges]: cached 7"), std::string::npos) << out;
    auto rebuilt = shop.send("POST", "/v1/projections/passport/rebuild", json::object(), shop.admin);
    ASSERT_EQ(rebuilt.status, 200) << rebuilt.body;
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 0) << out;
    EXPECT_EQ(shop.countries(c), (std::vector<std::string>{"ET"}));
}

TEST(PassportE2E, TheLeaderboardRanksByCountriesAndNamesOnlyWhoOptedIn) {
    PassportShop shop;
    shop.pay("cus-three", {{"lamp", 1}, {"beans", 1}, {"tea", 1}});
    shop.pay("cus-two", {{"beans", 1}, {"tea", 1}});
    shop.pay("cus-one", {{"tea", 1}});
    // cus-three opts in with a name; cus-two names itself but does not opt in.
    const auto three = testing::token_for(shop.url, "cus-three", "customer");
    auto r = shop.send("PUT", "/v1/customers/cus-three/profile", {{"display_name", "Ama"}, {"leaderboard_opt_in", true}}, three);
    ASSERT_EQ(r.status, 200) << r.body;
    r = shop.send("PUT", "/v1/customers/cus-two/profile", {{"display_name", "Bo"}},
                  testing::token_for(shop.url, "cus-two", "customer"));
    ASSERT_EQ(r.status, 200) << r.body;
    // A customer may not make themselves a wholesale buyer, nor change another's profile.
    EXPECT_EQ(shop.send("PUT", "/v1/customers/cus-three/profile", {{"wholesale_eligible", true}}, three).status, 403);
    EXPECT_EQ(shop.send("PUT", "/v1/customers/cus-two/profile", {{"leaderboard_opt_in", true}}, three).status, 403);
    EXPECT_EQ(shop.send("PUT", "/v1/customers/cus-three/profile", {{"display_name", std::string(65, 'a')}}, three).status, 422);
    // Staff may opt a customer out again; the name stays.
    const auto vendor = testing::token_for(shop.url, "ana", "vendor");
    json board;
    ASSERT_TRUE(testing::eventually([&] {
        auto got = shop.get("/v1/passport/leaderboard?limit=10", vendor);
        if (got.status != 200) return false;
        board = json::parse(got.body)["entries"];
        return board.size() == 3 && board[0]["display_name"] == "Ama";
    })) << board;
    EXPECT_EQ(board[0]["rank"], 1);
    EXPECT_EQ(board[0]["countries"], 3);
    EXPECT_EQ(board[1]["countries"], 2);
    EXPECT_TRUE(board[1]["display_name"].is_null()) << board;
    EXPECT_TRUE(board[2]["display_name"].is_null()) << board;
    EXPECT_EQ(board[2]["rank"], 3);
    // Entries carry no customer ids.
    EXPECT_FALSE(board[0].contains("customer_id"));
    r = shop.send("PUT", "/v1/customers/cus-three/profile", {{"leaderboard_opt_in", false}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["display_name"], "Ama");
    ASSERT_TRUE(testing::eventually([&] {
        auto got = json::parse(shop.get("/v1/passport/leaderboard", vendor).body)["entries"];
        return got.size() == 3 && got[0]["display_name"].is_null();
    }));
    EXPECT_EQ(shop.get("/v1/passport/leaderboard?limit=1000", vendor).status, 400);
}

// Migration 0018 gives each stamp's supporting orders and products rows of their own,
// filled in SQL from the orders and lines the projector had folded: they must follow the
// rule of domain/passport.h exactly (paid, not voided, not given back in full, units left,
// a known country; a zero-total order; a refund by line; two customers).
TEST(PassportMigration, ExistingStampsGetTheirOrdersAndProductsByTheDomainRule) {
    const std::string url = testing::fresh_database(17);
    using passport::Line;
    using passport::Order;
    const std::vector<Order> orders = {
        {"a", "cus-a", 3000, 5, 1000, false, {{"beans", "ET", 2, 1}, {"mug", "DK", 1, 0}, {"beans", "ET", 1, 0}}},
        {"b", "cus-a", 1000, 9, 1000, false, {{"beans", "ET", 1, 0}}},  // given back in full
        {"c", "cus-a", 1000, 0, 0, false, {{"tea", "KE", 1, 0}}},       // not paid
        {"d", "cus-b", 1000, 3, 0, true, {{"tea", "KE", 1, 0}}},        // cancelled after payment
        {"e", "cus-b", 3000, 4, 2000, false, {{"tea", "KE", 2, 2}, {"beans", "ET", 1, 0}}},
        {"f", "cus-b", 0, 7, 0, false, {{"lamp", "DK", 1, 0}, {"odd", "", 1, 0}}},  // zero total; no country
        {"g", "cus-b", 2000, 2, 0, false, {{"tea", "KE", 2, 0}}},
    };
    std::map<std::string, std::vector<Order>> by_customer;
    for (const auto& o : orders) by_customer[o.customer_id].push_back(o);
    sql::Pool pool(url, 1);
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (const auto& o : orders) {
            tx.exec("INSERT INTO passport_orders VALUES ($1, $2, $3, $4, $5, $6)",
                    {o.order_id, o.customer_id, std::to_string(o.total_minor), std::to_string(o.paid_at_unix_ms),
                     std::to_string(o.given_back_minor), o.voided ? "true" : "false"});
            for (size_t i = 0; i < o.lines.size(); ++i)
                tx.exec("INSERT INTO passport_lines VALUES ($1, $2, $3, $4, $5, $6)",
                        {o.order_id, std::to_string(i), o.lines[i].sku, o.lines[i].country, std::to_string(o.lines[i].units),
                         std::to_string(o.lines[i].units_refunded)});
        }
        for (const auto& [customer, list] : by_customer)
            for (const auto& st : passport::stamps(list))
                tx.exec("INSERT INTO passport_stamps VALUES ($1, $2, $3, $4, '{}', $5, '{}')",
                        {customer, st.country, st.continent, std::to_string(st.first_purchase_unix_ms),
                         std::to_string(st.units)});
    }));
    ASSERT_TRUE(infra::migrate(url));

    std::set<std::string> want, got;
    for (const auto& [customer, list] : by_customer)
        for (const auto& st : passport::stamps(list)) {
            for (const auto& o : st.orders) want.insert("order " + customer + " " + st.country + " " + o);
            for (const auto& p : st.products) want.insert("product " + customer + " " + st.country + " " + p);
            want.insert("stamp " + customer + " " + st.country + " " + std::to_string(st.units) + " " +
                        std::to_string(st.first_purchase_unix_ms));
        }
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT customer_id, country, order_id FROM passport_stamp_orders"))
            got.insert("order " + r.str(0) + " " + r.str(1) + " " + r.str(2));
        for (const auto& r : tx.exec("SELECT customer_id, country, sku FROM passport_stamp_products WHERE purchases > 0"))
            got.insert("product " + r.str(0) + " " + r.str(1) + " " + r.str(2));
        for (const auto& r : tx.exec("SELECT customer_id, country, units, first_purchase_unix_ms FROM passport_stamps"))
            got.insert("stamp " + r.str(0) + " " + r.str(1) + " " + std::to_string(r.i64(2)) + " " + std::to_string(r.i64(3)));
        // Two supporting lines of one product in one order count twice.
        EXPECT_EQ(tx.exec("SELECT purchases FROM passport_stamp_products WHERE customer_id = 'cus-a' AND sku = 'beans'")[0].i64(0),
                  2);
    }));
    EXPECT_EQ(got, want);
    EXPECT_TRUE(want.contains("order cus-b KE g"));
    EXPECT_FALSE(want.contains("order cus-b KE e"));
}

}  // namespace
}  // namespace tally
