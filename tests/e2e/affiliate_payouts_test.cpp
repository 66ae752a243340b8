// Affiliate payouts over HTTP: the schedule, the weekday arriving on the injected clock
// (TALLY_PAYOUT_CLOCK_FILE), the threshold, the holding period, a Stripe transfer settled
// by transfer.created and taken back by transfer.reversed, the PayPal rail (OAuth2,
// sender_batch_id, verified webhooks, a denied batch), and a second scheduler process
// that pays nothing twice.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "domain/affiliate_payout.h"
#include "tests/support/affiliate_shop.h"
#include "tests/support/fake_paypal.h"

namespace tally {
namespace {

using nlohmann::json;
using testing::eventually;

constexpr int64_t kDayMs = 24LL * 3600 * 1000;
constexpr int kWeekday = 3;  // Wednesday

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// 10:00 UTC on the first Wednesday at least `days` from now.
int64_t payday(int days) {
    int64_t day = (now_ms() + days * kDayMs) / kDayMs;
    while (affiliate::iso_weekday(day * kDayMs) != kWeekday) ++day;
    return day * kDayMs + 10 * 3600 * 1000;
}

// The scheduler's clock: a file the test writes.
struct Clock {
    std::string path = "/tmp/tally-payout-clock-" + std::to_string(::getpid()) + "-" + std::to_string(now_ms());
    Clock() { set(now_ms()); }
    ~Clock() { std::remove(path.c_str()); }
    void set(int64_t unix_ms) const {
        const std::string tmp = path + ".new";
        std::ofstream(tmp) << unix_ms;
        std::rename(tmp.c_str(), path.c_str());
    }
};

constexpr const char* kPayPalId = "paypal-client-e2e";
constexpr const char* kPayPalSecret = "paypal-secret-e2e";
constexpr const char* kPayPalWebhook = "WHK123E2E";

// Constructed before the shop, whose tallyd calls them.
struct WithFakes {
    Clock clock;
    testing::FakePayPal paypal{kPayPalId, kPayPalSecret, kPayPalWebhook};
};

struct PayoutShop : WithFakes, testing::AffiliateShop {
    PayoutShop()
        : AffiliateShop({{"TALLY_PAYOUT_CLOCK_FILE", clock.path},
                         {"TALLY_AFFILIATE_PAYOUT_INTERVAL_MS", "100"},
                         {"TALLY_PAYPAL_API_BASE", paypal.base_url()},
                         {"TALLY_PAYPAL_CLIENT_ID", kPayPalId},
                         {"TALLY_PAYPAL_CLIENT_SECRET", kPayPalSecret},
                         {"TALLY_PAYPAL_WEBHOOK_ID", kPayPalWebhook}}) {
        paypal.send_webhooks_to(tallyd.port());
    }

    // The environment a second tallyd of this shop needs.
    std::map<std::string, std::string> env() const {
        return {{"TALLY_STRIPE_API_BASE", fake.base_url()}, {"TALLY_STRIPE_SECRET_KEY", testing::kKey},
                {"TALLY_STRIPE_WEBHOOK_SECRETS", testing::kWebhookSecret}, {"TALLY_REFERRAL_KEYS", testing::kReferralKeys},
                {"TALLY_PAYOUT_CLOCK_FILE", clock.path}, {"TALLY_AFFILIATE_PAYOUT_INTERVAL_MS", "100"}};
    }

    void schedule(const json& thresholds) {
        auto r = send("PUT", "/v1/affiliates/payout-schedule",
                      {{"weekday", kWeekday}, {"hour_utc", 9}, {"thresholds_minor", thresholds}}, admin);
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(json::parse(r.body)["holding_days"], 14);
    }

    // A referred, paid lamp: 4.00 for the affiliate at 10 %.
    std::string converted(const std::string& code, const std::string& customer) {
        const std::string order = buy(testing::token_for(url, customer, "customer"), visit(code));
        pay(order);
        EXPECT_TRUE(eventually([&] { return events("order-" + order, "AffiliateConversionRecorded") == 1; }));
        EXPECT_TRUE(eventually([&] {
            return number("SELECT count(*) FROM affiliate_conversions WHERE order_id = $1", {order}) == 1;
        }));
        return order;
    }

    int64_t payable(const std::string& affiliate) { return -balance("affiliate_payable:" + affiliate); }

    json payouts(const std::string& affiliate) {
        auto r = get("/v1/affiliates/" + affiliate + "/payouts", admin);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body)["payouts"] : json::array();
    }

