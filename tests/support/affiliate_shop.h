#pragma once
// The end-to-end shop with affiliates: the provider shop (fake Stripe, vendor "ana" with
// "lamp" at 40.00 + 5.00 shipping) with referral keys, and the steps the affiliate tests
// share: define an affiliate, visit by its link, buy with a cookie or coupon, pay.

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tally/v1/order.pb.h"
#include "tests/support/provider_shop.h"

namespace tally::testing {

constexpr const char* kReferralKeys = "r2:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,r1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

struct AffiliateShop : ProviderShop {
    explicit AffiliateShop(std::map<std::string, std::string> extra_env = {})
        : ProviderShop(with(std::move(extra_env), {{"TALLY_REFERRAL_KEYS", kReferralKeys}})) {}

    json affiliate(const std::string& code, int64_t bps = 1000, const std::string& status = "active") {
        return {{"commission_bps", bps},
                {"currency", "USD"},
                {"status", status},
                {"stripe_account", "acct_aff"},
                {"referral_codes", json::array({code})}};
    }

    // A visit by the referral link; the cookie it signs ("" when refused).
    std::string visit(const std::string& code, const std::string& token = "") {
        http::ClientResponse r = token.empty()
                                     ? client->request("POST", "/v1/referrals/visits", json{{"ref", code}}.dump(),
                                                       {{"Content-Type", "application/json"}})
                                     : send("POST", "/v1/referrals/visits", {{"ref", code}}, token);
        if (r.status != 200) return "";
        return json::parse(r.body)["cookie"].get<std::string>();
    }

    // One lamp (40.00 goods + 5.00 shipping), by card, with the cookie if any.
    std::string buy(const std::string& token, const std::string& cookie = "", const std::string& coupon = "",
                    int64_t total = 4500) {
        json cart = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})},
                     {"expected_total_minor", total}};
        if (!cookie.empty()) cart["referral_cookie"] = cookie;
        if (!coupon.empty()) cart["coupon_codes"] = json::array({coupon});
        auto r = send("POST", "/v1/checkout", cart, token);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? json::parse(r.body)["order_id"].get<std::string>() : "";
    }

    void pay(const std::string& order) {
        fake.succeed(intent_of(order)["id"]);
        ASSERT_TRUE(eventually([&] { return status(order) == "paid"; })) << status(order);
    }

    // The attribution OrderPlaced recorded, from the journal.
    v1::Attribution attribution(const std::string& order) {
        v1::OrderPlaced placed;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            auto rows = tx.exec("SELECT payload FROM journal WHERE stream_id = $1 AND type = 'OrderPlaced'", {"order-" + order});
            if (!rows.empty()) placed.ParseFromString(rows.front().bytes(0));
        }));
        return placed.attribution();
    }

    // The affiliate's balance; the error answer while the affiliates projection has not
    // caught up (no assertion here: callers poll it, and compare what they need).
    json balance_of(const std::string& affiliate, const std::string& token) {
        auto r = get("/v1/affiliates/" + affiliate + "/balance", token);
        json body = json::parse(r.body, nullptr, false);
        if (r.status != 200) return {{"status", r.status}, {"answer", body}};
        return body;
    }
};

}  // namespace tally::testing
