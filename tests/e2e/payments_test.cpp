// Payments over HTTP: signed Stripe webhooks (verified, deduplicated by event id,
// 2xx only after commit, 5xx while the database is away), fulfilment, refunds,
// disputes and payouts, ending in the read models and the ledger.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "http/client.h"
#include "http/stripe.h"
#include "infra/sql.h"
#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;

constexpr const char* kSecret = "whsec_e2e_secret";

struct Shop : testing::Shop {
    Shop()
        : testing::Shop({{"TALLY_STRIPE_WEBHOOK_SECRETS", std::string("whsec_old,") + kSecret}, {"TALLY_PAYOUT_DELAY_S", "0"}}) {
        send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"commission_bps", 1000}, {"shipping", {{"flat_minor", 500}}}}, admin);
        send("PUT", "/v1/products/lamp", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 4000}}, admin);
        send("POST", "/v1/products/lamp/stock-adjustments", {{"delta", 1000}, {"reason", "received"}}, admin);
    }

    // A placed order: 1 lamp (40.00 + 5.00 shipping), paid by card.
    std::string checkout(const std::string& customer) {
        const auto token = testing::token_for(url, customer, "customer");
        json cart = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})},
                     {"expected_total_minor", 4500}};
        auto r = send("POST", "/v1/checkout", cart, token);
        EXPECT_EQ(r.status, 201) << r.body;
        return json::parse(r.body).value("order_id", "");
    }

    static json event(const std::string& id, const std::string& type, json object) {
        return {{"id", id}, {"object", "event"}, {"type", type}, {"created", 1700000000}, {"data", {{"object", object}}}};
    }

    http::ClientResponse deliver(const json& ev, const std::string& secret = kSecret, int64_t skew_s = 0) {
        const std::string body = ev.dump();
        const int64_t t = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count() + skew_s;
        const std::string header = "t=" + std::to_string(t) + ",v1=" + http::stripe::sign_v1(secret, t, body);
        return client->request("POST", "/v1/webhooks/stripe", body, {{"Stripe-Signature", header}});
    }

    std::string status(const std::string& order_id) {
        auto r = client->request("GET", "/v1/orders/" + order_id, "", {{"Authorization", "Bearer " + admin}});
        if (r.status != 200) return "";
        return json::parse(r.body).value("status", "");
    }
};

json intent(const std::string& order_id, int64_t amount) {
    return {{"id", "pi_" + order_id}, {"object", "payment_intent"}, {"amount", amount}, {"amount_received", amount},
            {"currency", "usd"}, {"metadata", {{"order_id", order_id}}}};
}

json dispute(const std::string& order_id, int64_t amount, const std::string& status) {
    return {{"id", "dp_" + order_id}, {"object", "dispute"}, {"amount", amount}, {"currency", "usd"}, {"status", status},
            {"payment_intent", "pi_" + order_id}, {"metadata", {{"order_id", order_id}}}};
}

TEST(PaymentsHttp, BadSignaturesAreRefusedAndWriteNothing) {
    Shop shop;
    const std::string order = shop.checkout("cus-1");
    const auto ev = Shop::event("evt_bad", "payment_intent.succeeded", intent(order, 4500));
    const int64_t before = shop.number("SELECT count(*) FROM journal");
    auto wrong = shop.deliver(ev, "whsec_forged");
    EXPECT_EQ(wrong.status, 400);
    EXPECT_NE(wrong.body.find("signature_mismatch"), std::string::npos) << wrong.body;
    auto stale = shop.deliver(ev, kSecret, -301);
    EXPECT_EQ(stale.status, 400);
    EXPECT_NE(stale.body.find("signature_stale"), std::string::npos) << stale.body;
    auto unsigned_ = shop.client->request("POST", "/v1/webhooks/stripe", ev.dump(), {});
    EXPECT_EQ(unsigned_.status, 400);
    auto garbage = shop.client->request("POST", "/v1/webhooks/stripe", "{not json", {{"Stripe-Signature", "t=1,v1=00"}});
    EXPECT_EQ(garbage.status, 400);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal"), before);
    // Signed with the retiring secret: still accepted during the rotation.
    auto old = shop.deliver(ev, "whsec_old");
    EXPECT_EQ(old.status, 200) << old.body;
}