    std::vector<json> transfers_to(const std::string& account) {
        std::vector<json> out;
        for (const auto& t : fake.objects("tr_"))
            if (t["destination"] == account) out.push_back(t);
        return out;
    }
};

TEST(AffiliatePayoutsE2E, TheScheduleIsStaffsAndNamesItsFaults) {
    PayoutShop shop;
    EXPECT_EQ(shop.get("/v1/affiliates/payout-schedule", shop.admin).status, 404);
    const auto clerk = testing::token_for(shop.url, "emp-1", "employee", "affiliates.view");
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 1}, {"hour_utc", 9}}, clerk).status, 403);
    auto r = shop.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 8}, {"hour_utc", 9}}, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["field"], "weekday");
    r = shop.send("PUT", "/v1/affiliates/payout-schedule",
                  {{"weekday", 1}, {"hour_utc", 9}, {"thresholds_minor", {{"USD", -5}}}}, shop.admin);
    EXPECT_EQ(json::parse(r.body)["field"], "thresholds_minor.USD");
    r = shop.send("PUT", "/v1/affiliates/payout-schedule",
                  {{"weekday", 1}, {"hour_utc", 9}, {"thresholds_minor", {{"XXX", 5}}}}, shop.admin);
    EXPECT_EQ(json::parse(r.body)["title"], "unknown_currency");
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 1}, {"version", 7}}, shop.admin).status, 400);
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 1}, {"cron", "x"}}, shop.admin).status, 400);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE stream_id = 'affiliate-payout-schedule'"), 0);
    // Payout schedules are finance's: affiliates.manage alone is not enough.
    const auto affiliates_only = testing::token_for(shop.url, "emp-3", "employee", "affiliates.manage");
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 5}, {"hour_utc", 7}}, affiliates_only).status, 403);
    const auto manager = testing::token_for(shop.url, "emp-2", "employee", "finance.manage");
    r = shop.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 5}, {"hour_utc", 7}, {"holding_days", 30}}, manager);
    ASSERT_EQ(r.status, 200) << r.body;
    const json s = json::parse(shop.get("/v1/affiliates/payout-schedule", clerk).body);
    EXPECT_EQ(s["weekday"], 5);
    EXPECT_EQ(s["holding_days"], 30);
    EXPECT_EQ(s["version"], 1);
    // Not an affiliate's id.
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/payout-schedule", shop.affiliate("CODE1"), shop.admin).status, 400);
}

