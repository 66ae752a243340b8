// Subscriptions end to end over HTTP: subscription prices in the catalog (who may set
// them, quotes show them), subscribing (the first order is a checkout at those prices),
// the customer's acts, the read models and their rebuild, and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>

#include "tally/v1/subscription.pb.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;
using testing::token_for;

// "roast" sells beans: 12.00 one-off, 9.00 a month or 25.00 a quarter on subscription;
// "mug" has no subscription price. Shipping 5.00 to anywhere.
struct SubscriptionShop : testing::ProviderShop {
    std::string roast = token_for(url, "roast", "vendor");
    std::string cus = token_for(url, "cus-1", "customer");

    explicit SubscriptionShop(std::map<std::string, std::string> env = {}) : testing::ProviderShop(std::move(env)) {
        vendor("roast", "acct_roast", "mug");
        EXPECT_EQ(put_beans(roast, 1200, {{"month_minor", 900}, {"quarter_minor", 2500}}).status, 200);
        EXPECT_EQ(send("POST", "/v1/products/beans/stock-adjustments", {{"delta", 50}, {"reason", "roasted"}}, roast).status,
                  201);
    }

    // Redefines "beans" at `base_minor`; with `prices`, its subscription prices too (left out: kept).
    http::ClientResponse put_beans(const std::string& token, int64_t base_minor, const json& prices = nullptr) {
        json product = {{"vendor_id", "roast"}, {"country_of_origin", "CO"}, {"base_minor", base_minor}};
        if (!prices.is_null()) product["subscription_prices"] = prices;
        return send("PUT", "/v1/products/beans", product, token);
    }

    json plan(int64_t quantity = 2, const std::string& interval = "month") {
        return {{"currency", "USD"},
                {"interval", interval},
                {"ship_to_country", "US"},
                {"lines", json::array({{{"sku", "beans"}, {"quantity", quantity}}})},
                {"payment_method", "pm_card_visa"}};
    }

    json subscribe(const std::string& token, json body, int64_t expected_total) {
        body["expected_total_minor"] = expected_total;
        auto r = send("POST", "/v1/subscriptions", body, token);
        EXPECT_EQ(r.status, 201) << r.body;
        return json::parse(r.body, nullptr, false);
    }

    // The subscription as the read model has it, once it shows `ready`.
    json subscription(const std::string& id, const std::function<bool(const json&)>& ready = {}) {
        json found;
        EXPECT_TRUE(testing::eventually([&] {
            auto r = get("/v1/subscriptions/" + id, admin);
            if (r.status != 200) return false;
            found = json::parse(r.body);
            return !ready || ready(found);
        })) << found.dump();
        return found;
    }
};

// A file the renewal scheduler reads its clock from (TALLY_SUBSCRIPTION_CLOCK_FILE): empty,
// the system clock, until the test moves time on.
struct ClockFile {
    std::string path;
    ClockFile() {
        static std::atomic<int> n{0};
        path = (std::filesystem::temp_directory_path() /
                ("tally-subscription-clock-" + std::to_string(getpid()) + "-" + std::to_string(n++)))
                   .string();
        std::ofstream(path).flush();
    }
    ~ClockFile() { std::filesystem::remove(path); }
    void set(int64_t unix_ms) const { std::ofstream(path, std::ios::trunc) << unix_ms << "\n"; }
};

// The shop with the renewal scheduler on a test's clock, looking every 50 ms.
struct RenewingShop : ClockFile, SubscriptionShop {
    explicit RenewingShop(std::map<std::string, std::string> env = {})
        : SubscriptionShop(testing::with(std::move(env), {{"TALLY_SUBSCRIPTION_CLOCK_FILE", path},
                                                          {"TALLY_RENEWAL_INTERVAL_MS", "50"}})) {}

    // Subscribes with a card saved by a SetupIntent, and pays the first order.
    json subscribe_paid(const std::string& payment_method, int64_t quantity = 2) {
        json body = plan(quantity);
        body["payment_method"] = payment_method;
        const json made = subscribe(cus, body, quantity * 900 + 500);
        fake.succeed(intent_of(made["order_id"])["id"]);
        EXPECT_TRUE(testing::eventually([&] { return status(made["order_id"]) == "paid"; }));
        return made;
    }
    // The renewal of `period` as the read model has it, once `ready`.
    json renewal(const std::string& id, int64_t period, const std::function<bool(const json&)>& ready) {
        json found;
        subscription(id, [&](const json& s) {
            for (const auto& r : s["renewals"])
                if (r["period"] == period) found = r;
            return !found.is_null() && ready(found);
        });
        return found;
    }
    // Stripe requests made under an idempotency key.
    std::vector<testing::FakeStripe::Seen> requests_keyed(const std::string& key) {
        std::vector<testing::FakeStripe::Seen> out;
        for (auto& r : fake.requests("/v1/payment_intents"))
            if (r.idempotency_key == key) out.push_back(r);
        return out;
    }
};

TEST(SubscriptionsE2E, OnlyFinanceOrTheVendorSetsSubscriptionPricesAndQuotesShowThem) {
    SubscriptionShop shop;
    // A catalog manager may redefine the product but not move its subscription prices.
    const auto catalog = token_for(shop.url, "emp-cat", "employee", "catalog.manage");
    auto r = shop.put_beans(catalog, 1300, {{"month_minor", 100}});
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(json::parse(r.body)["field"], "subscription_prices");
    // Leaving them out keeps them.
    EXPECT_EQ(shop.put_beans(catalog, 1300).status, 200);
    const auto finance = token_for(shop.url, "emp-fin", "employee", "finance.manage");
    EXPECT_EQ(shop.put_beans(finance, 1300, {{"month_minor", 950}, {"quarter_minor", 2500}}).status, 200);
    json cart = shop.plan(2);
    cart.erase("interval");
    cart.erase("payment_method");
    cart["subscription_interval"] = "month";
    r = shop.send("POST", "/v1/quote", cart, shop.cus);
    ASSERT_EQ(r.status, 200) << r.body;
    auto q = json::parse(r.body);
    EXPECT_EQ(q["lines"][0]["unit_minor"], 950);
    EXPECT_EQ(q["lines"][0]["price_source"], "subscription");
    EXPECT_EQ(q["total_minor"], 2 * 950 + 500);
    cart.erase("subscription_interval");
    q = json::parse(shop.send("POST", "/v1/quote", cart, shop.cus).body);
    EXPECT_EQ(q["lines"][0]["unit_minor"], 1300) << "one-off: the base price";
    cart["subscription_interval"] = "week";
    r = shop.send("POST", "/v1/quote", cart, shop.cus);
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(json::parse(r.body)["title"], "not_subscribable");
    cart["subscription_interval"] = "fortnight";
    r = shop.send("POST", "/v1/quote", cart, shop.cus);
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(json::parse(r.body)["field"], "subscription_interval");
}