TEST(PaymentsHttp, UnknownTypesAndUnknownOrdersAreRecordedAndAcknowledged) {
    Shop shop;
    auto r = shop.deliver(Shop::event("evt_c", "customer.created", {{"id", "cus_x"}}));
    EXPECT_EQ(r.status, 200) << r.body;
    auto orphan = shop.deliver(Shop::event("evt_o", "payment_intent.succeeded", intent("ord-nope", 100)));
    EXPECT_EQ(orphan.status, 200) << orphan.body;
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProviderEventRecorded'"), 2);
    // A message for a known order touches that order's stream only.
    const std::string order = shop.checkout("cus-1");
    EXPECT_EQ(shop.deliver(Shop::event("evt_k", "payment_intent.succeeded", intent(order, 4500))).status, 200);
    EXPECT_EQ(shop.number("SELECT count(*) FROM snapshots WHERE stream_id LIKE 'provider-event-%'"), 2);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'PaymentSucceeded'"), 1);
}

TEST(PaymentsHttp, CheckoutToPayoutEndToEnd) {
    Shop shop;
    const std::string order = shop.checkout("cus-1");
    EXPECT_EQ(shop.deliver(Shop::event("evt_1", "payment_intent.succeeded", intent(order, 4500))).status, 200);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; }));
    const auto vendor = testing::token_for(shop.url, "ana", "vendor");
    const auto other = testing::token_for(shop.url, "bo", "vendor");
    const std::string base = "/v1/orders/" + order;
    EXPECT_EQ(shop.send("POST", base + "/fulfilment", {{"status", "in_production"}}, other).status, 403);
    auto skip = shop.send("POST", base + "/fulfilment", {{"status", "delivered"}}, vendor);
    EXPECT_EQ(skip.status, 409);
    EXPECT_NE(skip.body.find("\"current_status\":\"paid\""), std::string::npos) << skip.body;
    EXPECT_EQ(shop.send("POST", base + "/fulfilment", {{"status", "in_production"}}, vendor).status, 200);
    EXPECT_EQ(shop.send("POST", base + "/fulfilment", {{"status", "shipped"}}, vendor).status, 422);  // no tracking
    EXPECT_EQ(shop.send("POST", base + "/fulfilment", {{"status", "shipped"}, {"carrier", "DHL"}, {"tracking", "JD1"}}, vendor).status, 200);
    EXPECT_EQ(shop.send("POST", base + "/fulfilment", {{"status", "delivered"}}, vendor).status, 200);
    auto payout = shop.send("POST", base + "/payouts", {{"vendor_id", "ana"}}, shop.admin);
    ASSERT_EQ(payout.status, 200) << payout.body;
    // The vendor's payable: 40.00 + 5.00 shipping less 10 % commission on the goods = 41.00.
    EXPECT_EQ(json::parse(payout.body)["events"], json::array({"PayoutRequested"}));
    json transfer = {{"id", "tr_1"}, {"object", "transfer"}, {"amount", 4100}, {"currency", "usd"},
                     {"transfer_group", order}, {"metadata", {{"vendor_id", "ana"}}}};
    EXPECT_EQ(shop.deliver(Shop::event("evt_tr", "transfer.created", transfer)).status, 200);
    // An absent account also reads 0: wait until both of the vendor's postings (the order's
    // accrual and the settled payout) are projected.
    ASSERT_TRUE(testing::eventually([&] {
        return shop.number("SELECT coalesce(sum(postings_count), 0)::bigint FROM ledger_accounts"
                          " WHERE account = 'vendor_payable:ana'") == 2;
    }));
    EXPECT_EQ(shop.balance("vendor_payable:ana"), 0);
    EXPECT_EQ(shop.balance("processor_clearing"), 4500 - 4100);
    EXPECT_EQ(shop.balance("platform_commission_revenue"), -400);
    // The orders projection is another consumer than the ledger's: wait for it too.
    json detail;
    EXPECT_TRUE(testing::eventually([&] {
        detail = json::parse(shop.client->request("GET", base, "", {{"Authorization", "Bearer " + shop.admin}}).body);
        return detail["sub_orders"][0]["status"] == "delivered";
    }));
    EXPECT_EQ(detail["sub_orders"][0]["status"], "delivered");
}

