// The provider side of payments, against a fake Stripe over HTTP: tallyd's workers
// create the PaymentIntent for each checkout, refund to the card, cancel unpaid
// intents and pay vendors by Transfer when their payout falls due; the fake's signed
// webhooks bring the results back. Failures are retried with backoff, parked in the
// dead letters, and retried by an operator, each call made exactly once at the provider.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "infra/sql.h"
#include "tests/support/fake_stripe.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

using Shop = testing::ProviderShop;

TEST(ProviderE2E, CheckoutToPayoutThroughTheFakeProvider) {
    Shop shop;
    const std::string customer = testing::token_for(shop.url, "cus-1", "customer");
    const std::string order = shop.checkout("cus-1");

    // The worker created the intent at the provider, once, with the order's key.
    const json pi = shop.intent_of(order);
    EXPECT_EQ(pi["amount"], 4500);
    EXPECT_EQ(pi["currency"], "usd");
    EXPECT_EQ(pi["transfer_group"], order);
    auto calls = shop.fake.requests("/v1/payment_intents");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].idempotency_key, "intent-" + order);
    // The storefront finds the intent and its client secret on the order (the customer only).
    json payment;
    ASSERT_TRUE(testing::eventually([&] {
        auto r = shop.get("/v1/orders/" + order, customer);
        if (r.status != 200) return false;
        payment = json::parse(r.body)["payment"];
        return payment.is_object() && payment["intent_status"] == "created";
    })) << payment.dump();
    EXPECT_EQ(payment["payment_intent_id"], pi["id"]);
    EXPECT_EQ(payment["client_secret"], pi["client_secret"]);
    auto as_admin = json::parse(shop.get("/v1/orders/" + order, shop.admin).body);
    EXPECT_FALSE(as_admin["payment"].contains("client_secret"));
    EXPECT_EQ(shop.events("provider-request-intent-" + order, "ProviderRequestCompleted"), 1);

    // The customer pays at the provider: its signed webhook makes the order paid.
    shop.fake.succeed(pi["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; })) << shop.status(order);

    // The vendor fulfils; after delivery and the payout delay the scheduler asks for the payout.
    const std::string vendor = testing::token_for(shop.url, "ana", "vendor");
    const std::string base = "/v1/orders/" + order + "/fulfilment";
    EXPECT_EQ(shop.send("POST", base, {{"status", "in_production"}}, vendor).status, 200);
    EXPECT_EQ(shop.send("POST", base, {{"status", "shipped"}, {"carrier", "DHL"}, {"tracking", "JD1"}}, vendor).status, 200);
    EXPECT_EQ(shop.send("POST", base, {{"status", "delivered"}}, vendor).status, 200);
    json transfer;
    ASSERT_TRUE(testing::eventually([&] {
        auto t = shop.fake.objects("tr_");
        if (!t.empty()) transfer = t.front();
        return !t.empty();
    }));
    EXPECT_EQ(transfer["amount"], 4100);  // 40.00 - 10% commission + 5.00 shipping
    EXPECT_EQ(transfer["destination"], "acct_ana");
    EXPECT_EQ(transfer["transfer_group"], order);
    EXPECT_EQ(transfer["metadata"]["vendor_id"], "ana");
    EXPECT_EQ(shop.fake.requests("/v1/transfers").at(0).idempotency_key, "payout-" + order + "-ana");
    // Not before the delay: the payout was requested at least 1 s after the delivery. The
    // rule runs from the delivery's request time, which precedes its batch's commit (whose
    // time the journal records) by the batch's wait: allow 100 ms of it.
    EXPECT_GE(shop.number("SELECT (SELECT max(occurred_at_unix_ms) FROM journal WHERE type = 'PayoutRequested')"
                          " - (SELECT max(occurred_at_unix_ms) FROM journal WHERE type = 'SubOrderAdvanced')"),
              900);

    // transfer.created settles it; everything shows in the read models and on the ledger.
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + order, "PayoutSettled") == 1; }));
    ASSERT_TRUE(testing::eventually([&] {
        return shop.balance("vendor_payable:ana") == 0 && shop.balance("processor_clearing") == 400;
    })) << shop.balance("vendor_payable:ana") << " " << shop.balance("processor_clearing");
    EXPECT_EQ(shop.balance("platform_commission_revenue"), -400);
    auto detail = json::parse(shop.get("/v1/orders/" + order, customer).body);
    EXPECT_EQ(detail["sub_orders"][0]["status"], "delivered");
    EXPECT_EQ(shop.number("SELECT count(*) FROM order_payment_intents WHERE order_id = $1 AND payment_intent_id = $2",
                          {order, pi["id"].get<std::string>()}),
              1);
    EXPECT_EQ(shop.call_status("payout-request-" + order + "-ana"), "done");
    EXPECT_EQ(shop.call_status("payout-" + order + "-ana"), "done");
    EXPECT_EQ(shop.events("provider-request-payout-" + order + "-ana", "ProviderRequestCompleted"), 1);
    EXPECT_EQ(shop.fake.requests("/v1/transfers").size(), 1u);
    EXPECT_TRUE(shop.dead_letters(shop.admin).empty());
}

