// Loyalty over HTTP: the program as a definition, spend and tier moved by signed webhooks
// in the order event's batch, a refund and a lost dispute demoting, an open dispute
// holding, a program change re-tiering, and the tier's discount at the next checkout.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "http/client.h"
#include "http/stripe.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

// USD: one 45.00 order reaches silver, two gold, three platinum.
json program(int64_t silver_bps = 0) {
    auto tier = [](const char* name, int64_t threshold, int64_t bps) {
        return json{{"name", name}, {"threshold_minor", threshold}, {"discount_bps", bps}};
    };
    return {{"currencies",
             json::array({{{"currency", "USD"},
                           {"tiers", json::array({tier("bronze", 0, 0), tier("silver", 4500, silver_bps),
                                                  tier("gold", 9000, 0), tier("platinum", 13500, 0),
                                                  tier("diamond", 1000000, 0), tier("elite", 5000000, 0)})}}})}};
}

struct LoyaltyShop : testing::ProviderShop {
    using ProviderShop::ProviderShop;

    json loyalty(const std::string& customer) {
        auto r = get("/v1/customers/" + customer + "/loyalty", admin);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body) : json::object();
    }
    json usd(const std::string& customer) {
        const json view = loyalty(customer);
        for (const auto& c : view["currencies"])
            if (c["currency"] == "USD") return c;
        return json::object();
    }
    bool reaches(const std::string& customer, const std::string& tier, int64_t spend) {
        const auto s = usd(customer);
        return s.value("tier", "") == tier && s.value("spend_minor", int64_t{-1}) == spend;
    }
    // The journal's truth, not the read model.
    int64_t tier_changes(const std::string& customer, const std::string& reason = "") {
        return number("SELECT count(*) FROM journal WHERE stream_id = $1 AND type = 'TierChanged'" +
                          std::string(reason.empty() ? "" : " AND position(convert_to($2, 'UTF8') in payload) > 0"),
                      reason.empty() ? std::vector<std::optional<std::string>>{"loyalty-" + customer}
                                     : std::vector<std::optional<std::string>>{"loyalty-" + customer, reason});
    }
};

TEST(LoyaltyE2E, TheProgramIsADefinitionStaffSetAndEveryoneReads) {
    LoyaltyShop shop;
    const auto customer = testing::token_for(shop.url, "cus-r", "customer");
    EXPECT_EQ(json::parse(shop.get("/v1/loyalty/program", customer).body)["version"], 0);
    EXPECT_EQ(shop.send("PUT", "/v1/loyalty/program", program(), customer).status, 403);
    const auto clerk = testing::token_for(shop.url, "emp-1", "employee", "catalog.manage");
    EXPECT_EQ(shop.send("PUT", "/v1/loyalty/program", program(), clerk).status, 403);
    // The program's discounts are financial configuration: loyalty.manage alone is not enough.
    const auto loyalty_only = testing::token_for(shop.url, "emp-3", "employee", "loyalty.manage");
    EXPECT_EQ(shop.send("PUT", "/v1/loyalty/program", program(), loyalty_only).status, 403);
    const auto manager = testing::token_for(shop.url, "emp-2", "employee", "finance.manage");
    auto r = shop.send("PUT", "/v1/loyalty/program", program(), manager);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["version"], 1);
    // Five tiers, a bronze above zero, thresholds out of order: refused, nothing written.
    json bad = program();
    bad["currencies"][0]["tiers"].erase(5);
    r = shop.send("PUT", "/v1/loyalty/program", bad, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "six_tiers_required");
    bad = program();
    bad["currencies"][0]["tiers"][0]["threshold_minor"] = 1;
    EXPECT_EQ(json::parse(shop.send("PUT", "/v1/loyalty/program", bad, shop.admin).body)["title"], "bronze_starts_at_zero");
    bad = program();
    bad["currencies"][0]["tiers"][3]["threshold_minor"] = 9000;
    EXPECT_EQ(json::parse(shop.send("PUT", "/v1/loyalty/program", bad, shop.admin).body)["title"], "thresholds_must_increase");
    bad = program();
    bad["currencies"][0]["tiers"][1]["discount_bps"] = 10001;
    EXPECT_EQ(json::parse(shop.send("PUT", "/v1/loyalty/program", bad, shop.admin).body)["title"], "discount_out_of_range");
    bad = program();
    bad["currencies"][0]["bonus"] = 1;
    EXPECT_EQ(shop.send("PUT", "/v1/loyalty/program", bad, shop.admin).status, 400);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'LoyaltyProgramDefined'"), 1);
    const auto read = json::parse(shop.get("/v1/loyalty/program", customer).body);
    EXPECT_EQ(read["version"], 1);
    ASSERT_EQ(read["currencies"].size(), 1u);
    EXPECT_EQ(read["currencies"][0]["tiers"][2]["name"], "gold");
    EXPECT_EQ(read["currencies"][0]["tiers"][2]["threshold_minor"], 9000);
}