TEST(SubscriptionsE2E, SubscribingPlacesTheFirstOrderAtTheSubscriptionPriceAndStartsTheSubscription) {
    SubscriptionShop shop;
    // The client's total drifted: nothing is placed.
    auto r = shop.send("POST", "/v1/subscriptions", [&] {
        json b = shop.plan(2);
        b["expected_total_minor"] = 2900;
        return b;
    }(), shop.cus);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "price_changed");
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'SubscriptionStarted'"), 0);

    const std::string key = "subscribe-once";
    json body = shop.plan(2);
    body["expected_total_minor"] = 2 * 900 + 500;
    r = shop.send("POST", "/v1/subscriptions", body, shop.cus, key);
    ASSERT_EQ(r.status, 201) << r.body;
    const auto made = json::parse(r.body);
    const std::string id = made["subscription_id"], order = made["order_id"];
    EXPECT_EQ(id.rfind("sub-", 0), 0u);
    EXPECT_EQ(made["breakdown"]["lines"][0]["price_source"], "subscription");
    // The same key again: the same answer, nothing new.
    auto again = shop.send("POST", "/v1/subscriptions", body, shop.cus, key);
    EXPECT_EQ(again.status, 201);
    EXPECT_EQ(json::parse(again.body)["subscription_id"], id);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'SubscriptionStarted'"), 1);
    // The first order is an ordinary order: stock reserved, paid like any checkout.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'StockReserved' AND stream_id = 'stock-beans'"), 1);
    const json intent = shop.intent_of(order);
    EXPECT_EQ(intent["amount"], 2300);

    // Two projections: the subscription's and its order's (the renewal shows the order's status).
    const json s = shop.subscription(id, [](const json& s) {
        return s["renewals"].size() == 1 && !s["renewals"][0]["order"].is_null();
    });
    EXPECT_EQ(s["status"], "active");
    EXPECT_EQ(s["interval"], "month");
    EXPECT_EQ(s["customer_id"], "cus-1");
    EXPECT_EQ(s["payment_method"], "pm_card_visa");
    EXPECT_EQ(s["next_period"], 1);
    EXPECT_GT(s["next_renewal_unix_ms"].get<int64_t>(), s["started_unix_ms"].get<int64_t>() + 27LL * 86400000);
    EXPECT_EQ(s["renewals"][0]["order_id"], order);
    EXPECT_EQ(s["renewals"][0]["order"]["total_minor"], 2300);

    // Listed for the customer and for staff; another customer reads nothing of it.
    auto mine = json::parse(shop.get("/v1/customers/cus-1/subscriptions", shop.cus).body);
    ASSERT_EQ(mine["subscriptions"].size(), 1u);
    EXPECT_EQ(mine["subscriptions"][0]["subscription_id"], id);
    const auto other = token_for(shop.url, "cus-2", "customer");
    EXPECT_EQ(shop.get("/v1/subscriptions/" + id, other).status, 403);
    EXPECT_EQ(shop.get("/v1/customers/cus-1/subscriptions", other).status, 403);
    EXPECT_EQ(shop.send("POST", "/v1/subscriptions/" + id + "/skip", json::object(), other).status, 403);
    auto staff = json::parse(shop.get("/v1/subscriptions?status=active", shop.admin).body);
    EXPECT_EQ(staff["subscriptions"].size(), 1u);
    staff = json::parse(shop.get("/v1/subscriptions?status=paused", shop.admin).body);
    EXPECT_EQ(staff["subscriptions"].size(), 0u);
    staff = json::parse(shop.get("/v1/subscriptions?due_before=" + std::to_string(s["started_unix_ms"].get<int64_t>() + 1000),
                                 shop.admin)
                            .body);
    EXPECT_EQ(staff["subscriptions"].size(), 0u) << "not due for a month";
    EXPECT_EQ(shop.get("/v1/subscriptions", shop.cus).status, 403);
}