TEST(ProviderE2E, AnOpenDisputeHoldsThePayoutUntilItCloses) {
    Shop shop;
    const std::string order = shop.paid_order("cus-1");
    const std::string dispute = shop.fake.dispute(shop.intent_of(order)["id"], 1000);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "disputed"; })) << shop.status(order);
    const std::string vendor = testing::token_for(shop.url, "ana", "vendor");
    const std::string base = "/v1/orders/" + order + "/fulfilment";
    EXPECT_EQ(shop.send("POST", base, {{"status", "in_production"}}, vendor).status, 200);
    EXPECT_EQ(shop.send("POST", base, {{"status", "shipped"}, {"carrier", "DHL"}, {"tracking", "JD2"}}, vendor).status, 200);
    EXPECT_EQ(shop.send("POST", base, {{"status", "delivered"}}, vendor).status, 200);
    // Due after the delay, refused while the dispute is open: retried, then parked.
    const std::string key = "payout-request-" + order + "-ana";
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status(key) == "dead"; }));
    const json dead = shop.dead_letters(shop.admin);
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0]["kind"], "request_payout");
    EXPECT_NE(dead[0]["last_error"].get<std::string>().find("dispute_open"), std::string::npos) << dead[0];
    EXPECT_TRUE(shop.fake.objects("tr_").empty());
    // Won: the held funds come back and the payout goes out by itself, in full.
    shop.fake.close_dispute(dispute, "won");
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.objects("tr_").size() == 1; }));
    EXPECT_EQ(shop.fake.objects("tr_")[0]["amount"], 4100);
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + order, "PayoutSettled") == 1; }));
    EXPECT_EQ(shop.call_status(key), "done");
    EXPECT_TRUE(shop.dead_letters(shop.admin).empty());
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("disputes_held") == 0; }));
}

