// Orders complete (issue 11), end to end over HTTP with the fake provider: abandoned
// checkouts expire and give back their stock, coupon uses and PaymentIntent; coupon
// uses come back on a cancellation before payment, never after a refund.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/stripe.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

struct Shop : testing::ProviderShop {
    explicit Shop(std::map<std::string, std::string> env = {}) : testing::ProviderShop(std::move(env)) {
        // One lamp left, and a coupon that may be used once in all.
        EXPECT_EQ(send("POST", "/v1/products/lamp/stock-adjustments", {{"delta", -99}, {"reason", "count"}}, admin).status, 201);
        EXPECT_EQ(send("PUT", "/v1/coupons/ONCE",
                       {{"kind", "FIXED"}, {"fixed_minor", 500}, {"scope", "SITE"}, {"uses_max_total", 1}}, admin).status,
                  200);
    }

    // One lamp with the coupon: 40.00 + 5.00 shipping - 5.00.
    http::ClientResponse buy(const std::string& customer, bool coupon = true) {
        json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                     {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})},
                     {"expected_total_minor", coupon ? 4000 : 4500}};
        if (coupon) cart["coupon_codes"] = {"ONCE"};
        return send("POST", "/v1/checkout", cart, testing::token_for(url, customer, "customer"));
    }

    int64_t coupon_uses() {
        auto n = number("SELECT (SELECT count(*) FROM journal WHERE type = 'CouponRedeemed')"
                        " - (SELECT count(*) FROM journal WHERE type = 'CouponReleased')");
        return n;
    }
};

std::string order_of(const http::ClientResponse& r) { return json::parse(r.body).value("order_id", ""); }

}  // namespace

TEST(OrdersComplete, AnAbandonedCheckoutExpiresAndGivesBackItsStockCouponAndIntent) {
    Shop shop({{"TALLY_PAYMENT_WINDOW_S", "5"}, {"TALLY_EXPIRY_SWEEP_INTERVAL_MS", "200"}});
    auto first = shop.buy("cus-a");
    ASSERT_EQ(first.status, 201) << first.body;
    const std::string a = order_of(first);
    // Nothing left for anyone else while it waits for payment.
    auto blocked = shop.buy("cus-b");
    EXPECT_EQ(blocked.status / 100, 4) << blocked.body;
    EXPECT_NE(shop.status(a), "cancelled") << "expired before its window";
    const json intent = shop.intent_of(a);

    // Not paid within the window: the system cancels it, in one batch with the stock and
    // the coupon use, and the provider cancels the intent.
    ASSERT_TRUE(testing::eventually([&] { return shop.status(a) == "cancelled"; }, std::chrono::seconds(20)));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled' AND stream_id = $1", {"order-" + a}), 1);
    EXPECT_EQ(shop.coupon_uses(), 0);
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-cancel-" + a) == "done"; }));
    EXPECT_EQ(shop.fake.object(intent["id"])->value("status", ""), "canceled");

    // The shelf and the coupon are someone else's again.
    auto second = shop.buy("cus-b");
    ASSERT_EQ(second.status, 201) << second.body;
    EXPECT_EQ(shop.coupon_uses(), 1);

    // Expiring twice is impossible: the sweep's command is keyed by the order, and the
    // decision refuses what is already cancelled.
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled'"), 1);
    EXPECT_EQ(shop.number("SELECT count(*) FROM idempotency WHERE key = $1", {"expire-" + a}), 1);
}