TEST(SubscriptionsE2E, TheCustomersActsApplyFromTheNextRenewalAndTheReadModelRebuilds) {
    SubscriptionShop shop;
    const std::string id = shop.subscribe(shop.cus, shop.plan(2), 2300)["subscription_id"];
    const std::string base = "/v1/subscriptions/" + id;
    // Change: three bags from the next renewal on.
    auto r = shop.send("POST", base + "/changes", {{"lines", json::array({{{"sku", "beans"}, {"quantity", 3}}})}}, shop.cus);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["event"], "SubscriptionChanged");
    r = shop.send("POST", base + "/changes", {{"lines", json::array({{{"sku", "beans"}, {"quantity", 0}}})}}, shop.cus);
    EXPECT_EQ(r.status, 422) << r.body;
    // Skip the next period, twice is once.
    EXPECT_EQ(shop.send("POST", base + "/skip", json::object(), shop.cus).status, 200);
    EXPECT_EQ(shop.send("POST", base + "/skip", json::object(), shop.cus).status, 200);
    EXPECT_EQ(shop.send("POST", base + "/skip", json(), shop.cus).status, 400) << "a body, if any, is an object";
    // Pause: in the future, within a year.
    r = shop.send("POST", base + "/pause", {{"until_unix_ms", 1000}}, shop.cus);
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(json::parse(r.body)["title"], "pause_not_in_future");
    const json s = shop.subscription(id, [](const json& s) { return s["plan"]["lines"][0]["quantity"] == 3; });
    const int64_t until = s["next_renewal_unix_ms"].get<int64_t>() + 40LL * 86400000;
    r = shop.send("POST", base + "/pause", {{"until_unix_ms", until}}, shop.cus);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["status"], "paused");
    // Cancel at the end of the period: still paused until then; twice is refused.
    r = shop.send("POST", base + "/cancel", {{"mode", "period_end"}, {"reason", "too much coffee"}}, shop.cus);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["cancel_at_unix_ms"], s["next_renewal_unix_ms"]);
    r = shop.send("POST", base + "/cancel", {{"mode", "period_end"}}, shop.cus);
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(json::parse(r.body)["title"], "cancellation_scheduled");
    r = shop.send("POST", base + "/cancel", {{"mode", "whenever"}}, shop.cus);
    EXPECT_EQ(r.status, 422);
    EXPECT_EQ(json::parse(r.body)["field"], "mode");
    EXPECT_EQ(shop.send("POST", "/v1/subscriptions/sub-nope/skip", json::object(), shop.cus).status, 404);

    const json after = shop.subscription(id, [](const json& s) { return !s["cancel_at_unix_ms"].is_null(); });
    EXPECT_EQ(after["status"], "paused");
    EXPECT_EQ(after["skip_periods"], json::array({1}));
    EXPECT_EQ(after["paused_until_unix_ms"], until);

    // The read model rebuilt from the log is the same.
    auto dump = [&] {
        std::string out;
        EXPECT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
            for (const auto& row : tx.exec("SELECT subscription_id, status, next_due_unix_ms, encode(state, 'hex') FROM"
                                           " subscriptions ORDER BY 1"))
                out += row.str(0) + row.str(1) + row.str(2) + row.str(3) + "\n";
            for (const auto& row : tx.exec("SELECT subscription_id, period, order_id, status FROM subscription_renewals ORDER BY 1, 2"))
                out += row.str(0) + row.str(1) + row.str(2) + row.str(3) + "\n";
        }));
        return out;
    };
    const std::string before = dump();
    r = shop.send("POST", "/v1/projections/subscriptions/rebuild", json::object(), shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(dump(), before);
}

TEST(SubscriptionsE2E, CancellingImmediatelyCancelsTheCurrentOrderUnlessItShipped) {
    SubscriptionShop shop;
    const auto made = shop.subscribe(shop.cus, shop.plan(1), 1400);
    const std::string id = made["subscription_id"], order = made["order_id"];
    auto r = shop.send("POST", "/v1/subscriptions/" + id + "/cancel", {{"mode", "immediately"}, {"reason", "moving"}}, shop.cus);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto cancelled = json::parse(r.body);
    EXPECT_EQ(cancelled["status"], "cancelled");
    EXPECT_EQ(cancelled["order_cancelled"], order);
    // The order's ordinary cancellation: stock back, the intent cancelled at the provider.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled' AND stream_id = 'order-" + order + "'"), 1);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'StockReleased' AND stream_id = 'stock-beans'"), 1);
    EXPECT_EQ(shop.send("POST", "/v1/subscriptions/" + id + "/skip", json::object(), shop.cus).status, 409);

    // Paid and shipped: the order stands, and the answer says why.
    const auto second = shop.subscribe(shop.cus, shop.plan(1), 1400);
    const std::string order2 = second["order_id"];
    shop.fake.succeed(shop.intent_of(order2)["id"]);
    ASSERT_TRUE(testing::eventually([&] {
        auto o = shop.get("/v1/orders/" + order2, shop.admin);  // 404 (a problem document) until projected
        return o.status == 200 && json::parse(o.body).value("status", "") == "paid";
    }));
    for (const json& step : {json{{"status", "in_production"}, {"vendor_id", "roast"}},
                             json{{"status", "shipped"}, {"vendor_id", "roast"}, {"carrier", "DHL"}, {"tracking", "TRK-1"}}}) {
        auto shipped = shop.send("POST", "/v1/orders/" + order2 + "/fulfilment", step, shop.roast);
        ASSERT_EQ(shipped.status, 200) << shipped.body;
    }
    r = shop.send("POST", "/v1/subscriptions/" + second["subscription_id"].get<std::string>() + "/cancel",
                  {{"mode", "immediately"}}, shop.cus);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto kept = json::parse(r.body);
    EXPECT_EQ(kept["status"], "cancelled");
    EXPECT_EQ(kept["order_kept"]["order_id"], order2);
    EXPECT_FALSE(kept.contains("order_cancelled"));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled' AND stream_id = 'order-" + order2 + "'"), 0);
}

TEST(SubscriptionsE2E, BadSubscriptionsAreRefusedNamingTheProblemAndWriteNothing) {
    SubscriptionShop shop;
    ASSERT_LT(shop.send("PUT", "/v1/coupons/ONCE10", {{"kind", "PERCENT"}, {"percent_bps", 1000}, {"scope", "SITE"}}, shop.admin)
                  .status,
              300);
    const int64_t events = shop.number("SELECT count(*) FROM journal");
    struct Case {
        std::string what;
        std::function<void(json&)> mutate;
        int status;
        std::string code, field;
    };
    const std::vector<Case> cases = {
        {"interval", [](json& b) { b["interval"] = "daily"; }, 422, "invalid_value", "interval"},
        {"payment method", [](json& b) { b["payment_method"] = "card_4242"; }, 422, "invalid_value", "payment_method"},
        {"no total", [](json& b) { b.erase("expected_total_minor"); }, 400, "missing_field", "expected_total_minor"},
        {"no subscription price", [](json& b) { b["lines"] = json::array({{{"sku", "mug"}, {"quantity", 1}}}); }, 422,
         "not_subscribable", "lines"},
        {"one-off coupon", [](json& b) { b["coupon_codes"] = json::array({"ONCE10"}); }, 422, "coupon_not_for_subscriptions",
         "coupon_codes"},
        {"same line twice",
         [](json& b) { b["lines"] = json::array({{{"sku", "beans"}, {"quantity", 1}}, {{"sku", "beans"}, {"quantity", 1}}}); },
         422, "plan_invalid", "lines"},
        {"unknown field", [](json& b) { b["price_minor"] = 1; }, 400, "", ""},
        {"negative quantity", [](json& b) { b["lines"][0]["quantity"] = -2; }, 422, "quantity_out_of_range", ""},
    };
    for (const auto& c : cases) {
        json body = shop.plan(2);
        body["expected_total_minor"] = 2300;
        c.mutate(body);
        auto r = shop.send("POST", "/v1/subscriptions", body, shop.cus);
        EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
        const auto problem = json::parse(r.body, nullptr, false);
        if (!c.code.empty()) {
            EXPECT_EQ(problem.value("title", ""), c.code) << c.what;
        }
        if (!c.field.empty()) {
            EXPECT_EQ(problem.value("field", ""), c.field) << c.what;
        }
    }
    // A storefront, a vendor, a guest: only customers subscribe.
    json body = shop.plan(1);
    body["expected_total_minor"] = 1400;
    EXPECT_EQ(shop.send("POST", "/v1/subscriptions", body, shop.roast).status, 403);
    EXPECT_EQ(shop.send("POST", "/v1/subscriptions", body, token_for(shop.url, "front", "storefront")).status, 403);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal"), events) << "nothing written";
}