// A dispute names only its intent. When tally has not yet heard which intent its worker
// created (the provider's answer was lost), the webhook is answered 503 and the provider
// sends it again: it is never recorded as naming no order, which would lose it for good.
TEST(ProviderE2E, AnEventAboutAnIntentNotYetKnownIsRetriedNotLost) {
    Shop shop;
    // The intent is made at the provider but the answer is lost; the retries fail, and the
    // call is parked after its fourth attempt with tally none the wiser about the intent's id.
    shop.fake.lose_answers("/v1/payment_intents", 1);
    shop.fake.fail_next("/v1/payment_intents", 3, 500);
    const std::string order = shop.checkout("cus-1");
    const json pi = shop.intent_of(order);
    shop.fake.succeed(pi["id"]);  // names the order in its metadata
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "paid"; })) << shop.status(order);
    shop.fake.dispute(pi["id"], 1000);
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-" + order) == "dead"; }));
    // Parked, and the dispute still waits at the provider: nothing recorded, nothing lost.
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.requests("/v1/payment_intents").size() == 4u; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_FALSE(shop.fake.webhooks_idle());
    EXPECT_EQ(shop.status(order), "paid");
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProviderEventRecorded'"), 0);
    // The operator sends the parked call again: the same key brings the same intent back,
    // tally learns its id, and the redelivered dispute reaches the order.
    const json dead = shop.dead_letters(shop.admin);
    ASSERT_EQ(dead.size(), 1u);
    EXPECT_EQ(dead[0]["kind"], "payment_intent");
    auto r = shop.send("POST", "/v1/operator/dead-letters/" + std::to_string(dead[0]["id"].get<int64_t>()) + "/retry",
                       json::object(), shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.status(order) == "disputed"; })) << shop.status(order);
    EXPECT_EQ(shop.call_status("intent-" + order), "done");
    EXPECT_EQ(shop.fake.objects("pi_").size(), 1u);
    EXPECT_EQ(shop.events("order-" + order, "DisputeOpened"), 1);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProviderEventRecorded'"), 0);
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.webhooks_idle(); }));
}