// Three tiers up by card payments; a refund demotes; an open dispute holds a promotion
// until it is won; a lost dispute demotes. Spend and tier move in the order event's batch.
TEST(LoyaltyE2E, PaymentsPromoteARefundDemotesADisputeHoldsAndALostOneDemotes) {
    LoyaltyShop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", program(), shop.admin).status, 200);
    const std::string c = "cus-loyal";
    std::vector<std::string> orders;
    const char* tiers[] = {"silver", "gold", "platinum"};
    for (int i = 0; i < 3; ++i) {
        orders.push_back(shop.paid_order(c));
        ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, tiers[i], 4500 * (i + 1)); })) << shop.loyalty(c);
    }
    // In the same transaction as the payment: each PaymentSucceeded's batch holds its SpendRecorded.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal p JOIN journal s ON s.xmin = p.xmin AND s.correlation_id = p.correlation_id"
                          " WHERE p.type = 'PaymentSucceeded' AND s.type = 'SpendRecorded'"), 3);

    // A 10.00 refund: 125.00 spent, below platinum.
    auto r = shop.send("POST", "/v1/orders/" + orders[2] + "/refunds",
                       {{"amount_minor", 1000}, {"destination", "card"}, {"reason", "scratched"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "gold", 12500); })) << shop.loyalty(c);

    // A dispute opens on the first order: the next payment (170.00) would promote, but waits.
    const std::string dispute = shop.fake.dispute(shop.intent_of(orders[0])["id"], 1000);
    ASSERT_TRUE(testing::eventually([&] { return shop.loyalty(c)["hold"]["open"] == true; })) << shop.loyalty(c);
    orders.push_back(shop.paid_order(c));
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "gold", 17000); })) << shop.loyalty(c);
    auto view = shop.loyalty(c);
    EXPECT_EQ(view["hold"]["disputes"][0]["order_id"], orders[0]);
    EXPECT_EQ(view["currencies"][0]["next_tier"], "platinum");
    EXPECT_EQ(view["currencies"][0]["to_next_tier_minor"], 0);
    // The next checkout prices from the held tier too (the quote says which).
    auto q = shop.send("POST", "/v1/quote",
                       {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})}},
                       testing::token_for(shop.url, c, "customer"));
    ASSERT_EQ(q.status, 200) << q.body;
    EXPECT_EQ(json::parse(q.body)["loyalty"]["tier"], "gold");

    // Won: the hold releases and the promotion applies.
    shop.fake.close_dispute(dispute, "won");
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "platinum", 17000) && shop.loyalty(c)["hold"]["open"] == false; }))
        << shop.loyalty(c);
    EXPECT_EQ(shop.tier_changes(c, "hold_released"), 1);

    // A lost dispute of 45.00 on the second order: 125.00, back to gold.
    const std::string lost = shop.fake.dispute(shop.intent_of(orders[1])["id"], 4500);
    ASSERT_TRUE(testing::eventually([&] { return shop.loyalty(c)["hold"]["open"] == true; }));
    shop.fake.close_dispute(lost, "lost");
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "gold", 12500) && shop.loyalty(c)["hold"]["open"] == false; }))
        << shop.loyalty(c);

    // The history, newest first and paginated: silver, gold, platinum, gold, platinum, gold.
    std::vector<std::string> seen;
    std::string cursor;
    do {
        auto page = json::parse(shop.get("/v1/customers/" + c + "/loyalty?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor),
                                         testing::token_for(shop.url, c, "customer")).body);
        for (const auto& h : page["history"]) seen.push_back(h["to_tier"]);
        cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
    } while (!cursor.empty());
    EXPECT_EQ(seen, (std::vector<std::string>{"gold", "platinum", "gold", "platinum", "gold", "silver"}));
    // Another customer may not read it; the staff list finds the customer by tier.
    EXPECT_EQ(shop.get("/v1/customers/" + c + "/loyalty", testing::token_for(shop.url, "cus-other", "customer")).status, 403);
    auto listed = json::parse(shop.get("/v1/loyalty/customers?currency=USD&tier=gold", shop.admin).body);
    ASSERT_EQ(listed["customers"].size(), 1u) << listed;
    EXPECT_EQ(listed["customers"][0]["customer_id"], c);
    EXPECT_EQ(shop.get("/v1/loyalty/customers?currency=USD&tier=gold", testing::token_for(shop.url, c, "customer")).status, 403);
    EXPECT_EQ(shop.get("/v1/loyalty/customers?tier=gold", shop.admin).status, 400);
    EXPECT_EQ(shop.get("/v1/loyalty/customers?currency=USD&tier=copper", shop.admin).status, 400);

    // The auditor's reconciliation: agrees; catches a tier edited by hand; a rebuild fixes it.
    std::string out;
    // Settled first: a projector still behind would rewrite the rows edited below.
    ASSERT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(shop.url, out); })) << out;
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE loyalty_standings SET tier = 'elite' WHERE customer_id = $1", {c});
        tx.exec("DELETE FROM loyalty_history WHERE customer_id = $1 AND to_tier = 'silver'", {c});
    }));
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 1) << out;
    EXPECT_NE(out.find("loyalty_standings " + c + " USD tier: cached elite, log gold"), std::string::npos) << out;
    EXPECT_NE(out.find("loyalty_history " + c + " entries: cached 5, log 6"), std::string::npos) << out;
    auto rebuilt = shop.send("POST", "/v1/projections/loyalty/rebuild", json::object(), shop.admin);
    ASSERT_EQ(rebuilt.status, 200) << rebuilt.body;
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 0) << out;
    EXPECT_TRUE(shop.reaches(c, "gold", 12500));
}