// The Stripe rail: below the threshold nothing is paid; the next week, with a second
// conversion (less a refund's share), one transfer at the fake Stripe, settled by
// transfer.created: payable 0. A refund after the payout takes nothing back (never
// negative). A reversed transfer makes the amount payable again, and the next payday
// pays it again.
TEST(AffiliatePayoutsE2E, OnTheWeekdayATransferPaysTheMaturedEarningsOnce) {
    PayoutShop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("COFFEE10"), shop.admin).status, 200);
    shop.schedule({{"USD", 500}});
    const std::string first = shop.converted("COFFEE10", "cus-1");
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 400; }));  // the ledger projector, in its own time

    // Payday, but the conversion is 7-13 days old, inside the holding period: nothing.
    shop.clock.set(payday(7));
    ASSERT_TRUE(eventually([&] { return shop.tallyd.log().find("no payable conversions") != std::string::npos; }))
        << shop.tallyd.log();
    EXPECT_EQ(shop.events("affiliate-payouts-aff-1", "AffiliatePayoutRequested"), 0);
    // Matured, below the threshold (4.00 < 5.00): nothing.
    const int64_t week1 = payday(15);
    shop.clock.set(week1);
    ASSERT_TRUE(eventually([&] { return shop.tallyd.log().find("below_threshold") != std::string::npos; }))
        << shop.tallyd.log();
    EXPECT_TRUE(shop.transfers_to("acct_aff").empty());

    // A second conversion, 10.00 of its goods refunded (1.00 taken back): 7.00 payable.
    const std::string second = shop.converted("COFFEE10", "cus-2");
    auto r = shop.send("POST", "/v1/orders/" + second + "/refunds",
                       {{"amount_minor", 1000}, {"destination", "card"}, {"reason", "scratched"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 700; }));
    // The next week's payday (the clock moves on: conversions older than 14 days). Stripe
    // refuses the transfer until it is parked; an operator sends it back.
    shop.fake.fail_next("/v1/transfers", 4, 500);
    shop.clock.set(week1 + 7 * kDayMs);
    json dead;
    ASSERT_TRUE(eventually([&] {
        dead = shop.dead_letters(shop.admin);
        return dead.size() == 1;
    })) << dead << shop.tallyd.log();
    EXPECT_EQ(dead[0]["kind"], "affiliate_transfer");
    EXPECT_EQ(dead[0]["affiliate_id"], "aff-1");
    EXPECT_EQ(dead[0]["amount_minor"], 700);
    ASSERT_EQ(shop.send("POST", "/v1/operator/dead-letters/" + std::to_string(dead[0]["id"].get<int64_t>()) + "/retry",
                        json::object(), shop.admin).status, 200);
    ASSERT_TRUE(eventually([&] { return shop.transfers_to("acct_aff").size() == 1; })) << shop.tallyd.log();
    const json transfer = shop.transfers_to("acct_aff").front();
    EXPECT_EQ(transfer["amount"], 700);
    EXPECT_EQ(transfer["currency"], "usd");
    const std::string payout = affiliate::payout_id("aff-1", affiliate::utc_date(week1 + 7 * kDayMs));
    EXPECT_EQ(transfer["metadata"]["affiliate_payout"], payout);
    // transfer.created settles it: the payable is paid out.
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 0; }));
    ASSERT_TRUE(eventually([&] { return shop.payouts("aff-1").size() == 1 && shop.payouts("aff-1")[0]["status"] == "paid"; }));
    json p = shop.payouts("aff-1")[0];
    EXPECT_EQ(p["payout_id"], payout);
    EXPECT_EQ(p["amount_minor"], 700);
    EXPECT_EQ(p["orders"], 2);
    EXPECT_EQ(p["provider_object_id"], transfer["id"]);
    const json balance = shop.balance_of("aff-1", testing::token_for(shop.url, "aff-1", "affiliate"));
    EXPECT_EQ(balance["payable_minor"], 0);
    EXPECT_EQ(balance["paid_out_minor"], 700);
    EXPECT_EQ(shop.events("order-" + first, "AffiliateConversionPaidOut"), 1);
    EXPECT_EQ(shop.events("order-" + second, "AffiliateConversionPaidOut"), 1);
    // The day's payout once, however often the scheduler looks.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(shop.events("affiliate-payouts-aff-1", "AffiliatePayoutRequested"), 1);
    EXPECT_EQ(shop.transfers_to("acct_aff").size(), 1u);

    // A refund after the payout: the paid commission stays paid; nothing goes negative.
    r = shop.send("POST", "/v1/orders/" + first + "/refunds",
                  {{"amount_minor", 4500}, {"destination", "card"}, {"reason", "returned"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(eventually([&] { return shop.status(first) == "refunded"; })) << shop.status(first);
    EXPECT_EQ(shop.events("order-" + first, "AffiliateConversionReversed"), 0);
    EXPECT_EQ(shop.payable("aff-1"), 0);

    // The transfer comes back: payable again, and paid again on the next payday.
    shop.fake.reverse_transfer(transfer["id"]);
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 700; }));
    ASSERT_TRUE(eventually([&] { return shop.payouts("aff-1")[0]["status"] == "reversed"; }));
    shop.clock.set(week1 + 14 * kDayMs);
    ASSERT_TRUE(eventually([&] { return shop.transfers_to("acct_aff").size() == 2; })) << shop.tallyd.log();
    EXPECT_EQ(shop.transfers_to("acct_aff")[1]["amount"], 700);
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 0; }));
    EXPECT_EQ(shop.payouts("aff-1")[0]["returned_minor"], 700);
    // Every posting set balanced.
    EXPECT_EQ(shop.number("SELECT sum(debit_minor) - sum(credit_minor) FROM ledger_accounts"), 0);

    // The auditor's reconciliation agrees; catches a payout's status edited by hand (and
    // the balance it moves); a rebuild of the projection repairs it.
    const std::string again = affiliate::payout_id("aff-1", affiliate::utc_date(week1 + 14 * kDayMs));
    std::string out;
    // Settled: a late payout event must not leave the affiliates projector pending below.
    ASSERT_TRUE(eventually([&] { return testing::reconciled_and_settled(shop.url, out); })) << out;
    EXPECT_NE(out.find("affiliate_conversions: 2 checked, clean\n  affiliate_payouts: 2 checked, clean\n  affiliate_balances: 1 checked, clean"), std::string::npos) << out;
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE affiliate_payouts SET status = 'requested' WHERE payout_id = $1", {again});
    }));
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 1) << out;
    EXPECT_NE(out.find("affiliate_payouts " + again + " status amount: cached requested 700, log paid 700"), std::string::npos) << out;
    EXPECT_NE(out.find("affiliate_balances aff-1 USD payable_minor: cached 700, log 0"), std::string::npos) << out;
    ASSERT_EQ(shop.send("POST", "/v1/projections/affiliates/rebuild", json::object(), shop.admin).status, 200);
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 0) << out;
}