TEST(ProviderE2E, RefundsCancellationsAndDisputesReachTheProvider) {
    Shop shop;
    // A card refund: a Refund on the order's intent, keyed by the refund id.
    const std::string a = shop.paid_order("cus-a");
    const json pi_a = shop.intent_of(a);
    auto r = shop.send("POST", "/v1/orders/" + a + "/refunds",
                       {{"amount_minor", 500}, {"destination", "card"}, {"reason", "scratched"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.objects("re_").size() == 1; }));
    const json refund = shop.fake.objects("re_").front();
    EXPECT_EQ(refund["payment_intent"], pi_a["id"]);
    EXPECT_EQ(refund["amount"], 500);
    EXPECT_EQ(refund["metadata"]["order_id"], a);
    EXPECT_EQ(shop.fake.requests("/v1/refunds").at(0).idempotency_key, refund["metadata"]["refund_id"]);
    // charge.refunded names no order; tally finds it through the intent.
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + a, "RefundConfirmed") == 1; }));
    // A refund as store credit calls nobody.
    r = shop.send("POST", "/v1/orders/" + a + "/refunds",
                  {{"amount_minor", 300}, {"destination", "credit"}, {"reason", "goodwill"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;

    // A dispute names only the charge and the intent: held on order a.
    shop.fake.dispute(pi_a["id"], 1000);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(a) == "disputed"; })) << shop.status(a);
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("disputes_held") == 1000; }));

    // The customer cancels an unpaid order: its intent is cancelled at the provider.
    const std::string b = shop.checkout("cus-b");
    const json pi_b = shop.intent_of(b);
    r = shop.send("POST", "/v1/orders/" + b + "/cancel", {{"reason", "changed my mind"}},
                  testing::token_for(shop.url, "cus-b", "customer"));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.object(pi_b["id"])->value("status", "") == "canceled"; }));
    EXPECT_EQ(shop.fake.requests("/v1/payment_intents/" + pi_b["id"].get<std::string>() + "/cancel").at(0).idempotency_key,
              "intent-cancel-" + b);
    // payment_intent.canceled is a type tally does not act on: recorded and acknowledged.
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.webhooks_idle(); }));
    EXPECT_GE(shop.number("SELECT count(*) FROM journal WHERE type = 'ProviderEventRecorded'"), 1);

    // A paid order cancelled by staff: the card part goes back by a Refund.
    const std::string c = shop.paid_order("cus-c");
    r = shop.send("POST", "/v1/orders/" + c + "/cancel", {{"reason", "out of stock"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("refund-cancel-" + c) == "done"; }));
    const json refund_c = shop.fake.objects("re_").back();
    EXPECT_EQ(refund_c["payment_intent"], shop.intent_of(c)["id"]);
    EXPECT_EQ(refund_c["amount"], 4500);
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + c, "RefundConfirmed") == 1; }));

    // The customer pays just as the order is cancelled; the provider's webhook is late. The
    // intent cannot be cancelled any more (not an error), and the late payment is refunded.
    const std::string d = shop.checkout("cus-d");
    const json pi_d = shop.intent_of(d);
    shop.fake.send_webhooks_to(0);
    shop.fake.succeed(pi_d["id"]);
    r = shop.send("POST", "/v1/orders/" + d + "/cancel", {{"reason", "too slow"}},
                  testing::token_for(shop.url, "cus-d", "customer"));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-cancel-" + d) == "done"; }));
    EXPECT_EQ(shop.fake.requests("/v1/payment_intents/" + pi_d["id"].get<std::string>() + "/cancel").at(0).status, 400);
    shop.fake.send_webhooks_to(shop.tallyd.port());
    // (At least: the late refund's own charge.refunded may land on the order as a second flag
    // before this looks; the operators' list below asserts both.)
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + d, "ProviderSignalFlagged") >= 1; }));
    const json late = shop.refund_of(pi_d["id"]);
    ASSERT_FALSE(late.is_null()) << "the late payment was not refunded";
    EXPECT_EQ(late["amount"], 4500);
    EXPECT_EQ(shop.fake.requests("/v1/refunds").back().idempotency_key.rfind("refund-late-evt_", 0), 0u);
    EXPECT_EQ(shop.status(d), "cancelled");
    // Operators see the late payment and its refund's charge.refunded, both settled.
    json flags;
    ASSERT_TRUE(testing::eventually([&] {
        auto fr = shop.get("/v1/operator/flagged-signals", testing::token_for(shop.url, "aud-1", "auditor"));
        flags = fr.status == 200 ? json::parse(fr.body)["flagged_signals"] : json::array();
        return flags.size() == 2;
    })) << flags.dump();
    EXPECT_EQ(flags[1]["order_id"], d);  // newest first
    EXPECT_EQ(flags[1]["reason"], "succeeded_after_cancel");
    EXPECT_EQ(flags[1]["object_id"], pi_d["id"]);
    EXPECT_EQ(flags[1]["amount_minor"], 4500);
    EXPECT_EQ(flags[1]["needs_attention"], false);
    EXPECT_EQ(flags[0]["reason"], "order_cancelled_unpaid");
    EXPECT_EQ(flags[0]["provider_type"], "charge.refunded");
    EXPECT_EQ(flags[0]["needs_attention"], false);
    EXPECT_EQ(shop.get("/v1/operator/flagged-signals", testing::token_for(shop.url, "cus-d", "customer")).status, 403);

    // Every cancellation put its reservations back: received 100; reserved a, b; released b;
    // reserved c; released c; reserved d; released d.
    auto stock = json::parse(shop.get("/v1/streams/stock-lamp/events", shop.admin).body)["events"];
    ASSERT_EQ(stock.size(), 8u) << stock.dump();
    EXPECT_EQ(stock[3]["type"], "StockReleased");
    EXPECT_EQ(stock[3]["payload"]["order_id"], b);
    EXPECT_EQ(stock[5]["type"], "StockReleased");
    EXPECT_EQ(stock[5]["payload"]["order_id"], c);
    EXPECT_EQ(stock[5]["payload"]["available_after"], "99");
    EXPECT_EQ(stock[7]["payload"]["order_id"], d);
    EXPECT_EQ(stock[7]["payload"]["available_after"], "99");

    // Exactly one provider object per call, nothing parked.
    EXPECT_EQ(shop.fake.objects("re_").size(), 3u);
    EXPECT_EQ(shop.fake.objects("pi_").size(), 4u);
    EXPECT_TRUE(shop.dead_letters(shop.admin).empty());

    // The order read models rebuild from the log alone: statuses, intents and flags come back.
    ASSERT_TRUE(testing::eventually([&] { return shop.number("SELECT count(*) FROM order_payment_intents") == 4; }));
    r = shop.send("POST", "/v1/projections/orders/rebuild", json::object(), shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(shop.number("SELECT count(*) FROM order_payment_intents"), 4);
    EXPECT_EQ(shop.number("SELECT count(*) FROM provider_flags WHERE order_id = $1", {d}), 2);
    EXPECT_EQ(shop.status(a), "disputed");
    EXPECT_EQ(shop.status(b), "cancelled");
    EXPECT_EQ(shop.status(d), "cancelled");
}