// A program change re-tiers in the background; checkout applies the new tier's discount
// before the pass reaches the customer, and records it in the order.
TEST(LoyaltyE2E, AProgramChangeRetiersAndTheNextCheckoutCarriesTheDiscount) {
    LoyaltyShop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", program(), shop.admin).status, 200);
    const std::string c = "cus-disc";
    shop.paid_order(c);
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "silver", 4500); })) << shop.loyalty(c);
    // Silver now starts at 50.00 and grants 10%: a bronze customer until the next order.
    json changed = program(1000);
    changed["currencies"][0]["tiers"][1]["threshold_minor"] = 4000;
    changed["currencies"][0]["tiers"][2]["threshold_minor"] = 4400;  // 45.00 is gold now
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", changed, shop.admin).status, 200);
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "gold", 4500); })) << shop.loyalty(c);
    EXPECT_EQ(shop.tier_changes(c, "program_changed"), 1);

    // Silver's 10% off at the next checkout: 40.00 lamp → 36.00, plus 5.00 shipping.
    changed["currencies"][0]["tiers"][2]["threshold_minor"] = 9000;  // back to silver
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", changed, shop.admin).status, 200);
    const auto token = testing::token_for(shop.url, c, "customer");
    json cart = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})},
                 {"expected_total_minor", 4100}};
    auto r = shop.send("POST", "/v1/checkout", cart, token);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string order = json::parse(r.body)["order_id"];
    json detail;
    ASSERT_TRUE(testing::eventually([&] {
        auto got = shop.get("/v1/orders/" + order, token);
        if (got.status == 200) detail = json::parse(got.body);
        return got.status == 200;
    }));
    EXPECT_EQ(detail["loyalty"]["tier"], "silver") << detail;
    EXPECT_EQ(detail["loyalty"]["discount_bps"], 1000);
    ASSERT_TRUE(testing::eventually([&] { return shop.reaches(c, "silver", 4500); })) << shop.loyalty(c);
    EXPECT_EQ(shop.tier_changes(c, "program_changed"), 2);
}