// Subscribe, renew twice, fail a payment then recover in dunning, cancel: every renewal an
// ordinary order, charged off-session under its key, on the scheduler's clock.
TEST(SubscriptionsE2E, RenewsTwiceRecoversAFailedPaymentInDunningAndCancels) {
    RenewingShop shop;
    const std::string pm = shop.fake.save_card();
    const auto made = shop.subscribe_paid(pm);
    const std::string id = made["subscription_id"];
    const std::string base = "/v1/subscriptions/" + id;
    const auto next_renewal = [&] { return shop.subscription(id)["next_renewal_unix_ms"].get<int64_t>(); };

    // Periods 1 and 2: renewed on their day, paid off-session, the orders paid by the webhook.
    for (int64_t period = 1; period <= 2; ++period) {
        const int64_t due = next_renewal();
        shop.set(due - 60000);  // a minute early: nothing happens
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        EXPECT_EQ(shop.subscription(id)["renewals"].size(), static_cast<size_t>(period)) << "renewed early";
        shop.set(due + 1000);
        const json r = shop.renewal(id, period, [](const json& r) { return r["status"] == "paid"; });
        const std::string order = "ord-" + id + "-" + std::to_string(period);
        EXPECT_EQ(r["order_id"], order);
        EXPECT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; })) << shop.status(order);
        const auto charged = shop.requests_keyed("renewal-" + id + "-" + std::to_string(period));
        ASSERT_EQ(charged.size(), 1u);
        EXPECT_EQ(charged[0].form.at("off_session"), "true");
        EXPECT_EQ(charged[0].form.at("confirm"), "true");
        EXPECT_EQ(charged[0].form.at("payment_method"), pm);
        EXPECT_EQ(charged[0].form.at("amount"), "2300");
        EXPECT_EQ(charged[0].status, 200);
    }

    // Period 3: the card is declined; dunning retries a day after the first failure.
    shop.fake.card_outcome(pm, "card_declined");
    const int64_t third = next_renewal();
    shop.set(third + 1000);
    json r = shop.renewal(id, 3, [](const json& r) { return r["status"] == "failed"; });
    EXPECT_EQ(r["note"], "card_declined");
    json s = shop.subscription(id, [](const json& s) { return !s["dunning"].is_null(); });
    EXPECT_EQ(s["status"], "active");
    EXPECT_EQ(s["dunning"]["last_code"], "card_declined");
    EXPECT_EQ(s["dunning"]["next_retry_unix_ms"], third + 1000 + 86400000) << s.dump();
    // The renewal order waits for dunning: the payment window does not expire it.
    const std::string unpaid = "ord-" + id + "-3";
    EXPECT_EQ(shop.status(unpaid), "awaiting_payment");
    // The card works again; the retry (its own key) confirms the same intent and it is paid.
    shop.fake.card_outcome(pm, "succeeded");
    shop.set(third + 1000 + 86400000 - 60000);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_TRUE(shop.requests_keyed("renewal-" + id + "-3-retry-1").empty()) << "retried early";
    shop.set(third + 1000 + 86400000 + 1000);
    r = shop.renewal(id, 3, [](const json& r) { return r["status"] == "paid"; });
    EXPECT_EQ(r["attempts_failed"], 1);
    const auto retried = shop.requests_keyed("renewal-" + id + "-3-retry-1");
    ASSERT_EQ(retried.size(), 1u) << shop.tallyd.log();
    EXPECT_EQ(retried[0].path, "/v1/payment_intents/" + shop.intent_of(unpaid)["id"].get<std::string>() + "/confirm");
    EXPECT_TRUE(testing::eventually([&] { return shop.status(unpaid) == "paid"; }));
    s = shop.subscription(id, [](const json& s) { return s["dunning"].is_null(); });
    EXPECT_EQ(s["status"], "active");

    // Period 4: finance raises the subscription price, the customer takes three bags and a
    // coupon that allows subscriptions; the renewal is priced on the server with both.
    ASSERT_LT(shop.send("PUT", "/v1/coupons/SUBS10",
                        {{"kind", "PERCENT"}, {"percent_bps", 1000}, {"scope", "SITE"}, {"allows_subscriptions", true}}, shop.admin)
                  .status,
              300);
    const auto finance = token_for(shop.url, "emp-fin", "employee", "finance.manage");
    ASSERT_EQ(shop.put_beans(finance, 1200, {{"month_minor", 1000}, {"quarter_minor", 2500}}).status, 200);
    auto changed = shop.send("POST", base + "/changes",
                             {{"lines", json::array({{{"sku", "beans"}, {"quantity", 3}}})}, {"coupon_codes", json::array({"SUBS10"})}},
                             shop.cus);
    ASSERT_EQ(changed.status, 200) << changed.body;
    shop.subscription(id, [](const json& s) { return s["plan"]["coupon_codes"].size() == 1; });
    shop.set(next_renewal() + 1000);
    r = shop.renewal(id, 4, [](const json& r) { return r["status"] == "paid"; });
    EXPECT_EQ(r["order"]["total_minor"], 3 * 1000 - 300 + 500) << r.dump();
    const auto fourth = shop.requests_keyed("renewal-" + id + "-4");
    ASSERT_EQ(fourth.size(), 1u);
    EXPECT_EQ(fourth[0].form.at("amount"), "3200");

    // Cancelled at the end of the period: the scheduler ends it on that day, with no renewal.
    auto c = shop.send("POST", base + "/cancel", {{"mode", "period_end"}}, shop.cus);
    ASSERT_EQ(c.status, 200) << c.body;
    const int64_t end = json::parse(c.body)["cancel_at_unix_ms"];
    EXPECT_EQ(end, next_renewal());
    shop.set(end + 1000);
    s = shop.subscription(id, [](const json& s) { return s["status"] == "cancelled"; });
    EXPECT_EQ(s["renewals"].size(), 5u);
    shop.set(end + 40LL * 86400000);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalPlaced'"), 4);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'SubscriptionCancelled'"), 1);
    // Every charge once: the first order's intent and four renewals, each keyed once.
    EXPECT_EQ(shop.fake.objects("pi_").size(), 5u);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'StockReserved' AND stream_id = 'stock-beans'"), 5);
    std::string out;
    EXPECT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(shop.url, out); })) << out;
    EXPECT_NE(out.find("subscriptions: 1 checked, clean"), std::string::npos) << out;
    EXPECT_NE(out.find("subscription_renewals: "), std::string::npos) << out;
}