TEST(OrdersComplete, ALatePaymentAfterExpiryIsRefundedInFull) {
    Shop shop({{"TALLY_PAYMENT_WINDOW_S", "4"}, {"TALLY_EXPIRY_SWEEP_INTERVAL_MS", "200"}});
    auto placed = shop.buy("cus-a", false);
    ASSERT_EQ(placed.status, 201) << placed.body;
    const std::string a = order_of(placed);
    const json intent = shop.intent_of(a);
    // The customer pays as the window closes; the provider's webhook is late.
    shop.fake.send_webhooks_to(0);
    shop.fake.succeed(intent["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(a) == "cancelled"; }, std::chrono::seconds(20)));
    shop.fake.send_webhooks_to(shop.tallyd.port());
    const json late = shop.refund_of(intent["id"]);
    ASSERT_FALSE(late.is_null()) << "the late payment was not refunded";
    EXPECT_EQ(late["amount"], 4500);
    EXPECT_EQ(shop.status(a), "cancelled");
}

TEST(OrdersComplete, CouponUsesComeBackOnCancelBeforePaymentButNotAfterARefund) {
    Shop shop;
    EXPECT_EQ(shop.send("POST", "/v1/products/lamp/stock-adjustments", {{"delta", 5}, {"reason", "more"}}, shop.admin).status,
              201);
    // The customer cancels before paying: the use comes back.
    auto first = shop.buy("cus-a");
    ASSERT_EQ(first.status, 201) << first.body;
    EXPECT_EQ(shop.coupon_uses(), 1);
    auto r = shop.send("POST", "/v1/orders/" + order_of(first) + "/cancel", {{"reason", "changed my mind"}},
                       testing::token_for(shop.url, "cus-a", "customer"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(shop.coupon_uses(), 0);
    // Staff cancel an unpaid order: the same.
    auto second = shop.buy("cus-b");
    ASSERT_EQ(second.status, 201) << second.body;
    r = shop.send("POST", "/v1/orders/" + order_of(second) + "/cancel", {{"reason", "fraud check"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(shop.coupon_uses(), 0);
    // Paid, then refunded in full: the use stays spent, so a new checkout is refused.
    auto third = shop.buy("cus-c");
    ASSERT_EQ(third.status, 201) << third.body;
    const std::string c = order_of(third);
    shop.fake.succeed(shop.intent_of(c)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(c) == "paid"; }));
    r = shop.send("POST", "/v1/orders/" + c + "/refunds",
                  {{"amount_minor", 4000}, {"destination", "card"}, {"reason", "damaged"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(shop.coupon_uses(), 1);
    auto fourth = shop.buy("cus-d");
    EXPECT_EQ(fourth.status / 100, 4) << fourth.body;
    EXPECT_NE(fourth.body.find("coupon"), std::string::npos) << fourth.body;
}

}  // namespace tally

namespace tally {

// The sweep has one owner across processes, and a SIGKILL of that owner mid-sweep
// neither cancels an order twice nor leaves one behind: the other process takes the
// lock over and resumes from the orders projection.
TEST(OrdersComplete, TheExpirySweepSurvivesItsOwnersSigkill) {
    const std::map<std::string, std::string> env = {{"TALLY_PAYMENT_WINDOW_S", "3"},
                                                    {"TALLY_EXPIRY_SWEEP_INTERVAL_MS", "100"},
                                                    {"TALLY_KAFKA_SESSION_TIMEOUT_MS", "3000"}};
    testing::Shop shop(env);
    testing::Tallyd second(shop.url, shop.broker.bootstraps(), env);
    second.start();
    ASSERT_EQ(shop.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"shipping", {{"flat_minor", 0}}}}, shop.admin).status,
              200);
    ASSERT_EQ(shop.send("PUT", "/v1/products/mug", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 1000}},
                        shop.admin).status, 200);
    ASSERT_EQ(shop.send("POST", "/v1/products/mug/stock-adjustments", {{"delta", 60}, {"reason", "received"}}, shop.admin).status,
              201);
    constexpr int kOrders = 60;
    for (int i = 0; i < kOrders; ++i) {
        json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                     {"lines", json::array({{{"sku", "mug"}, {"quantity", 1}}})}, {"expected_total_minor", 1000}};
        auto r = shop.send("POST", "/v1/checkout", cart, testing::token_for(shop.url, "buyer-" + std::to_string(i), "customer"));
        ASSERT_EQ(r.status, 201) << r.body;
    }
    // Whichever process sweeps is killed as soon as it has cancelled a few.
    ASSERT_TRUE(testing::eventually([&] { return shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled'") >= 3; },
                                    std::chrono::seconds(30)));
    const bool first_sweeps = shop.tallyd.log().find("expiry sweep: this process sweeps") != std::string::npos;
    if (first_sweeps) shop.tallyd.kill9();
    else second.kill9();
    testing::Tallyd& survivor = first_sweeps ? second : shop.tallyd;
    ASSERT_TRUE(testing::eventually([&] { return survivor.log().find("expiry sweep: this process sweeps") != std::string::npos; },
                                    std::chrono::seconds(30)));
    ASSERT_TRUE(testing::eventually(
        [&] { return shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled'") == kOrders; },
        std::chrono::seconds(60)))
        << shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled'");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderCancelled'"), kOrders);
    EXPECT_EQ(shop.number("SELECT count(DISTINCT stream_id) FROM journal WHERE type = 'OrderCancelled'"), kOrders);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'StockReleased'"), kOrders);
}

}  // namespace tally

namespace tally {

// The order's fulfilment status follows its sub-orders, across two vendors; the admin
// list filters by it; the customer sees each sub-order's carrier and tracking; and a
// rebuild from the log gives the same.
TEST(OrdersComplete, FulfilmentStatusFollowsTheSubOrders) {
    testing::ProviderShop shop;
    shop.vendor("bo", "acct_bo", "vase");
    json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                 {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}, {{"sku", "vase"}, {"quantity", 1}}})},
                 {"expected_total_minor", 9000}};
    const auto customer = testing::token_for(shop.url, "cus-f", "customer");
    auto r = shop.send("POST", "/v1/checkout", cart, customer);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string order = json::parse(r.body)["order_id"];
    shop.fake.succeed(shop.intent_of(order)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; }));
    auto detail = [&] { return json::parse(shop.get("/v1/orders/" + order, customer).body); };
    auto listed = [&](const std::string& f) {
        auto l = json::parse(shop.get("/v1/orders?fulfilment_status=" + f, shop.admin).body);
        for (const auto& o : l["orders"])
            if (o["order_id"] == order) return true;
        return false;
    };
    EXPECT_EQ(detail()["fulfilment_status"], "unfulfilled");
    auto advance = [&](const std::string& vendor, const std::string& to, const std::string& tracking) {
        json body = {{"vendor_id", vendor}, {"status", to}};
        if (to == "shipped") body.update({{"carrier", "DHL"}, {"tracking", tracking}});
        auto a = shop.send("POST", "/v1/orders/" + order + "/fulfilment", body, shop.admin);
        ASSERT_EQ(a.status, 200) << a.body;
    };
    advance("ana", "in_production", "");
    advance("ana", "shipped", "TRK-ANA");
    ASSERT_TRUE(testing::eventually([&] { return detail()["fulfilment_status"] == "partially_shipped"; })) << detail().dump();
    EXPECT_TRUE(listed("partially_shipped"));
    EXPECT_FALSE(listed("shipped"));
    const json shipped = detail();  // kept: a loop over a temporary's member would dangle
    for (const auto& so : shipped["sub_orders"])
        if (so["vendor_id"] == "ana") {
            EXPECT_EQ(so["carrier"], "DHL");
            EXPECT_EQ(so["tracking"], "TRK-ANA");
        }
    advance("bo", "in_production", "");
    advance("bo", "shipped", "TRK-BO");
    ASSERT_TRUE(testing::eventually([&] { return detail()["fulfilment_status"] == "shipped"; }));
    advance("ana", "delivered", "");
    ASSERT_TRUE(testing::eventually([&] { return shop.number(
        "SELECT count(*) FROM sub_orders WHERE order_id = $1 AND status = 'delivered'", {order}) == 1; }));
    EXPECT_EQ(detail()["fulfilment_status"], "shipped");  // one of two delivered is still shipped
    advance("bo", "delivered", "");
    ASSERT_TRUE(testing::eventually([&] { return detail()["fulfilment_status"] == "delivered"; }));
    EXPECT_TRUE(listed("delivered"));
    EXPECT_EQ(shop.get("/v1/orders?fulfilment_status=lost", shop.admin).status, 400);
    // From the log alone, the same.
    r = shop.send("POST", "/v1/projections/orders/rebuild", json::object(), shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(detail()["fulfilment_status"], "delivered");
    const json rebuilt = detail();
    for (const auto& so : rebuilt["sub_orders"]) EXPECT_EQ(so["carrier"], "DHL");
    // tally-replay reconcile holds the order read model to the log.
    auto reconcile = [&](std::string& out) { return testing::run_replay(shop.url, "reconcile", out); };
    std::string out;
    // The ledger projector may still be applying the payouts' transfers, and the orders
    // projector the last events (its row then counts as pending, not checked).
    EXPECT_TRUE(testing::eventually(
        [&] { return reconcile(out) == 0 && out.find("  orders: 1 checked, clean") != std::string::npos; }))
        << out;
    // Edited by hand, reconcile finds it (edited again if a late payout event rewrote the row first).
    EXPECT_TRUE(testing::eventually([&] {
        EXPECT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
            tx.exec("UPDATE orders SET fulfilment_status = 'unfulfilled' WHERE order_id = $1", {order});
        }));
        return reconcile(out) == 1 &&
               out.find("fulfilment_status: cached unfulfilled, log delivered") != std::string::npos;
    })) << out;
}

}  // namespace tally