TEST(PaymentsHttp, WebhookStormEndsInTheRightStateCountingNothingTwice) {
    Shop shop;
    constexpr int kOrders = 12;
    std::vector<std::string> orders;
    for (int i = 0; i < kOrders; ++i) orders.push_back(shop.checkout("cus-" + std::to_string(i)));
    // Every order is paid (45.00); orders 0-3 are disputed (10.00; even ones lost); orders
    // 2-7 get a 5.00 refund to card from an admin. Refund + dispute never exceed the capture.
    std::vector<json> events;
    for (int i = 0; i < kOrders; ++i) {
        const auto& o = orders[i];
        events.push_back(Shop::event("evt_pay_" + o, "payment_intent.succeeded", intent(o, 4500)));
        events.push_back(Shop::event("evt_fail_" + o, "payment_intent.payment_failed", intent(o, 4500)));
        if (i < 4) {
            events.push_back(Shop::event("evt_dpo_" + o, "charge.dispute.created", dispute(o, 1000, "needs_response")));
            events.push_back(Shop::event("evt_dpc_" + o, "charge.dispute.closed", dispute(o, 1000, i % 2 == 0 ? "lost" : "won")));
        }
    }
    std::mt19937 rng(20261123);
    std::vector<json> deliveries;
    for (const auto& e : events)
        for (int n = std::uniform_int_distribution<int>(1, 5)(rng); n > 0; --n) deliveries.push_back(e);
    std::shuffle(deliveries.begin(), deliveries.end(), rng);
    std::vector<int> refunds_left;
    for (int i = 2; i < 8; ++i) refunds_left.push_back(i);
    for (size_t d = 0; d < deliveries.size(); ++d) {
        auto r = shop.deliver(deliveries[d]);
        ASSERT_EQ(r.status, 200) << r.body;
        if (d % 7 == 3 && !refunds_left.empty()) {  // interleave an admin refund now and then
            const int i = refunds_left.back();
            auto rr = shop.send("POST", "/v1/orders/" + orders[i] + "/refunds",
                                {{"amount_minor", 500}, {"destination", "card"}, {"reason", "late"}}, shop.admin,
                                "refund-" + orders[i]);
            if (rr.status == 200) refunds_left.pop_back();
            else ASSERT_EQ(rr.status, 409) << rr.body;  // not paid yet: retried below
        }
    }
    for (int i : refunds_left) {
        auto rr = shop.send("POST", "/v1/orders/" + orders[i] + "/refunds",
                            {{"amount_minor", 500}, {"destination", "card"}, {"reason", "late"}}, shop.admin, "refund2-" + orders[i]);
        ASSERT_EQ(rr.status, 200) << rr.body;
    }
    // Exactly once each, however often delivered.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'PaymentSucceeded'"), kOrders);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'DisputeOpened'"), 4);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'DisputeClosed'"), 4);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'RefundIssued'"), 6);
    EXPECT_EQ(shop.number("SELECT count(*) FROM idempotency WHERE principal = 'provider:stripe'"),
              static_cast<int64_t>(events.size()));
    // Clearing: 12 × 45.00 captured, 6 × 5.00 refunded, 2 × 10.00 lost; nothing held.
    const int64_t clearing = kOrders * 4500 - 6 * 500 - 2 * 1000;
    // Clearing at its final figure means every dispute opened is projected; held back at 0
    // then means every close is too (a lost one moves no clearing).
    ASSERT_TRUE(testing::eventually(
        [&] { return shop.balance("processor_clearing") == clearing && shop.balance("disputes_held") == 0; }))
        << shop.balance("processor_clearing") << " != " << clearing;
    EXPECT_EQ(shop.balance("disputes_held"), 0);
    for (int i = 0; i < kOrders; ++i) {
        EXPECT_EQ(shop.balance("customer_receivable:cus-" + std::to_string(i)), 0) << i;
        const std::string want = i < 4 ? (i % 2 == 0 ? "dispute_lost" : (i >= 2 ? "partially_refunded" : "dispute_won"))
                                       : (i < 8 ? "partially_refunded" : "paid");
        EXPECT_TRUE(testing::eventually([&] { return shop.status(orders[i]) == want; })) << i << ": " << shop.status(orders[i]);
    }
}

TEST(PaymentsHttp, DatabaseAwayMeans5xxAndTheRedeliveryAppliesOnce) {
    Shop shop;
    const std::string order = shop.checkout("cus-1");
    const std::string db = shop.url.substr(shop.url.rfind('/') + 1);
    const std::string admin_url = shop.url.substr(0, shop.url.rfind('/')) + "/postgres";
    sql::Pool admin(admin_url, 1);
    auto set_connections = [&](bool allow) {
        ASSERT_TRUE(admin.autocommit([&](sql::Tx& tx) {
            tx.exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS " + (allow ? "true" : "false"));
            if (!allow) tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", {db});
        }));
    };
    const auto ev = Shop::event("evt_down", "payment_intent.succeeded", intent(order, 4500));
    set_connections(false);
    auto down = shop.deliver(ev);
    set_connections(true);
    EXPECT_GE(down.status, 500) << down.body;
    EXPECT_LT(down.status, 600);
    // The provider retries: applied once; a further redelivery is a replay.
    http::ClientResponse up;
    ASSERT_TRUE(testing::eventually([&] { up = shop.deliver(ev); return up.status == 200; })) << up.body;
    auto again = shop.deliver(ev);
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'PaymentSucceeded'"), 1);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; }));
}

}  // namespace
}  // namespace tally