// authentication_required is shown to the storefront (the renewal's note, the order's client
// secret); the customer who never comes back is past_due after the last retry, then
// cancelled after the grace period, the unpaid order cancelled and its stock released.
TEST(SubscriptionsE2E, DunningGivesUpAfterTheLastRetryAndReleasesTheRenewalsStock) {
    RenewingShop shop({{"TALLY_DUNNING_RETRY_DAYS", "1,2"}, {"TALLY_DUNNING_GRACE_DAYS", "3"}});
    const std::string pm = shop.fake.save_card();
    const std::string id = shop.subscribe_paid(pm)["subscription_id"];
    shop.fake.card_outcome(pm, "authentication_required");
    const int64_t due = shop.subscription(id)["next_renewal_unix_ms"];
    constexpr int64_t kDay = 86400000;
    shop.set(due + 1000);
    json r = shop.renewal(id, 1, [](const json& r) { return r["status"] == "failed"; });
    EXPECT_EQ(r["note"], "authentication_required");
    const std::string order = "ord-" + id + "-1";
    // The customer's storefront reads the order's intent and its secret, to authenticate on-session.
    json o;
    ASSERT_TRUE(testing::eventually([&] {
        auto g = shop.get("/v1/orders/" + order, shop.cus);
        if (g.status != 200) return false;
        o = json::parse(g.body);
        return o["payment"].is_object() && o["payment"].contains("client_secret");
    })) << o.dump();
    EXPECT_EQ(o["payment"]["payment_intent_id"], shop.intent_of(order)["id"]);
    // Both retries fail (1 and 2 days after the first failure): past_due, cancelled 3 days later.
    shop.set(due + 1000 + kDay + 1000);
    r = shop.renewal(id, 1, [](const json& r) { return r["attempts_failed"] == 2; });
    shop.set(due + 1000 + 2 * kDay + 1000);
    json s = shop.subscription(id, [](const json& s) { return s["status"] == "past_due"; });
    EXPECT_EQ(s["cancel_at_unix_ms"], due + 1000 + 2 * kDay + 1000 + 3 * kDay) << "3 days after the last attempt";
    EXPECT_EQ(shop.requests_keyed("renewal-" + id + "-1-retry-2").size(), 1u);
    // Past due holds the next period back even once its day comes.
    shop.set(due + 1000 + 2 * kDay + 3 * kDay - 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(shop.subscription(id)["status"], "past_due");
    shop.set(due + 1000 + 2 * kDay + 3 * kDay + 1000);
    s = shop.subscription(id, [](const json& s) { return s["status"] == "cancelled"; });
    EXPECT_EQ(s["cancel_mode"], "dunning");
    EXPECT_TRUE(testing::eventually([&] { return shop.status(order) == "cancelled"; })) << shop.status(order);
    EXPECT_EQ(shop.events("stock-beans", "StockReleased"), 1) << "the renewal's two bags come back";
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalRetryRequested'"), 2);
    std::string out;
    EXPECT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(shop.url, out); })) << out;
    EXPECT_NE(out.find("subscriptions: 1 checked, clean"), std::string::npos) << out;
    EXPECT_NE(out.find("subscription_renewals: "), std::string::npos) << out;
    // A hand edit of either table is named by reconciliation.
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE subscriptions SET status = 'active'");
        tx.exec("UPDATE subscription_renewals SET status = 'paid' WHERE period = 1");
    }));
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 1) << out;
    EXPECT_NE(out.find("subscriptions: 1 checked, 1 DRIFTING"), std::string::npos) << out;
    EXPECT_NE(out.find("status: cached active, log cancelled"), std::string::npos) << out;
    EXPECT_NE(out.find("subscription_renewals " + id + "/1 status: cached paid, log failed"), std::string::npos) << out;
}

// A first order never paid (its payment window passed): the subscription ends at its first
// renewal rather than charge the card.
TEST(SubscriptionsE2E, ASubscriptionWhoseFirstOrderWasNeverPaidEndsAtItsFirstRenewal) {
    RenewingShop shop({{"TALLY_PAYMENT_WINDOW_S", "1"}, {"TALLY_EXPIRY_SWEEP_INTERVAL_MS", "50"}});
    const auto made = shop.subscribe(shop.cus, shop.plan(1), 1400);
    const std::string id = made["subscription_id"];
    EXPECT_TRUE(testing::eventually([&] { return shop.status(made["order_id"]) == "cancelled"; }));
    shop.set(shop.subscription(id)["next_renewal_unix_ms"].get<int64_t>() + 1000);
    const json s = shop.subscription(id, [](const json& s) { return s["status"] == "cancelled"; });
    EXPECT_EQ(s["cancel_mode"], "first_order_unpaid");
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalPlaced'"), 0);
    // No card charged for it (the first order's own intent may or may not have been made
    // before its window closed: the window is a second here).
    for (const auto& pi : shop.fake.objects("pi_")) EXPECT_FALSE(pi["metadata"].contains("subscription_id")) << pi.dump();
    EXPECT_TRUE(shop.requests_keyed("renewal-" + id + "-1").empty());
}