// The PayPal rail: an OAuth2 token, a Payouts batch keyed by the payout id, the batch's
// and item's verified webhooks; a forged message refused; a denied batch leaves the money
// payable; a failing API retried with the same sender_batch_id, paid once.
TEST(AffiliatePayoutsE2E, PayPalPaysByBatchAndVerifiesItsWebhooks) {
    PayoutShop shop;
    json def = shop.affiliate("BEANS");
    def.erase("stripe_account");
    def["paypal_email"] = "aff1@example.com";
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", def, shop.admin).status, 200);
    def = shop.affiliate("DENIED");
    def.erase("stripe_account");
    def["paypal_email"] = "blocked@example.com";
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-2", def, shop.admin).status, 200);
    shop.paypal.deny("blocked@example.com");
    shop.schedule({{"USD", 300}});
    shop.converted("BEANS", "cus-1");
    shop.converted("DENIED", "cus-2");
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 400 && shop.payable("aff-2") == 400; }));
    // PayPal fails every attempt at first: both payouts are retried, then parked in the
    // operator's dead letters; sent back, they are paid once.
    shop.paypal.fail_next("/v1/payments/payouts", 8, 503);

    const int64_t day = payday(15);
    shop.clock.set(day);
    json dead;
    ASSERT_TRUE(eventually([&] {
        dead = shop.dead_letters(shop.admin);
        return dead.size() == 2;
    })) << dead << shop.tallyd.log();
    // Meanwhile the access token expired: the client is answered 401 and fetches another.
    EXPECT_EQ(shop.paypal.tokens_issued(), 1);
    shop.paypal.expire_tokens();
    for (const auto& d : dead) {
        EXPECT_EQ(d["kind"], "paypal_payout");
        EXPECT_TRUE(d["affiliate_id"] == "aff-1" || d["affiliate_id"] == "aff-2") << d;
        EXPECT_EQ(d["attempts"], 4);
        auto retried = shop.send("POST", "/v1/operator/dead-letters/" + std::to_string(d["id"].get<int64_t>()) + "/retry",
                                 json::object(), shop.admin);
        EXPECT_EQ(retried.status, 200) << retried.body;
    }
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 0; })) << shop.tallyd.log();
    const auto batches = shop.paypal.batches();
    ASSERT_EQ(batches.size(), 2u);
    const std::string payout = affiliate::payout_id("aff-1", affiliate::utc_date(day));
    const json& paid = batches[0]["batch_header"]["sender_batch_header"]["sender_batch_id"] == payout ? batches[0] : batches[1];
    EXPECT_EQ(paid["items"][0]["payout_item"]["amount"], json({{"value", "4.00"}, {"currency", "USD"}}));
    EXPECT_EQ(paid["items"][0]["payout_item"]["receiver"], "aff1@example.com");
    // 8 refused with 503, one or two 401 (the two calls may both carry the old token), then each once.
    EXPECT_GE(shop.paypal.requests("/v1/payments/payouts"), 11);
    EXPECT_LE(shop.paypal.requests("/v1/payments/payouts"), 12);
    EXPECT_EQ(shop.paypal.tokens_issued(), 2);
    ASSERT_TRUE(eventually([&] { return shop.payouts("aff-1").size() == 1 && shop.payouts("aff-1")[0]["status"] == "paid"; }));
    EXPECT_EQ(shop.payouts("aff-1")[0]["provider_object_id"], paid["batch_header"]["payout_batch_id"]);
    EXPECT_EQ(shop.balance("paypal_clearing"), -400);
    // The denied batch: failed, the money still payable (paid again on a later payday).
    ASSERT_TRUE(eventually([&] { return shop.payouts("aff-2").size() == 1 && shop.payouts("aff-2")[0]["status"] == "failed"; }));
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-2") == 400; }));
    EXPECT_EQ(shop.events("affiliate-payouts-aff-2", "AffiliatePayoutFailed"), 1);

    // A forged message (a signature PayPal did not make) is refused, nothing written.
    const int64_t before = shop.number("SELECT count(*) FROM journal");
    json forged = {{"id", "WH-FORGED-1"}, {"event_type", "PAYMENT.PAYOUTS-ITEM.RETURNED"},
                   {"resource", paid["items"][0]}};
    auto m = shop.paypal.sign(forged);
    m.headers["PAYPAL-TRANSMISSION-SIG"] = "Zm9yZ2Vk";
    auto r = shop.client->request("POST", "/v1/webhooks/paypal", m.body, m.headers);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "signature_mismatch");
    m = shop.paypal.sign(forged);
    m.headers.erase("PAYPAL-TRANSMISSION-ID");
    r = shop.client->request("POST", "/v1/webhooks/paypal", m.body, m.headers);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "signature_missing");
    // Signed, but the body changed on the way: refused.
    m = shop.paypal.sign(forged);
    m.body = json({{"id", "WH-FORGED-1"}, {"event_type", "PAYMENT.PAYOUTS-ITEM.SUCCEEDED"}, {"resource", paid["items"][0]}}).dump();
    EXPECT_EQ(shop.client->request("POST", "/v1/webhooks/paypal", m.body, m.headers).status, 400);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal"), before);
    // PayPal unreachable for the verification: 503, so it sends again.
    shop.paypal.fail_next("/v1/notifications/verify-webhook-signature", 1, 500);
    m = shop.paypal.sign(forged);
    r = shop.client->request("POST", "/v1/webhooks/paypal", m.body, m.headers);
    EXPECT_EQ(r.status, 503) << r.body;
    // The genuine message, twice: one reversal.
    r = shop.client->request("POST", "/v1/webhooks/paypal", m.body, m.headers);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(shop.client->request("POST", "/v1/webhooks/paypal", m.body, m.headers).status, 200);
    EXPECT_EQ(shop.events("affiliate-payouts-aff-1", "AffiliatePayoutReversed"), 1);
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 400; }));
    EXPECT_EQ(shop.number("SELECT sum(debit_minor) - sum(credit_minor) FROM ledger_accounts"), 0);
}

