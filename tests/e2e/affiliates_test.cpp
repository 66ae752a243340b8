// Affiliates over HTTP: definitions with referral codes held once, referral visits that
// sign a cookie (and, for a signed-in customer, record the attribution), checkout
// attributing in its batch, the conversion in the payment's transaction through a signed
// webhook, a refund taking back its share, the self-referral block, and the balance and
// conversions read models.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tally/v1/order.pb.h"
#include "tests/support/affiliate_shop.h"

namespace tally {
namespace {

using nlohmann::json;

using testing::AffiliateShop;

TEST(AffiliatesE2E, DefinitionsHoldEachReferralCodeOnceAndOnlyStaffWriteThem) {
    AffiliateShop shop;
    const auto clerk = testing::token_for(shop.url, "emp-1", "employee", "catalog.manage");
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("COFFEE10"), clerk).status, 403);
    const auto manager = testing::token_for(shop.url, "emp-2", "employee", "affiliates.manage");
    auto r = shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("coffee10"), manager);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["referral_codes"][0], "COFFEE10");
    // The code is aff-1's: another affiliate cannot take it, in any case.
    r = shop.send("PUT", "/v1/affiliates/aff-2", shop.affiliate("Coffee10"), shop.admin);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "code_taken");
    EXPECT_EQ(json::parse(r.body)["field"], "referral_codes[0]");
    // Bad definitions name the field and write nothing.
    json bad = shop.affiliate("BEANS");
    bad["commission_bps"] = 10001;
    r = shop.send("PUT", "/v1/affiliates/aff-3", bad, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["field"], "commission_bps");
    bad = shop.affiliate("BEANS");
    bad["commission_bps"] = -5;
    r = shop.send("PUT", "/v1/affiliates/aff-3", bad, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["field"], "commission_bps");
    bad = shop.affiliate("BEANS");
    bad["paypal_email"] = "aff@example.com";  // two rails
    EXPECT_EQ(json::parse(shop.send("PUT", "/v1/affiliates/aff-3", bad, shop.admin).body)["field"], "paypal_email");
    bad = shop.affiliate("BEANS");
    bad["bonus"] = 1;
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/aff-3", bad, shop.admin).status, 400);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE stream_id = 'affiliate-aff-3'"), 0);
    // Giving a code up frees it; the currency stays.
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("BEANS"), shop.admin).status, 200);
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/aff-2", shop.affiliate("COFFEE10"), shop.admin).status, 200);
    json euro = shop.affiliate("BEANS");
    euro["currency"] = "EUR";
    EXPECT_EQ(json::parse(shop.send("PUT", "/v1/affiliates/aff-1", euro, shop.admin).body)["title"], "currency_must_not_change");
    // Staff list them; the affiliate reads its own, nobody else's; a customer reads none.
    ASSERT_TRUE(testing::eventually([&] {
        auto l = shop.get("/v1/affiliates", manager);
        return l.status == 200 && json::parse(l.body)["affiliates"].size() == 2;
    }));
    const auto aff1 = testing::token_for(shop.url, "aff-1", "affiliate");
    EXPECT_EQ(json::parse(shop.get("/v1/affiliates/aff-1", aff1).body)["referral_codes"], json::array({"BEANS"}));
    EXPECT_EQ(shop.get("/v1/affiliates/aff-2", aff1).status, 403);
    EXPECT_EQ(shop.get("/v1/affiliates", aff1).status, 403);
    const auto customer = testing::token_for(shop.url, "cus-1", "customer");
    EXPECT_EQ(shop.get("/v1/affiliates/aff-1/balance", customer).status, 403);
    EXPECT_EQ(shop.get("/v1/affiliates/aff-1/conversions", customer).status, 403);
    EXPECT_EQ(shop.get("/v1/affiliates/aff-1/balance", clerk).status, 403);
    const auto viewer = testing::token_for(shop.url, "emp-3", "employee", "affiliates.view");
    EXPECT_EQ(shop.get("/v1/affiliates/aff-1/balance", viewer).status, 200);
    const auto auditor = testing::token_for(shop.url, "aud-1", "auditor");
    EXPECT_EQ(shop.get("/v1/affiliates/aff-1/conversions", auditor).status, 200);
}

