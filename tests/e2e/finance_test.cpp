// Financial powers kept apart, over HTTP: commission, fees, credit caps, the loyalty
// program and payout schedules are finance's (admin or finance.manage); a vendor never
// sets its own commission; refunds to credit respect the caps unless an admin overrides;
// a claw-back never goes below zero and balances the ledger.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "domain/principal.h"
#include "tally/v1/catalog.pb.h"
#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;

std::string preset_token(const std::string& url, const std::string& id, const std::string& key) {
    const auto* p = principal::find_preset(key);
    std::string perms;
    for (auto x : p->permissions) perms += (perms.empty() ? "" : ",") + std::string(x);
    return testing::token_for(url, id, "employee", perms);
}

struct Finance : testing::Shop {
    std::string accounting, operations, content, support, vendor, customer;
    Finance() {
        accounting = preset_token(url, "emp-acc", "accounting");
        operations = preset_token(url, "emp-ops", "operations");
        content = preset_token(url, "emp-content", "content");
        support = preset_token(url, "emp-support", "customer_support");
        vendor = testing::token_for(url, "ana", "vendor");
        customer = testing::token_for(url, "cus-1", "customer");
        ok(send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"shipping", {{"flat_minor", 0}}}}, admin));
        ok(send("PUT", "/v1/products/mug", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 2000}}, admin));
        ok(send("PUT", "/v1/catalog/settings", {{"site_commission_bps", 1000}}, admin));
        EXPECT_EQ(send("POST", "/v1/products/mug/stock-adjustments", {{"delta", 10}, {"reason", "in"}}, admin).status, 201);
    }
    void ok(const http::ClientResponse& r) { EXPECT_EQ(r.status, 200) << r.body; }
    template <typename Message>
    Message state(const std::string& stream) {
        Message m;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            m.ParseFromString(tx.exec("SELECT state FROM snapshots WHERE stream_id = $1", {stream}).at(0).bytes(0));
        }));
        return m;
    }
    static bool refused_as(const http::ClientResponse& r, int status, const std::string& code) {
        return r.status == status && r.body.find(code) != std::string::npos;
    }
};

TEST(Finance, AVendorNeverSetsItsCommissionAndKeepsTheRateFinanceSet) {
    Finance f;
    const json mug = {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 2100}};
    auto own_rate = f.send("PUT", "/v1/products/mug", [&] { auto b = mug; b["commission_bps"] = 0; return b; }(), f.vendor);
    EXPECT_TRUE(Finance::refused_as(own_rate, 403, "financial_setting")) << own_rate.body;
    EXPECT_NE(own_rate.body.find("\"field\":\"commission_bps\""), std::string::npos) << own_rate.body;
    auto new_product = f.send("PUT", "/v1/products/bowl",
                              {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 900}, {"commission_bps", 1}},
                              f.vendor);
    EXPECT_TRUE(Finance::refused_as(new_product, 403, "financial_setting")) << new_product.body;
    // Finance sets it; the vendor's redefinition keeps it (and may repeat it).
    f.ok(f.send("PUT", "/v1/products/mug", [&] { auto b = mug; b["commission_bps"] = 1500; return b; }(), f.accounting));
    f.ok(f.send("PUT", "/v1/products/mug", mug, f.vendor));
    auto kept = f.state<v1::ProductDefinition>("product-mug");
    EXPECT_EQ(kept.base_minor(), 2100);
    ASSERT_TRUE(kept.has_commission_bps());
    EXPECT_EQ(kept.commission_bps(), 1500u);
    f.ok(f.send("PUT", "/v1/products/mug", [&] { auto b = mug; b["commission_bps"] = 1500; return b; }(), f.vendor));
    // The quote charges finance's rate: 15% of 21.00.
    auto quote = f.client->request("POST", "/v1/quote",
                                   json{{"currency", "USD"}, {"ship_to_country", "US"},
                                        {"lines", json::array({{{"sku", "mug"}, {"quantity", 1}}})}}.dump(),
                                   {{"Authorization", "Bearer " + f.customer}});
    ASSERT_EQ(quote.status, 200) << quote.body;
    EXPECT_NE(quote.body.find("\"commission_minor\":315"), std::string::npos) << quote.body;
    // A catalog manager (Content) is held to the same rule on vendors.
    auto content_rate = f.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"commission_bps", 0}}, f.content);
    EXPECT_TRUE(Finance::refused_as(content_rate, 403, "financial_setting")) << content_rate.body;
    f.ok(f.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"commission_bps", 800}}, f.accounting));
    f.ok(f.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"shipping", {{"flat_minor", 100}}}}, f.content));
    EXPECT_EQ(f.state<v1::VendorDefinition>("vendor-ana").commission_bps(), 800u);
}