// Two processes share the database: the scheduler runs in one; when it dies the other
// takes over the same payday and pays nothing twice.
TEST(AffiliatePayoutsE2E, ASecondSchedulerProcessPaysNothingTwice) {
    PayoutShop shop;
    testing::Tallyd second(shop.url, shop.broker.bootstraps(), shop.env());
    second.start();
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("COFFEE10"), shop.admin).status, 200);
    shop.schedule({{"USD", 300}});
    shop.converted("COFFEE10", "cus-1");
    ASSERT_TRUE(eventually([&] { return shop.payable("aff-1") == 400; }));
    const int64_t day = payday(15);
    shop.clock.set(day);
    // Paid: the transfer made and settled.
    ASSERT_TRUE(eventually([&] {
        const json p = shop.payouts("aff-1");
        return p.size() == 1 && p[0]["status"] == "paid";
    })) << shop.tallyd.log() << second.log();
    // The owner dies; the other process owns the scheduler and looks at the same day.
    const std::string owns = "affiliate payout scheduler: this process schedules affiliate payouts";
    const bool first_owned = shop.tallyd.log().find(owns) != std::string::npos;
    EXPECT_NE(first_owned, second.log().find(owns) != std::string::npos) << "exactly one owner";
    auto survivor_log = [&] { return first_owned ? second.log() : shop.tallyd.log(); };
    if (first_owned) shop.tallyd.kill9();
    else second.kill9();
    ASSERT_TRUE(eventually([&] {
        const std::string log = survivor_log();
        // It looked at the same payday: the payout made already, nothing left to pay.
        const std::string date = affiliate::utc_date(day);
        return log.find(owns) != std::string::npos &&
               (log.find("payday " + date + ": no payable conversions") != std::string::npos ||
                log.find(affiliate::payout_id("aff-1", date) + " was made already") != std::string::npos);
    })) << survivor_log();
    std::this_thread::sleep_for(std::chrono::seconds(1));  // a few more of its passes
    EXPECT_EQ(shop.events("affiliate-payouts-aff-1", "AffiliatePayoutRequested"), 1);
    EXPECT_EQ(shop.transfers_to("acct_aff").size(), 1u);
    // The ledger projection may still be moving the dead process's partitions over.
    EXPECT_TRUE(eventually([&] { return shop.payable("aff-1") == 0; })) << shop.payable("aff-1");
}

}  // namespace
}  // namespace tally