// A renewal is priced like a checkout: the customer's loyalty tier at the time of the
// renewal takes its discount off the items (not shipping), and the charge is that price.
TEST(SubscriptionsE2E, ARenewalCarriesTheLoyaltyDiscountTheCustomerHasEarnedSince) {
    RenewingShop shop;
    // Silver (10% off) from 23.00 of spend: the paid first order earns it.
    auto tier = [](const char* name, int64_t threshold, int64_t bps) {
        return json{{"name", name}, {"threshold_minor", threshold}, {"discount_bps", bps}};
    };
    const json program = {{"currencies", json::array({{{"currency", "USD"},
                                                       {"tiers", json::array({tier("bronze", 0, 0), tier("silver", 2300, 1000),
                                                                              tier("gold", 1000000, 1500),
                                                                              tier("platinum", 2000000, 2000),
                                                                              tier("diamond", 3000000, 2500),
                                                                              tier("elite", 4000000, 3000)})}}})}};
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", program, shop.admin).status, 200);
    const std::string pm = shop.fake.save_card();
    const auto made = shop.subscribe_paid(pm);  // 2 x 9.00 + 5.00 shipping, at bronze
    const std::string id = made["subscription_id"];
    EXPECT_EQ(shop.number("SELECT total_minor FROM orders WHERE order_id = $1", {made["order_id"].get<std::string>()}), 2300);
    ASSERT_TRUE(testing::eventually([&] {
        auto r = shop.get("/v1/customers/cus-1/loyalty", shop.admin);
        return r.status == 200 && r.body.find("\"silver\"") != std::string::npos;
    }));

    shop.set(shop.subscription(id)["next_renewal_unix_ms"].get<int64_t>() + 1000);
    const json r = shop.renewal(id, 1, [](const json& r) { return r["status"] == "paid"; });
    EXPECT_EQ(r["order"]["total_minor"], 1800 - 180 + 500) << r.dump();
    const auto charged = shop.requests_keyed("renewal-" + id + "-1");
    ASSERT_EQ(charged.size(), 1u);
    EXPECT_EQ(charged[0].form.at("amount"), "2120");
    auto order = shop.get("/v1/orders/ord-" + id + "-1", shop.cus);
    ASSERT_EQ(order.status, 200) << order.body;
    EXPECT_EQ(json::parse(order.body)["loyalty"]["tier"], "silver") << order.body;
    EXPECT_EQ(json::parse(order.body)["loyalty"]["discount_bps"], 1000) << order.body;
}