// The first end-to-end flow: a referral visit, a checkout with its cookie, a signed
// payment webhook, the conversion; then a refund and its proportional reversal.
TEST(AffiliatesE2E, AReferredCheckoutEarnsWhenPaidAndARefundTakesBackItsShare) {
    AffiliateShop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("COFFEE10"), shop.admin).status, 200);
    // Anonymous: a cookie, nothing written. Unknown and suspended codes: 404, nothing signed.
    const int64_t before = shop.number("SELECT count(*) FROM journal");
    const std::string cookie = shop.visit("coffee10");
    ASSERT_FALSE(cookie.empty());
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal"), before);
    auto r = shop.client->request("POST", "/v1/referrals/visits", json{{"ref", "NOPE123"}}.dump(),
                                  {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "unknown_referral_code");
    r = shop.client->request("POST", "/v1/referrals/visits", json{{"ref", "COFFEE10"}, {"extra", 1}}.dump(),
                             {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 400) << r.body;
    r = shop.client->request("POST", "/v1/referrals/visits", json{{"ref", "COFFEE10"}}.dump(),
                             {{"Content-Type", "application/json"}, {"Authorization", "Bearer forged.token.here"}});
    EXPECT_EQ(r.status, 401) << r.body;

    const auto customer = testing::token_for(shop.url, "cus-1", "customer");
    const std::string order = shop.buy(customer, cookie);
    const auto at = shop.attribution(order);
    EXPECT_EQ(at.affiliate_id(), "aff-1");
    EXPECT_EQ(at.step(), "cookie");
    EXPECT_EQ(at.outcome(), "attributed");
    EXPECT_EQ(at.base_minor(), 4000);        // goods, without shipping
    EXPECT_EQ(at.commission_minor(), 400);   // 10 %
    EXPECT_EQ(shop.events("order-" + order, "AffiliateConversionRecorded"), 0);  // not before it is paid
    // Staff see who referred the order; the buyer does not see what the affiliate earns.
    ASSERT_TRUE(testing::eventually([&] { return shop.get("/v1/orders/" + order, shop.admin).status == 200; }));
    const json detail = json::parse(shop.get("/v1/orders/" + order, shop.admin).body);
    EXPECT_EQ(detail["attribution"]["affiliate_id"], "aff-1");
    EXPECT_EQ(detail["attribution"]["step"], "cookie");
    EXPECT_EQ(detail["attribution"]["commission_minor"], 400);
    EXPECT_FALSE(json::parse(shop.get("/v1/orders/" + order, customer).body).contains("attribution"));

    shop.pay(order);
    // In the payment's transaction, once; a second success message earns nothing more.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal p JOIN journal c ON c.xmin = p.xmin AND c.correlation_id = p.correlation_id"
                          " WHERE p.type = 'PaymentSucceeded' AND c.type = 'AffiliateConversionRecorded' AND p.stream_id = $1",
                          {"order-" + order}),
              1);
    shop.fake.succeed(shop.intent_of(order)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.events("order-" + order, "ProviderSignalFlagged") == 1; }));
    EXPECT_EQ(shop.events("order-" + order, "AffiliateConversionRecorded"), 1);
    const auto aff = testing::token_for(shop.url, "aff-1", "affiliate");
    ASSERT_TRUE(testing::eventually([&] { return shop.balance_of("aff-1", aff).value("payable_minor", -1) == 400; }))
        << shop.balance_of("aff-1", aff);
    EXPECT_EQ(shop.balance("affiliate_payable:aff-1"), -400);
    EXPECT_EQ(shop.balance("affiliate_commission_expense"), 400);
    auto list = json::parse(shop.get("/v1/affiliates/aff-1/conversions", aff).body);
    ASSERT_EQ(list["conversions"].size(), 1u);
    EXPECT_EQ(list["conversions"][0]["order_id"], order);
    EXPECT_EQ(list["conversions"][0]["commission_minor"], 400);
    EXPECT_EQ(list["conversions"][0]["customer_id"], "cus-1");

    // 20.00 back to the card: half the goods, half the commission.
    r = shop.send("POST", "/v1/orders/" + order + "/refunds",
                  {{"amount_minor", 2000}, {"destination", "card"}, {"reason", "chipped"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal p JOIN journal c ON c.xmin = p.xmin AND c.correlation_id = p.correlation_id"
                          " WHERE p.type = 'RefundIssued' AND c.type = 'AffiliateConversionReversed'"),
              1);
    // The payable is the ledger projection's, the reversal the affiliates projection's: each
    // applies in its own time.
    ASSERT_TRUE(testing::eventually([&] {
        const json now = shop.balance_of("aff-1", aff);
        return now.value("payable_minor", -1) == 200 && now.value("reversed_minor", -1) == 200;
    })) << shop.balance_of("aff-1", aff);
    const json b = shop.balance_of("aff-1", aff);
    EXPECT_EQ(b["earned_minor"], 400);
    EXPECT_EQ(b["reversed_minor"], 200);
    EXPECT_EQ(b["conversions"], 1);

    // A dispute on the order holds what it still earns until the dispute closes (won here).
    const std::string dispute = shop.fake.dispute(shop.intent_of(order)["id"], 1000);
    ASSERT_TRUE(testing::eventually([&] { return shop.balance_of("aff-1", aff).value("held_minor", -1) == 200; }))
        << shop.balance_of("aff-1", aff);
    EXPECT_EQ(json::parse(shop.get("/v1/affiliates/aff-1/conversions", aff).body)["conversions"][0]["held"], true);
    shop.fake.close_dispute(dispute, "won");
    ASSERT_TRUE(testing::eventually([&] { return shop.balance_of("aff-1", aff).value("held_minor", -1) == 0; }))
        << shop.balance_of("aff-1", aff);
    EXPECT_EQ(json::parse(shop.get("/v1/affiliates/aff-1/conversions", aff).body)["conversions"][0]["held"], false);
    EXPECT_EQ(shop.balance_of("aff-1", aff)["payable_minor"], 200);

    // The auditor's reconciliation agrees; catches a balance edited by hand; a rebuild fixes it.
    std::string out;
    ASSERT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(shop.url, out); })) << out;
    EXPECT_NE(out.find("affiliate_conversions: 1 checked, clean\n  affiliate_payouts: 0 checked, clean\n  affiliate_balances: 1 checked, clean"), std::string::npos) << out;
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE affiliate_conversions SET reversed_minor = 0 WHERE order_id = $1", {order});
    }));
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 1) << out;
    EXPECT_NE(out.find("affiliate_conversions " + order + " reversed_minor: cached 0, log 200"), std::string::npos) << out;
    EXPECT_NE(out.find("affiliate_balances aff-1 USD payable_minor: cached 400, log 200"), std::string::npos) << out;
    auto rebuilt = shop.send("POST", "/v1/projections/affiliates/rebuild", json::object(), shop.admin);
    ASSERT_EQ(rebuilt.status, 200) << rebuilt.body;
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 0) << out;
    EXPECT_EQ(shop.balance_of("aff-1", aff)["reversed_minor"], 200);
}