TEST(Finance, OperationsChangesNoFeeNoCapNoProgramAndAccountingDoes) {
    Finance f;
    auto fee = f.send("PUT", "/v1/catalog/settings", {{"service_fee", {{"percent_bps", 100}}}}, f.operations);
    EXPECT_TRUE(Finance::refused_as(fee, 403, "financial_setting")) << fee.body;
    auto site = f.send("PUT", "/v1/catalog/settings", {{"site_commission_bps", 1}}, f.operations);
    EXPECT_TRUE(Finance::refused_as(site, 403, "financial_setting")) << site.body;
    // What is not financial, Operations changes; the site's rate stays.
    f.ok(f.send("PUT", "/v1/catalog/settings", {{"ships_to", {"US", "CA"}}}, f.operations));
    EXPECT_EQ(f.state<v1::CatalogSettings>("catalog-settings").site_commission_bps(), 1000u);
    EXPECT_EQ(f.send("PUT", "/v1/credit/policy", {{"grant_max_minor", 1}, {"balance_max_minor", 2}, {"reason", "x"}}, f.operations).status,
              403);
    EXPECT_EQ(f.send("PUT", "/v1/loyalty/program", {{"currencies", json::array()}}, f.operations).status, 403);
    EXPECT_EQ(f.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 1}, {"hour_utc", 9}}, f.operations).status, 403);
    EXPECT_EQ(f.send("POST", "/v1/orders/o1/payouts", {{"vendor_id", "ana"}}, f.operations).status, 403);
    // Accounting holds finance.manage.
    f.ok(f.send("PUT", "/v1/catalog/settings", {{"site_commission_bps", 1200}, {"service_fee", {{"fixed_minor", 50}}}}, f.accounting));
    auto settings = f.state<v1::CatalogSettings>("catalog-settings");
    EXPECT_EQ(settings.site_commission_bps(), 1200u);
    EXPECT_EQ(settings.service_fee().fixed_minor(), 50);
    EXPECT_EQ(settings.ships_to_size(), 0) << "finance's definition is taken whole";
    f.ok(f.send("PUT", "/v1/affiliates/payout-schedule", {{"weekday", 1}, {"hour_utc", 9}}, f.accounting));
    auto policy = f.send("PUT", "/v1/credit/policy", {{"grant_max_minor", 2000}, {"balance_max_minor", 1000}, {"reason", "x"}},
                         f.accounting);
    EXPECT_EQ(policy.status, 422) << "a grant cap above the balance cap: " << policy.body;
}