// A simulated year: 100 monthly subscriptions, the scheduler's clock moved two days at a
// time for a year, with random pauses, skips, changes, cancellations, out-of-stock periods
// (decaf runs out and is restocked) and payment failures (cards declined for a while, or
// asking for authentication). Then, from the log and the provider's records: every period
// that fell due was renewed or skipped exactly once and in order, every charge made once
// under its key, every dunning retry asked no earlier than its schedule; the ledger
// balances and every cache reconciles.
TEST(SubscriptionsE2E, ASimulatedYearOfAHundredSubscriptionsRenewsEachPeriodOnceAndReconciles) {
    RenewingShop shop(std::map<std::string, std::string>{{"TALLY_RENEWAL_INTERVAL_MS", "20"}});
    constexpr int kSubscriptions = 100;
    constexpr int64_t kDay = 86400000, kStep = 2 * kDay;
    const std::vector<int64_t> retry_days = {1, 3, 7};
    std::mt19937 rng(20261205);
    auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
    ASSERT_EQ(shop.send("PUT", "/v1/products/decaf",
                        {{"vendor_id", "roast"}, {"country_of_origin", "MX"}, {"base_minor", 1000},
                         {"subscription_prices", {{"month_minor", 700}}}},
                        shop.roast)
                  .status,
              200);
    ASSERT_EQ(shop.send("POST", "/v1/products/beans/stock-adjustments", {{"delta", 5000}, {"reason", "a year's roast"}},
                        shop.roast)
                  .status,
              201);
    auto restock_decaf = [&](int64_t n) {
        EXPECT_EQ(shop.send("POST", "/v1/products/decaf/stock-adjustments", {{"delta", n}, {"reason", "restocked"}}, shop.roast)
                      .status,
                  201);
    };
    restock_decaf(30);
    std::vector<std::string> ids, customers, cards;
    for (int i = 0; i < kSubscriptions; ++i) customers.push_back("cus-y" + std::to_string(i));
    const auto tokens = testing::tokens_for(shop.url, customers, "customer");
    for (int i = 0; i < kSubscriptions; ++i) {
        cards.push_back(shop.fake.save_card());
        const int64_t beans = 1 + i % 3;
        json body = shop.plan(beans);
        body["payment_method"] = cards.back();
        int64_t total = beans * 900 + 500;
        if (i % 4 == 0) {  // a quarter also take a bag of decaf
            body["lines"].push_back({{"sku", "decaf"}, {"quantity", 1}});
            total += 700;
        }
        const json made = shop.subscribe(tokens[i], body, total);
        ids.push_back(made["subscription_id"]);
        shop.fake.succeed(shop.intent_of(made["order_id"])["id"]);
    }
    int64_t now = 0;
    for (const auto& id : ids) now = std::max(now, shop.subscription(id)["started_unix_ms"].get<int64_t>());
    const int64_t start = now, real_start = now;
    // Settled: the scheduler has nothing due, every charge it asked for was answered and
    // recorded, the read model has every subscription event, and no webhook is waiting.
    auto settled = [&] {
        if (!shop.fake.webhooks_idle()) return false;
        return shop.number("SELECT count(*) FROM subscriptions WHERE status <> 'cancelled' AND next_due_unix_ms <= $1::bigint",
                           {std::to_string(now)}) == 0 &&
               shop.number("SELECT (SELECT coalesce(max(position), 0) FROM journal WHERE stream_id LIKE 'subscription-%')"
                           " - (SELECT coalesce(max(position), 0) FROM subscriptions)") == 0 &&
               shop.number("SELECT count(*) FROM journal WHERE type IN ('RenewalPlaced', 'RenewalRetryRequested')") ==
                   shop.number("SELECT count(*) FROM provider_calls WHERE key LIKE 'renewal-%' AND status = 'done'");
    };
    std::map<int, int> declined_for;  // card index -> steps left
    int acts = 0;
    while (now < start + 365 * kDay) {
        // The customers act (on the pipeline's clock: a pause ends within a year of today).
        for (int i = 0; i < kSubscriptions; ++i) {
            const std::string base = "/v1/subscriptions/" + ids[i];
            const int roll = static_cast<int>(rng() % 1000);
            http::ClientResponse r;
            if (roll < 15) {
                const int64_t until = std::min(now + static_cast<int64_t>(10 + rng() % 50) * kDay, real_start + 360 * kDay);
                r = shop.send("POST", base + "/pause", {{"until_unix_ms", until}}, tokens[i]);
            } else if (roll < 35) {
                r = shop.send("POST", base + "/skip", json::object(), tokens[i]);
            } else if (roll < 55) {
                json lines = json::array({{{"sku", "beans"}, {"quantity", 1 + rng() % 3}}});
                if (chance(30)) lines.push_back({{"sku", "decaf"}, {"quantity", 1}});
                r = shop.send("POST", base + "/changes", {{"lines", lines}}, tokens[i]);
            } else if (roll < 58) {
                r = shop.send("POST", base + "/cancel", {{"mode", chance(50) ? "period_end" : "immediately"}}, tokens[i]);
            } else {
                continue;
            }
            ++acts;
            // Refusals are the rules at work (cancelled, a cancellation scheduled, …), never a server error.
            EXPECT_LT(r.status, 500) << r.body;
        }
        // Cards fail for a while, then work again.
        for (int i = 0; i < kSubscriptions; ++i) {
            if (auto it = declined_for.find(i); it != declined_for.end()) {
                if (--it->second <= 0) {
                    shop.fake.card_outcome(cards[i], "succeeded");
                    declined_for.erase(it);
                }
            } else if (chance(3)) {
                shop.fake.card_outcome(cards[i], chance(70) ? "card_declined" : "authentication_required");
                declined_for[i] = 1 + static_cast<int>(rng() % 8);
            }
        }
        if (chance(7)) restock_decaf(5 + rng() % 10);
        now += kStep;
        shop.set(now);
        ASSERT_TRUE(testing::eventually(settled, std::chrono::seconds(120)))
            << "day " << (now - start) / kDay << "\n" << shop.tallyd.log();
    }

    // From the log: each subscription's periods, each renewed or skipped once, in order.
    struct Step {
        std::string type;
        int64_t period = 0, attempt = 0, at = 0;
    };
    std::map<std::string, std::vector<Step>> log;
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT stream_id, type, payload FROM journal WHERE stream_id LIKE 'subscription-%'"
                                       " ORDER BY position")) {
            const std::string sub = row.str(0).substr(std::string_view("subscription-").size());
            Step st{row.str(1)};
            // The period, attempt and time of the events that carry them.
            auto read = [&]<typename Event>(Event e) {
                ASSERT_TRUE(e.ParseFromString(row.bytes(2))) << st.type;
                st.period = e.period();
                if constexpr (requires { e.attempt(); }) st.attempt = e.attempt();
                if constexpr (requires { e.at_unix_ms(); }) st.at = e.at_unix_ms();
            };
            if (st.type == "RenewalPlaced") read(v1::RenewalPlaced{});
            else if (st.type == "RenewalSkipped") read(v1::RenewalSkipped{});
            else if (st.type == "RenewalPaymentFailed") read(v1::RenewalPaymentFailed{});
            else if (st.type == "RenewalRetryRequested") read(v1::RenewalRetryRequested{});
            log[sub].push_back(st);
        }
    }));
    int renewed = 0, skipped = 0, failed = 0, retries = 0, cancelled = 0;
    for (const auto& id : ids) {
        const auto& steps = log[id];
        int64_t expected = 1;
        std::map<int64_t, int64_t> first_failed;  // period -> the attempt's time
        for (const auto& st : steps) {
            if (st.type == "RenewalPlaced" || st.type == "RenewalSkipped") {
                EXPECT_EQ(st.period, expected) << id << ": periods renewed or skipped once, in order";
                expected = st.period + 1;
                (st.type == "RenewalPlaced" ? renewed : skipped)++;
            } else if (st.type == "RenewalPaymentFailed") {
                if (st.attempt == 0) first_failed[st.period] = st.at;
                ++failed;
            } else if (st.type == "RenewalRetryRequested") {
                ASSERT_TRUE(first_failed.contains(st.period)) << id;
                ASSERT_GE(st.attempt, 1);
                ASSERT_LE(st.attempt, 3);
                const int64_t due = first_failed[st.period] + retry_days[static_cast<size_t>(st.attempt - 1)] * kDay;
                EXPECT_GE(st.at, due) << id << " retry " << st.attempt << " asked early";
                EXPECT_LT(st.at, due + kStep + kDay) << id << " retry " << st.attempt << " late beyond a clock step";
                ++retries;
            } else if (st.type == "SubscriptionCancelled") {
                ++cancelled;
            }
        }
        // Nothing left behind: a live subscription's next period has not started yet.
        const json s = shop.subscription(id);
        if ((s["status"] == "active" || s["status"] == "paused") && s["dunning"].is_null()) {
            EXPECT_GT(s["next_renewal_unix_ms"].get<int64_t>(), now) << id;
        }
        EXPECT_EQ(s["next_period"], expected) << id;
    }
    // Every charge once: one intent per renewal order, each created under its own key once.
    std::map<std::string, int> created;
    for (const auto& r : shop.fake.requests("/v1/payment_intents"))
        if (r.path == "/v1/payment_intents" && !r.replayed && r.idempotency_key.rfind("renewal-", 0) == 0)
            ++created[r.idempotency_key];
    for (const auto& [key, n] : created) EXPECT_EQ(n, 1) << key;
    EXPECT_EQ(static_cast<int>(created.size()), renewed);
    std::map<std::string, int> retried;
    for (const auto& r : shop.fake.requests("/v1/payment_intents/"))
        if (r.path.ends_with("/confirm") && !r.replayed) ++retried[r.idempotency_key];
    for (const auto& [key, n] : retried) EXPECT_EQ(n, 1) << key;
    EXPECT_EQ(static_cast<int>(retried.size()), retries);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalPlaced'"), renewed);
    // The year had all of it.
    EXPECT_GT(renewed, 300);
    EXPECT_GT(skipped, 20);
    EXPECT_GT(failed, 10);
    EXPECT_GT(retries, 5);
    EXPECT_GT(cancelled, 5);
    EXPECT_GT(shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalLineSkipped'"), 0) << "decaf ran out";
    EXPECT_GT(shop.number("SELECT count(*) FROM journal WHERE type = 'SubscriptionPastDue'"), 0);
    std::string out;
    EXPECT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(shop.url, out); }, std::chrono::seconds(120)))
        << out;
    // The read model rebuilt from the log is the same.
    auto dump = [&] {
        std::string out;
        EXPECT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
            for (const auto& row : tx.exec("SELECT subscription_id, status, next_due_unix_ms, md5(state) FROM subscriptions ORDER BY 1"))
                out += row.str(0) + row.str(1) + row.str(2) + row.str(3) + "\n";
            for (const auto& row : tx.exec("SELECT subscription_id, period, order_id, status, note, attempts_failed FROM"
                                           " subscription_renewals ORDER BY 1, 2"))
                out += row.str(0) + row.str(1) + row.str(2) + row.str(3) + row.str(4) + row.str(5) + "\n";
        }));
        return out;
    };
    const std::string before = dump();
    auto rebuilt = shop.send("POST", "/v1/projections/subscriptions/rebuild", json::object(), shop.admin);
    ASSERT_EQ(rebuilt.status, 200) << rebuilt.body;
    EXPECT_EQ(dump(), before);
    std::cout << "simulated year: " << renewed << " renewals, " << skipped << " skips, " << failed << " failed charges, "
              << retries << " retries, " << cancelled << " cancellations, " << acts << " customer acts\n";
}