// A program change re-tiers 1,000 customers in the background, with the pass's owner
// SIGKILLed halfway: the other process goes on, and each customer moves exactly once.
TEST(LoyaltyE2E, AProgramChangeRetiersAThousandCustomersThroughASigkillOnce) {
    const std::map<std::string, std::string> env = {{"TALLY_RETIER_BATCH", "10"}, {"TALLY_RETIER_INTERVAL_MS", "50"},
                                                    {"TALLY_KAFKA_SESSION_TIMEOUT_MS", "3000"}};
    testing::Shop shop(env);
    testing::Tallyd second(shop.url, shop.broker.bootstraps(), env);
    second.start();
    ASSERT_EQ(shop.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"shipping", {{"flat_minor", 500}}}}, shop.admin).status, 200);
    ASSERT_EQ(shop.send("PUT", "/v1/products/lamp", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 4000}},
                        shop.admin).status, 200);
    constexpr int kCustomers = 1000;
    ASSERT_EQ(shop.send("POST", "/v1/products/lamp/stock-adjustments", {{"delta", kCustomers}, {"reason", "received"}},
                        shop.admin).status, 201);
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", program(), shop.admin).status, 200);
    // Each customer pays 45.00 with store credit: a zero-payment order, silver on placing.
    const json cart = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})},
                       {"expected_total_minor", 4500}};
    std::vector<std::string> ids;
    for (int i = 0; i < kCustomers; ++i) ids.push_back("cus-" + std::to_string(10000 + i));
    const auto tokens = testing::tokens_for(shop.url, ids, "customer");
    // Eight clients at once, four at each process.
    std::vector<std::thread> clients;
    std::atomic<int> placed{0};
    for (int t = 0; t < 8; ++t)
        clients.emplace_back([&, t] {
            http::Client client("127.0.0.1", t % 2 ? second.port() : shop.tallyd.port());
            for (int i = t; i < kCustomers; i += 8) {
                const std::string& id = ids[static_cast<size_t>(i)];
                auto g = client.request("POST", "/v1/customers/" + id + "/credit-grants",
                                        json{{"amount_minor", 4500}, {"currency", "USD"}, {"reason", "welcome"}}.dump(),
                                        {{"Authorization", "Bearer " + shop.admin}, {"Idempotency-Key", "g-" + id}});
                EXPECT_EQ(g.status, 201) << g.body;
                auto r = client.request("POST", "/v1/checkout", cart.dump(),
                                        {{"Authorization", "Bearer " + tokens[static_cast<size_t>(i)]},
                                         {"Idempotency-Key", "c-" + id}});
                EXPECT_EQ(r.status, 201) << r.body;
                if (r.status == 201 && json::parse(r.body)["zero_payment"].get<bool>()) ++placed;
            }
        });
    for (auto& c : clients) c.join();
    ASSERT_EQ(placed.load(), kCustomers);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'TierChanged'"), kCustomers);
    const std::string changed_sql = "SELECT count(*) FROM journal WHERE type = 'TierChanged' AND actor = 'system:retier'";
    // Silver now from 50.00: every customer goes back to bronze.
    json raised = program();
    raised["currencies"][0]["tiers"][1]["threshold_minor"] = 5000;
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", raised, shop.admin).status, 200);
    ASSERT_TRUE(testing::eventually([&] { return shop.number(changed_sql) >= 100; }, std::chrono::seconds(60)));
    const bool first_owns = shop.tallyd.log().find("re-tiering pass: this process re-tiers") != std::string::npos;
    if (first_owns) shop.tallyd.kill9();
    else second.kill9();
    const int64_t at_kill = shop.number(changed_sql);
    EXPECT_LT(at_kill, kCustomers) << "the pass ended before the kill";
    testing::Tallyd& survivor = first_owns ? second : shop.tallyd;
    ASSERT_TRUE(testing::eventually([&] { return shop.number(changed_sql) == kCustomers; }, std::chrono::seconds(120)))
        << shop.number(changed_sql) << "\n" << survivor.log();
    // The pass says it is done once it finds nobody left, a moment after the last change.
    EXPECT_TRUE(testing::eventually(
        [&] { return survivor.log().find("re-tiering pass: program version 2 done") != std::string::npos; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(shop.number(changed_sql), kCustomers);
    EXPECT_EQ(shop.number("SELECT count(DISTINCT stream_id) FROM journal WHERE type = 'TierChanged' AND actor = 'system:retier'"),
              kCustomers);
    EXPECT_EQ(shop.number("SELECT count(*) FROM snapshots WHERE stream_id LIKE 'loyalty-%'"), kCustomers);
}

constexpr const char* kStormSecret = "whsec_loyalty_storm";

json stripe_event(const std::string& id, const std::string& type, json object) {
    return {{"id", id}, {"object", "event"}, {"type", type}, {"created", 1700000000}, {"data", {{"object", object}}}};
}

// 200 card orders of 20 customers, each payment event delivered 1-5 times in random
// order (with failures mixed in), then a refund for a few: spend and tiers end exact.
TEST(LoyaltyE2E, AWebhookStormCountsEachPaymentOnce) {
    testing::Shop shop(std::map<std::string, std::string>{{"TALLY_STRIPE_WEBHOOK_SECRETS", kStormSecret}});
    ASSERT_EQ(shop.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"shipping", {{"flat_minor", 500}}}}, shop.admin).status, 200);
    ASSERT_EQ(shop.send("PUT", "/v1/products/lamp", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 4000}},
                        shop.admin).status, 200);
    ASSERT_EQ(shop.send("POST", "/v1/products/lamp/stock-adjustments", {{"delta", 2000}, {"reason", "received"}},
                        shop.admin).status, 201);
    // Each customer's ten orders are of 1 to 10 lamps (a new cart each time, not a double
    // click): 2,250.00 in all, elite; less a 5.00 refund, diamond.
    json storm_program = program();
    storm_program["currencies"][0]["tiers"][4]["threshold_minor"] = 200000;
    storm_program["currencies"][0]["tiers"][5]["threshold_minor"] = 225000;
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", storm_program, shop.admin).status, 200);
    constexpr int kCustomers = 20, kEach = 10;
    struct Placed {
        std::string customer, order;
        int64_t total = 0;
    };
    std::vector<Placed> orders;
    for (int i = 0; i < kCustomers * kEach; ++i) {
        const std::string customer = "cus-s" + std::to_string(i % kCustomers);
        const int quantity = i / kCustomers + 1;
        const int64_t total = 4000 * quantity + 500;
        const json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                           {"lines", json::array({{{"sku", "lamp"}, {"quantity", quantity}}})}, {"expected_total_minor", total}};
        auto r = shop.send("POST", "/v1/checkout", cart, testing::token_for(shop.url, customer, "customer"));
        ASSERT_EQ(r.status, 201) << r.body;
        orders.push_back({customer, json::parse(r.body)["order_id"].get<std::string>(), total});
    }
    std::vector<json> deliveries;
    std::mt19937 rng(20261202);
    for (const auto& o : orders) {
        const json intent = {{"id", "pi_" + o.order}, {"object", "payment_intent"}, {"amount", o.total},
                             {"amount_received", o.total}, {"currency", "usd"}, {"metadata", {{"order_id", o.order}}}};
        for (int n = std::uniform_int_distribution<int>(1, 5)(rng); n > 0; --n)
            deliveries.push_back(stripe_event("evt_pay_" + o.order, "payment_intent.succeeded", intent));
        if (std::uniform_int_distribution<int>(0, 3)(rng) == 0)
            deliveries.push_back(stripe_event("evt_fail_" + o.order, "payment_intent.payment_failed", intent));
    }
    std::shuffle(deliveries.begin(), deliveries.end(), rng);
    for (const auto& ev : deliveries) {
        const std::string body = ev.dump();
        const int64_t t = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        auto r = shop.client->request("POST", "/v1/webhooks/stripe", body,
                                      {{"Stripe-Signature", "t=" + std::to_string(t) + ",v1=" + http::stripe::sign_v1(kStormSecret, t, body)}});
        ASSERT_EQ(r.status, 200) << r.body;
    }
    // Customers 0-4 get 5.00 back on their first order.
    for (int i = 0; i < 5; ++i) {
        auto r = shop.send("POST", "/v1/orders/" + orders[i].order + "/refunds",
                           {{"amount_minor", 500}, {"destination", "card"}, {"reason", "late"}}, shop.admin);
        ASSERT_EQ(r.status, 200) << r.body;
    }
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'SpendRecorded'"), kCustomers * kEach + 5);
    for (int i = 0; i < kCustomers; ++i) {
        const std::string customer = "cus-s" + std::to_string(i);
        const int64_t spend = 225000 - (i < 5 ? 500 : 0);
        const std::string tier = i < 5 ? "diamond" : "elite";
        ASSERT_TRUE(testing::eventually([&] {
            auto r = shop.get("/v1/customers/" + customer + "/loyalty", shop.admin);
            if (r.status != 200) return false;
            const auto v = json::parse(r.body);
            return v["currencies"].size() == 1 && v["currencies"][0]["spend_minor"] == spend && v["currencies"][0]["tier"] == tier;
        })) << customer << " " << shop.get("/v1/customers/" + customer + "/loyalty", shop.admin).body;
    }
    std::string out;
    EXPECT_TRUE(testing::eventually([&] { return testing::run_replay(shop.url, "reconcile", out) == 0; })) << out;
}

}  // namespace
}  // namespace tally