TEST(Finance, ARefundToCreditAboveTheCapNeedsAnAdminsOverrideAndAClawBackNeverGoesBelowZero) {
    Finance f;
    ASSERT_EQ(f.send("POST", "/v1/customers/cus-1/credit-grants", {{"amount_minor", 5000}, {"currency", "USD"}, {"reason", "vip"}},
                     f.admin).status, 201);
    auto placed = f.send("POST", "/v1/checkout",
                         {{"currency", "USD"}, {"ship_to_country", "US"},
                          {"lines", json::array({{{"sku", "mug"}, {"quantity", 1}}})}, {"expected_total_minor", 2000}},
                         f.customer);
    ASSERT_EQ(placed.status, 201) << placed.body;
    const std::string order = json::parse(placed.body)["order_id"];
    ASSERT_EQ(json::parse(placed.body)["status"], "paid");
    auto policy = f.send("PUT", "/v1/credit/policy", {{"grant_max_minor", 1000}, {"balance_max_minor", 100000}, {"reason", "tight"}},
                         f.accounting);
    ASSERT_EQ(policy.status, 200) << policy.body;
    EXPECT_EQ(json::parse(f.get("/v1/credit/policy", f.operations).body)["version"], 1);

    const std::string refunds = "/v1/orders/" + order + "/refunds";
    auto over = f.send("POST", refunds, {{"amount_minor", 1500}, {"destination", "credit"}, {"reason", "broken"}}, f.support);
    EXPECT_TRUE(Finance::refused_as(over, 409, "refund_exceeds_credit_cap")) << over.body;
    EXPECT_NE(over.body.find("\"credited_minor\":1500"), std::string::npos) << over.body;
    auto not_admin = f.send("POST", refunds,
                            {{"amount_minor", 1500}, {"destination", "credit"}, {"reason", "broken"}, {"cap_override_reason", "vip"}},
                            f.support);
    EXPECT_EQ(not_admin.status, 403) << not_admin.body;
    auto vendor_credit = f.send("POST", refunds, {{"amount_minor", 100}, {"destination", "credit"}, {"reason", "x"}}, f.vendor);
    EXPECT_TRUE(Finance::refused_as(vendor_credit, 403, "vendor_refunds_to_card")) << vendor_credit.body;
    // Within the cap it goes through; beyond it, an admin's override with its reason.
    ASSERT_EQ(f.send("POST", refunds, {{"amount_minor", 400}, {"destination", "credit"}, {"reason", "chipped"}}, f.support).status, 200);
    auto overridden = f.send(
        "POST", refunds,
        {{"amount_minor", 1500}, {"destination", "credit"}, {"reason", "broken"}, {"cap_override_reason", "long-time customer"}},
        f.admin);
    ASSERT_EQ(overridden.status, 200) << overridden.body;
    // 5000 - 2000 + 400 + 1500.
    ASSERT_TRUE(testing::eventually([&] {
        auto c = json::parse(f.get("/v1/customers/cus-1/credit", f.admin).body);
        return c["balance_minor"] == 4900;
    }));
    auto credit = json::parse(f.get("/v1/customers/cus-1/credit", f.admin).body);
    EXPECT_NE(credit["entries"][0]["reason"].get<std::string>().find("credit caps overridden by admin-1: long-time customer"),
              std::string::npos)
        << credit.dump();

    // The claw-back: finance only, never below zero, posted.
    const std::string reversals = "/v1/customers/cus-1/credit-reversals";
    EXPECT_EQ(f.send("POST", reversals, {{"amount_minor", 100}, {"currency", "USD"}, {"reason", "x"}}, f.operations).status, 403);
    auto too_much = f.send("POST", reversals, {{"amount_minor", 4901}, {"currency", "USD"}, {"reason", "fraud"}}, f.accounting);
    EXPECT_TRUE(Finance::refused_as(too_much, 409, "reversal_exceeds_balance")) << too_much.body;
    EXPECT_NE(too_much.body.find("\"balance_minor\":4900"), std::string::npos) << too_much.body;
    EXPECT_EQ(f.send("POST", reversals, {{"amount_minor", 10}, {"currency", "EUR"}, {"reason", "x"}}, f.accounting).status, 409);
    EXPECT_EQ(f.send("POST", reversals, {{"amount_minor", -5}, {"currency", "USD"}, {"reason", "x"}}, f.accounting).status, 422);
    auto back = f.send("POST", reversals, {{"amount_minor", 900}, {"currency", "USD"}, {"reason", "goodwill given twice"}}, f.accounting);
    ASSERT_EQ(back.status, 201) << back.body;
    EXPECT_EQ(json::parse(back.body)["balance_minor"], 4000);
    auto all = f.send("POST", reversals, {{"amount_minor", 4000}, {"currency", "USD"}, {"reason", "account closed"}}, f.admin);
    ASSERT_EQ(all.status, 201) << all.body;
    EXPECT_EQ(json::parse(all.body)["balance_minor"], 0);
    EXPECT_TRUE(Finance::refused_as(f.send("POST", reversals, {{"amount_minor", 1}, {"currency", "USD"}, {"reason", "x"}}, f.admin), 409,
                                    "reversal_exceeds_balance"));
    // Projections, ledger and log agree; the liability is gone and the ledger balances.
    std::string out;
    ASSERT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(f.url, out); })) << out;
    EXPECT_EQ(f.balance("store_credit_liability:cus-1"), 0);
    auto ledger = json::parse(f.get("/v1/ledger/accounts", f.accounting).body);
    for (const auto& t : ledger["totals"]) EXPECT_TRUE(t["balanced"].get<bool>()) << ledger.dump();
    auto entries = json::parse(f.get("/v1/customers/cus-1/credit", f.admin).body)["entries"];
    EXPECT_EQ(entries[0]["kind"], "reversal");
    EXPECT_EQ(entries[0]["amount_minor"], -4000);
    EXPECT_EQ(entries[0]["actor"], "admin-1");
}

}  // namespace
}  // namespace tally