// Two processes share the database; the one that owns the renewal scheduler is frozen
// and SIGKILLed in the middle of a due batch. The other takes the scheduler over and
// finishes the batch: every subscription renewed once, none twice, none missed, and no
// charge made twice under its key.
TEST(SubscriptionsE2E, ARenewalRunSurvivesItsOwnersSigkillWithoutDoublingOrMissingOne) {
    ClockFile clock;
    const std::map<std::string, std::string> env = {{"TALLY_SUBSCRIPTION_CLOCK_FILE", clock.path},
                                                    {"TALLY_RENEWAL_INTERVAL_MS", "50"},
                                                    {"TALLY_KAFKA_SESSION_TIMEOUT_MS", "3000"}};
    SubscriptionShop shop(env);
    testing::Tallyd second(shop.url, shop.broker.bootstraps(),
                           testing::with(env, {{"TALLY_STRIPE_API_BASE", shop.fake.base_url()},
                                               {"TALLY_STRIPE_SECRET_KEY", testing::kKey},
                                               {"TALLY_STRIPE_WEBHOOK_SECRETS", testing::kWebhookSecret}}));
    second.start();
    ASSERT_EQ(shop.send("POST", "/v1/products/beans/stock-adjustments", {{"delta", 1000}, {"reason", "roasted"}}, shop.roast)
                  .status,
              201);
    constexpr int kSubscriptions = 100;
    std::vector<std::string> customers;
    for (int i = 0; i < kSubscriptions; ++i) customers.push_back("cus-k" + std::to_string(i));
    const auto tokens = testing::tokens_for(shop.url, customers, "customer");
    std::vector<std::string> ids;
    for (int i = 0; i < kSubscriptions; ++i) ids.push_back(shop.subscribe(tokens[i], shop.plan(1), 1400)["subscription_id"]);
    int64_t due = 0;
    for (const auto& id : ids) due = std::max(due, shop.subscription(id)["next_renewal_unix_ms"].get<int64_t>());
    const std::string owns = "renewal scheduler: this process renews subscriptions";
    auto renewed = [&] { return shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalPlaced'"); };
    clock.set(due + 1000);
    ASSERT_TRUE(testing::eventually([&] { return renewed() >= 5; }, std::chrono::seconds(30)));
    const bool first_owns = shop.tallyd.log().find(owns) != std::string::npos;
    testing::Tallyd& owner = first_owns ? shop.tallyd : second;
    testing::Tallyd& survivor = first_owns ? second : shop.tallyd;
    owner.signal(SIGSTOP);
    const int64_t at_kill = renewed();
    owner.kill9();
    shop.fake.send_webhooks_to(survivor.port());  // as a load balancer would: to the process that is up
    std::cout << "renewals when the owner was killed: " << at_kill << " of " << kSubscriptions << "\n";
    EXPECT_LT(at_kill, kSubscriptions) << "the kill landed after the batch: the test proves less than it says";
    ASSERT_TRUE(testing::eventually([&] { return survivor.log().find(owns) != std::string::npos; }, std::chrono::seconds(30)));
    ASSERT_TRUE(testing::eventually([&] { return renewed() == kSubscriptions; }, std::chrono::seconds(60))) << renewed();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(renewed(), kSubscriptions);
    EXPECT_EQ(shop.number("SELECT count(DISTINCT stream_id) FROM journal WHERE type = 'RenewalPlaced'"), kSubscriptions);
    EXPECT_EQ(shop.number("SELECT count(DISTINCT stream_id) FROM journal WHERE type = 'OrderPlaced'"), 2 * kSubscriptions);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RenewalSkipped'"), 0);
    // The survivor's workers charge what is not charged yet; a key is never used for two charges.
    ASSERT_TRUE(testing::eventually([&] {
        int n = 0;
        for (const auto& pi : shop.fake.objects("pi_")) n += pi["metadata"].contains("subscription_id") ? 1 : 0;
        return n >= kSubscriptions - 10;  // those the killed process had claimed wait for their lease
    }, std::chrono::seconds(60))) << survivor.log();
    std::map<std::string, int> created;
    for (const auto& r : shop.fake.requests("/v1/payment_intents"))
        if (r.path == "/v1/payment_intents" && !r.replayed && r.idempotency_key.rfind("renewal-", 0) == 0) ++created[r.idempotency_key];
    for (const auto& [key, n] : created) EXPECT_EQ(n, 1) << key;
    std::set<std::string> periods;
    for (const auto& pi : shop.fake.objects("pi_"))
        if (pi["metadata"].contains("subscription_id")) {
            EXPECT_TRUE(periods.insert(pi["metadata"]["subscription_id"].get<std::string>()).second) << pi.dump();
        }
}

}  // namespace
}  // namespace tally