// An affiliate buys as a customer; through its own cookie, coupon or stored attribution
// it earns nothing. Another customer through the same coupon earns; a signed-in visit
// stores the attribution on the profile, which wins at the next checkout.
TEST(AffiliatesE2E, SelfReferralIsBlockedAndTheProfileAttributionWins) {
    AffiliateShop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("COFFEE10"), shop.admin).status, 200);
    ASSERT_EQ(shop.send("PUT", "/v1/affiliates/aff-2", shop.affiliate("TEA20", 2000), shop.admin).status, 200);
    ASSERT_LT(shop.send("PUT", "/v1/coupons/AFF1OFF",
                        {{"kind", "FIXED"}, {"fixed_minor", 500}, {"scope", "SITE"}, {"affiliate_id", "aff-1"}}, shop.admin)
                  .status,
              300);
    const auto aff = testing::token_for(shop.url, "aff-1", "affiliate");
    // Its own cookie.
    const std::string own = shop.buy(aff, shop.visit("COFFEE10"));
    EXPECT_EQ(shop.attribution(own).outcome(), "self_referral_blocked");
    EXPECT_EQ(shop.attribution(own).step(), "cookie");
    shop.pay(own);
    // Its own coupon (which outranks aff-2's cookie).
    const std::string with_coupon = shop.buy(aff, shop.visit("TEA20"), "AFF1OFF", 4000);
    EXPECT_EQ(shop.attribution(with_coupon).outcome(), "self_referral_blocked");
    EXPECT_EQ(shop.attribution(with_coupon).step(), "coupon");
    shop.pay(with_coupon);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'AffiliateConversionRecorded'"), 0);

    // Another customer through the same coupon: aff-1 earns 10 % of 35.00 of goods.
    const auto other = testing::token_for(shop.url, "cus-2", "customer");
    const std::string theirs = shop.buy(other, shop.visit("TEA20"), "AFF1OFF", 4000);
    EXPECT_EQ(shop.attribution(theirs).affiliate_id(), "aff-1");
    EXPECT_EQ(shop.attribution(theirs).step(), "coupon");
    EXPECT_EQ(shop.attribution(theirs).coupon_code(), "AFF1OFF");
    EXPECT_EQ(shop.attribution(theirs).commission_minor(), 350);
    shop.pay(theirs);
    EXPECT_EQ(shop.events("order-" + theirs, "AffiliateConversionRecorded"), 1);

    // A signed-in visit by aff-2's link: stored on cus-3's profile (the first), and it wins
    // over a later cookie of aff-1's.
    const auto cus3 = testing::token_for(shop.url, "cus-3", "customer");
    auto r = shop.send("POST", "/v1/referrals/visits", {{"ref", "tea20"}}, cus3);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["recorded"], true);
    EXPECT_EQ(json::parse(r.body)["stored_on_profile"], true);
    r = shop.send("POST", "/v1/referrals/visits", {{"ref", "COFFEE10"}}, cus3);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["stored_on_profile"], false);
    EXPECT_EQ(shop.events("customer-cus-3", "ReferralVisitRecorded"), 2);
    const std::string profiled = shop.buy(cus3, shop.visit("COFFEE10"));
    EXPECT_EQ(shop.attribution(profiled).affiliate_id(), "aff-2");
    EXPECT_EQ(shop.attribution(profiled).step(), "profile");
    EXPECT_EQ(shop.attribution(profiled).commission_minor(), 800);
    // Nobody sets the attribution through the profile route.
    r = shop.send("PUT", "/v1/customers/cus-3/profile", {{"referred_by", {{"affiliate_id", "aff-1"}}}}, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["field"], "referred_by");

    // Paid on placing (store credit covers it all): the conversion joins the checkout's batch.
    ASSERT_EQ(shop.send("POST", "/v1/customers/cus-5/credit-grants",
                        {{"amount_minor", 4500}, {"currency", "USD"}, {"reason", "welcome"}}, shop.admin)
                  .status,
              201);
    const auto cus5 = testing::token_for(shop.url, "cus-5", "customer");
    const std::string on_credit = shop.buy(cus5, shop.visit("TEA20"));
    ASSERT_TRUE(testing::eventually([&] { return shop.status(on_credit) == "paid"; })) << shop.status(on_credit);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal p JOIN journal c ON c.xmin = p.xmin AND c.correlation_id = p.correlation_id"
                          " WHERE p.type = 'OrderPlaced' AND c.type = 'AffiliateConversionRecorded' AND p.stream_id = $1",
                          {"order-" + on_credit}),
              1);

    // A forged cookie is ignored, never an error, and counted.
    std::string forged = shop.visit("COFFEE10");
    forged[10] = forged[10] == 'x' ? 'y' : 'x';
    const auto anon = testing::token_for(shop.url, "cus-4", "customer");
    const std::string plain = shop.buy(anon, forged);
    EXPECT_TRUE(shop.attribution(plain).affiliate_id().empty());
    auto metrics = shop.client->request("GET", "/metrics", "", {});
    EXPECT_NE(metrics.body.find("tally_referral_cookies_ignored_total{reason=\""), std::string::npos);
}

}  // namespace
}  // namespace tally