namespace tally {

TEST(OrdersComplete, ALinesUnitsAreRefundedAtMostOnce) {
    testing::ProviderShop shop;
    json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                 {"lines", json::array({{{"sku", "lamp"}, {"quantity", 3}}})}, {"expected_total_minor", 12500}};
    auto r = shop.send("POST", "/v1/checkout", cart, testing::token_for(shop.url, "cus-r", "customer"));
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string order = json::parse(r.body)["order_id"];
    shop.fake.succeed(shop.intent_of(order)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; }));
    auto refund = [&](int64_t units) {
        return shop.send("POST", "/v1/orders/" + order + "/refunds",
                         {{"lines", json::array({{{"sku", "lamp"}, {"quantity", units}}})}, {"destination", "card"},
                          {"reason", "broken"}},
                         shop.admin);
    };
    EXPECT_EQ(refund(2).status, 200);
    auto beyond = refund(2);
    EXPECT_EQ(beyond.status, 409) << beyond.body;
    EXPECT_EQ(json::parse(beyond.body)["title"], "units_already_refunded");
    EXPECT_EQ(refund(1).status, 200);
    EXPECT_EQ(refund(1).status, 409);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RefundIssued'"), 2);
}

}  // namespace tally

namespace tally {

// The double-click rule: the same cart again within five minutes, while the first order
// awaits payment, is that order (200, Duplicate-Of) and places nothing; a different cart,
// or after the first is paid, places a new order.
TEST(OrdersComplete, ADoubleClickReturnsTheFirstOrder) {
    testing::ProviderShop shop;
    const auto customer = testing::token_for(shop.url, "cus-dc", "customer");
    const json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                       {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})}, {"expected_total_minor", 4500}};
    auto first = shop.send("POST", "/v1/checkout", cart, customer, "click-1");
    ASSERT_EQ(first.status, 201) << first.body;
    const std::string a = json::parse(first.body)["order_id"];
    const int64_t events = shop.number("SELECT count(*) FROM journal");
    auto again = shop.send("POST", "/v1/checkout", cart, customer, "click-2");
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(again.headers["duplicate-of"], a);
    EXPECT_EQ(json::parse(again.body)["order_id"], a);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal"), events);  // nothing placed
    // Its replay is the same answer.
    auto replay = shop.send("POST", "/v1/checkout", cart, customer, "click-2");
    EXPECT_EQ(replay.status, 200);
    EXPECT_EQ(replay.headers["duplicate-of"], a);
    // Two at once, in one batch or two: still one order.
    std::vector<std::thread> clicks;
    std::vector<int> statuses(4);
    for (int i = 0; i < 4; ++i)
        clicks.emplace_back([&, i] {
            http::Client c("127.0.0.1", shop.tallyd.port());
            auto r = c.request("POST", "/v1/checkout", cart.dump(),
                               {{"Authorization", "Bearer " + customer}, {"Idempotency-Key", "burst-" + std::to_string(i)}});
            statuses[static_cast<size_t>(i)] = r.status;
        });
    for (auto& t : clicks) t.join();
    for (int s : statuses) EXPECT_TRUE(s == 200 || s == 503) << s;
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'"), 1);
    // Another cart is another order.
    json other = cart;
    other["lines"][0]["quantity"] = 2;
    other["expected_total_minor"] = 8500;
    auto different = shop.send("POST", "/v1/checkout", other, customer);
    EXPECT_EQ(different.status, 201) << different.body;
    // Once the first is paid, the same cart again is a new order.
    shop.fake.succeed(shop.intent_of(a)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(a) == "paid"; }));
    auto after_paid = shop.send("POST", "/v1/checkout", cart, customer);
    EXPECT_EQ(after_paid.status, 201) << after_paid.body;
    EXPECT_NE(json::parse(after_paid.body)["order_id"], a);
}

}  // namespace tally