TEST(ProviderE2E, FailuresAreRetriedParkedAndRetriedByAnOperator) {
    Shop shop;
    // Two provider errors, then success: three attempts, one intent.
    shop.fake.fail_next("/v1/payment_intents", 2, 500);
    const std::string a = shop.checkout("cus-a");
    shop.intent_of(a);
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-" + a) == "done"; }));
    auto calls = shop.fake.requests("/v1/payment_intents");
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_EQ(calls[0].status, 500);
    EXPECT_EQ(calls[1].status, 500);
    EXPECT_EQ(calls[2].status, 200);
    for (const auto& c : calls) EXPECT_EQ(c.idempotency_key, "intent-" + a);
    EXPECT_EQ(shop.number("SELECT attempts FROM provider_calls WHERE key = $1", {"intent-" + a}), 3);

    // The provider made the intent but the answer was lost: the retry with the same key
    // gets the same intent back.
    shop.fake.lose_answers("/v1/payment_intents", 1);
    const std::string b = shop.checkout("cus-b");
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-" + b) == "done"; }));
    calls = shop.fake.requests("/v1/payment_intents");
    ASSERT_EQ(calls.size(), 5u);
    EXPECT_EQ(calls[3].status, 502);
    EXPECT_TRUE(calls[4].replayed);
    EXPECT_EQ(shop.fake.objects("pi_").size(), 2u);
    shop.fake.succeed(shop.intent_of(a)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(a) == "paid"; }));

    // A refusal (400) is parked at once; repeated 503s are parked after the last attempt.
    shop.fake.refuse("/v1/refunds", 400);
    auto r = shop.send("POST", "/v1/orders/" + a + "/refunds",
                       {{"amount_minor", 500}, {"destination", "card"}, {"reason", "first"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.dead_letters(shop.admin).size() == 1; }));
    shop.fake.refuse("/v1/refunds", 503);
    r = shop.send("POST", "/v1/orders/" + a + "/refunds",
                  {{"amount_minor", 700}, {"destination", "card"}, {"reason", "second"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.dead_letters(shop.admin).size() == 2; }));
    const std::string auditor = testing::token_for(shop.url, "aud-1", "auditor");
    json dead = shop.dead_letters(auditor);
    ASSERT_EQ(dead.size(), 2u);
    EXPECT_EQ(dead[0]["kind"], "refund");
    EXPECT_EQ(dead[0]["amount_minor"], 700);
    EXPECT_EQ(dead[0]["attempts"], 4);  // TALLY_PROVIDER_ATTEMPTS_MAX
    EXPECT_NE(dead[0]["last_error"].get<std::string>().find("HTTP 503"), std::string::npos) << dead[0];
    EXPECT_EQ(dead[1]["amount_minor"], 500);
    EXPECT_EQ(dead[1]["attempts"], 1);
    EXPECT_NE(dead[1]["last_error"].get<std::string>().find("HTTP 400"), std::string::npos) << dead[1];
    EXPECT_EQ(shop.fake.requests("/v1/refunds").size(), 5u);
    EXPECT_TRUE(shop.fake.objects("re_").empty());

    // Only admins send them back.
    const std::string retry0 = "/v1/operator/dead-letters/" + std::to_string(dead[0]["id"].get<int64_t>()) + "/retry";
    const std::string retry1 = "/v1/operator/dead-letters/" + std::to_string(dead[1]["id"].get<int64_t>()) + "/retry";
    EXPECT_EQ(shop.send("POST", retry0, json::object(), auditor).status, 403);
    EXPECT_EQ(shop.get("/v1/operator/dead-letters", testing::token_for(shop.url, "cus-a", "customer")).status, 403);
    EXPECT_EQ(shop.send("POST", "/v1/operator/dead-letters/999999/retry", json::object(), shop.admin).status, 404);
    EXPECT_EQ(shop.send("POST", "/v1/operator/dead-letters/x1/retry", json::object(), shop.admin).status, 400);
    shop.fake.refuse("/v1/refunds", 0);
    r = shop.send("POST", retry0, json::object(), shop.admin);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["retried"], true);
    // The retry is the admin's recorded act.
    const std::string act_stream = "dead-letter-" + std::to_string(dead[0]["id"].get<int64_t>());
    EXPECT_EQ(shop.events(act_stream, "DeadLetterRetried"), 1);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE stream_id = $1 AND actor = 'admin-1'", {act_stream}), 1);
    // Sent twice at once (the second before the first is applied, or after): one act.
    EXPECT_EQ(shop.send("POST", retry1, json::object(), shop.admin).status, 200);
    EXPECT_EQ(shop.send("POST", retry1, json::object(), shop.admin).status, 200);
    EXPECT_EQ(shop.events("dead-letter-" + std::to_string(dead[1]["id"].get<int64_t>()), "DeadLetterRetried"), 1);
    ASSERT_TRUE(testing::eventually([&] { return shop.fake.objects("re_").size() == 2; }));
    EXPECT_TRUE(testing::eventually([&] {
        return shop.number("SELECT count(*) FROM provider_calls WHERE kind = 'refund' AND status = 'done'"
                           " AND operator_retries = 1 AND retried_by = 'admin-1'") == 2;
    }));
    EXPECT_TRUE(shop.dead_letters(shop.admin).empty());
    // A second retry of a call that is no longer parked changes nothing.
    r = shop.send("POST", retry0, json::object(), shop.admin);
    EXPECT_EQ(json::parse(r.body)["retried"], false);
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + a, "RefundConfirmed") == 2; }));
    EXPECT_EQ(shop.fake.object(shop.intent_of(a)["latest_charge"])->value("amount_refunded", 0), 1200);

    // A vendor with no payout account: its payout is parked, with the reason.
    shop.vendor("bo", "", "vase");
    const std::string c = shop.checkout("cus-c", "vase");
    shop.fake.succeed(shop.intent_of(c)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(c) == "paid"; }));
    const std::string bo = testing::token_for(shop.url, "bo", "vendor");
    const std::string base = "/v1/orders/" + c + "/fulfilment";
    EXPECT_EQ(shop.send("POST", base, {{"status", "in_production"}}, bo).status, 200);
    EXPECT_EQ(shop.send("POST", base, {{"status", "shipped"}, {"carrier", "UPS"}, {"tracking", "1Z"}}, bo).status, 200);
    EXPECT_EQ(shop.send("POST", base, {{"status", "delivered"}}, bo).status, 200);
    ASSERT_TRUE(testing::eventually([&] { return shop.dead_letters(shop.admin).size() == 1; }));
    dead = shop.dead_letters(shop.admin);
    EXPECT_EQ(dead[0]["kind"], "transfer");
    EXPECT_EQ(dead[0]["vendor_id"], "bo");
    EXPECT_EQ(dead[0]["last_error"], "vendor bo has no payout_account");
    EXPECT_TRUE(shop.fake.requests("/v1/transfers").empty());
    // Operators are told: the gauge counts what is parked.
    EXPECT_TRUE(testing::eventually([&] {
        return shop.client->request("GET", "/metrics").body.find("tally_provider_calls_dead 1\n") != std::string::npos;
    }));
    EXPECT_NE(shop.client->request("GET", "/metrics").body.find("tally_provider_calls_total{kind=\"transfer\",outcome=\"park\"} 1"),
              std::string::npos);
    // The plan holds the calls' outcomes: it is never rebuilt from the log.
    r = shop.send("POST", "/v1/projections/provider_calls/rebuild", json::object(), shop.admin);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find("not rebuildable"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace tally