namespace tally {

// Shipping destinations: refused at quote and at checkout, naming the SKU.
TEST(OrdersComplete, AnUnsupportedDestinationIsRefusedAtQuoteAndCheckout) {
    testing::ProviderShop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/vendors/ana",
                        {{"currency", "USD"}, {"commission_bps", 1000}, {"shipping", {{"flat_minor", 500}}},
                         {"payout_account", "acct_ana"}, {"ships_to", {"US", "CA"}}}, shop.admin).status, 200);
    const auto customer = testing::token_for(shop.url, "cus-x", "customer");
    json cart = {{"currency", "USD"}, {"ship_to_country", "FR"},
                 {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})}, {"expected_total_minor", 4500}};
    auto quote = shop.client->request("POST", "/v1/quote", cart.dump(), {{"Authorization", "Bearer " + customer}});
    EXPECT_EQ(quote.status, 422) << quote.body;
    EXPECT_EQ(json::parse(quote.body)["title"], "unsupported_destination");
    EXPECT_NE(json::parse(quote.body)["detail"].get<std::string>().find("lamp"), std::string::npos);
    auto checkout = shop.send("POST", "/v1/checkout", cart, customer);
    EXPECT_EQ(checkout.status, 422) << checkout.body;
    EXPECT_EQ(json::parse(checkout.body)["title"], "unsupported_destination");
    EXPECT_EQ(json::parse(checkout.body)["field"], "lines");
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'"), 0);
    cart["ship_to_country"] = "CA";
    EXPECT_EQ(shop.send("POST", "/v1/checkout", cart, customer).status, 201);
    // The site's own list, and a bad country code, are checked too.
    EXPECT_EQ(shop.send("PUT", "/v1/catalog/settings", {{"ships_to", {"US"}}}, shop.admin).status, 200);
    cart["lines"][0]["quantity"] = 2;
    cart["expected_total_minor"] = 8500;
    EXPECT_EQ(shop.send("POST", "/v1/checkout", cart, customer).status, 422);
    auto bad = shop.send("PUT", "/v1/catalog/settings", {{"ships_to", {"France"}}}, shop.admin);
    EXPECT_EQ(bad.status, 422);
    EXPECT_EQ(json::parse(bad.body)["title"], "country_invalid");
}

}  // namespace tally

namespace tally {

// One commission base: commission is charged on goods after discounts, and refunds
// reverse it on that base; a shipping refund moves none.
TEST(OrdersComplete, AShippingRefundMovesNoCommission) {
    testing::ProviderShop shop;
    const std::string order = shop.checkout("cus-s");  // 40.00 goods (4.00 commission) + 5.00 shipping
    shop.fake.succeed(shop.intent_of(order)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; }));
    auto commission = [&] { return -shop.balance("platform_commission_revenue"); };
    ASSERT_TRUE(testing::eventually([&] { return commission() == 400; })) << commission();
    auto r = shop.send("POST", "/v1/orders/" + order + "/refunds",
                       {{"amount_minor", 500}, {"shipping_only", true}, {"destination", "card"}, {"reason", "late"}},
                       shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("vendor_payable:ana") == -(4000 + 500 - 400) + 500; }))
        << shop.balance("vendor_payable:ana");
    EXPECT_EQ(commission(), 400);
    // Shipping cannot be refunded twice; goods by amount reverse commission on goods.
    EXPECT_EQ(shop.send("POST", "/v1/orders/" + order + "/refunds",
                        {{"amount_minor", 1}, {"shipping_only", true}, {"destination", "card"}, {"reason", "x"}}, shop.admin)
                  .status,
              422);
    r = shop.send("POST", "/v1/orders/" + order + "/refunds",
                  {{"amount_minor", 1000}, {"destination", "card"}, {"reason", "scratched"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return commission() == 300; })) << commission();
    EXPECT_EQ(shop.balance("platform_commission_revenue") + shop.balance("vendor_payable:ana") +
                  shop.balance("processor_clearing") + shop.balance("customer_receivable:cus-s"),
              0);
}

}  // namespace tally

namespace tally {

// A refund made in the provider's dashboard reaches tally as a signed charge.refunded
// whose amount exceeds what tally issued: the difference is booked on the ledger, split
// over the sub-orders, and listed for staff; the same news again books nothing more.
TEST(OrdersComplete, ARefundMadeAtTheProviderIsBookedAndListed) {
    testing::ProviderShop shop;
    // A loyalty program: one 45.00 order makes silver; the dashboard refund must take it back.
    json tiers = json::array();
    const char* names[] = {"bronze", "silver", "gold", "platinum", "diamond", "elite"};
    for (int i = 0; i < 6; ++i) tiers.push_back({{"name", names[i]}, {"threshold_minor", i * 4500}});
    ASSERT_EQ(shop.send("PUT", "/v1/loyalty/program", {{"currencies", json::array({{{"currency", "USD"}, {"tiers", tiers}}})}},
                        shop.admin).status, 200);
    const std::string order = shop.paid_order("cus-e");
    const std::string intent = shop.intent_of(order)["id"];
    auto webhook = [&](const std::string& id, int64_t cumulative) {
        const int64_t t = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
        const std::string body =
            json{{"id", id}, {"type", "charge.refunded"}, {"created", t},
                 {"data", {{"object", {{"id", "ch_dash"}, {"payment_intent", intent}, {"amount_refunded", cumulative},
                                       {"currency", "usd"}}}}}}.dump();
        return shop.client->request("POST", "/v1/webhooks/stripe", body,
                                    {{"Stripe-Signature", "t=" + std::to_string(t) + ",v1=" +
                                                              http::stripe::sign_v1(testing::kWebhookSecret, t, body)}});
    };
    ASSERT_EQ(webhook("evt_dash_1", 1500).status, 200);
    json list;
    ASSERT_TRUE(testing::eventually([&] {
        list = json::parse(shop.get("/v1/operator/external-refunds", shop.admin).body)["external_refunds"];
        return list.size() == 1;
    })) << list.dump();
    EXPECT_EQ(list[0]["order_id"], order);
    EXPECT_EQ(list[0]["amount_minor"], 1500);
    EXPECT_EQ(list[0]["charge_id"], "ch_dash");
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ExternalRefundRecorded'"), 1);
    // Booked like a card refund: the clearing account gave it back, and the ledger balances.
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("processor_clearing") == 4500 - 1500; }))
        << shop.balance("processor_clearing");
    EXPECT_EQ(shop.number("SELECT sum(debit_minor) - sum(credit_minor) FROM ledger_accounts"), 0);
    EXPECT_LT(-shop.balance("platform_commission_revenue"), 400);  // commission reversed on the goods part
    // Loyalty reverses too, in the same batch: 30.00 of spend, back to bronze.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal x JOIN journal s ON s.xmin = x.xmin AND s.correlation_id = x.correlation_id"
                          " WHERE x.type = 'ExternalRefundRecorded' AND s.type = 'SpendRecorded'"), 1);
    ASSERT_TRUE(testing::eventually([&] {
        return shop.number("SELECT coalesce((SELECT spend_minor FROM loyalty_standings WHERE customer_id = 'cus-e'), -1)") == 3000 &&
               shop.number("SELECT count(*) FROM loyalty_standings WHERE customer_id = 'cus-e' AND tier = 'bronze'") == 1;
    }));
    // Redelivered, or reported again under another event id: nothing more is booked.
    EXPECT_EQ(webhook("evt_dash_1", 1500).status, 200);
    EXPECT_EQ(webhook("evt_dash_2", 1500).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ExternalRefundRecorded'"), 1);
    EXPECT_EQ(shop.get("/v1/operator/external-refunds", testing::token_for(shop.url, "cus-e", "customer")).status, 403);
    // The order read model rebuilds it from the log.
    ASSERT_EQ(shop.send("POST", "/v1/projections/orders/rebuild", json::object(), shop.admin).status, 200);
    EXPECT_EQ(shop.number("SELECT count(*) FROM external_refunds"), 1);
}

}  // namespace tally
