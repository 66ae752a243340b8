#pragma once
// The end-to-end shop with a payment provider: a fake Stripe over HTTP (constructed
// before tallyd, which calls it), tallyd configured for it, one vendor ("ana", product
// "lamp" at 40.00 plus 5.00 shipping), and the reads the payment tests share.

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/fake_stripe.h"
#include "tests/support/shop.h"

namespace tally::testing {

using nlohmann::json;

// `defaults` with `extra` on top.
inline std::map<std::string, std::string> with(std::map<std::string, std::string> extra,
                                               std::map<std::string, std::string> defaults) {
    for (auto& [k, v] : extra) defaults[k] = v;
    return defaults;
}

constexpr const char* kKey = "sk_test_e2e";
constexpr const char* kWebhookSecret = "whsec_provider_e2e";

// Constructed before the shop, whose tallyd calls it.
struct WithFakeStripe {
    FakeStripe fake{kKey, kWebhookSecret};
};

struct ProviderShop : WithFakeStripe, Shop {
    explicit ProviderShop(std::map<std::string, std::string> extra_env = {})
        : Shop(with(std::move(extra_env), {{"TALLY_STRIPE_API_BASE", fake.base_url()},
                         {"TALLY_STRIPE_SECRET_KEY", kKey},
                         {"TALLY_STRIPE_WEBHOOK_SECRETS", kWebhookSecret},
                         {"TALLY_PAYOUT_DELAY_S", "1"},
                         {"TALLY_PROVIDER_RETRY_BASE_MS", "50"},
                         {"TALLY_PROVIDER_RETRY_MAX_MS", "400"},
                         {"TALLY_PROVIDER_ATTEMPTS_MAX", "4"}})) {
        fake.send_webhooks_to(tallyd.port());
        vendor("ana", "acct_ana", "lamp");
    }

    void vendor(const std::string& id, const std::string& account, const std::string& sku, int64_t stock = 100) {
        json v = {{"currency", "USD"}, {"commission_bps", 1000}, {"shipping", {{"flat_minor", 500}}}};
        if (!account.empty()) v["payout_account"] = account;
        EXPECT_EQ(send("PUT", "/v1/vendors/" + id, v, admin).status, 200);
        EXPECT_EQ(send("PUT", "/v1/products/" + sku, {{"vendor_id", id}, {"country_of_origin", "DK"}, {"base_minor", 4000}},
                       admin).status, 200);
        EXPECT_EQ(send("POST", "/v1/products/" + sku + "/stock-adjustments", {{"delta", stock}, {"reason", "received"}},
                       admin).status, 201);
    }

    // One of `sku` (40.00 + 5.00 shipping), to pay by card.
    std::string checkout(const std::string& customer, const std::string& sku = "lamp") {
        json cart = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", sku}, {"quantity", 1}}})},
                     {"expected_total_minor", 4500}};
        auto r = send("POST", "/v1/checkout", cart, token_for(url, customer, "customer"));
        EXPECT_EQ(r.status, 201) << r.body;
        return json::parse(r.body).value("order_id", "");
    }

    // The PaymentIntent the workers created for the order, once they have.
    json intent_of(const std::string& order) {
        json found;
        EXPECT_TRUE(eventually([&] {
            for (const auto& pi : fake.objects("pi_"))
                if (pi["metadata"].value("order_id", "") == order) found = pi;
            return !found.is_null();
        })) << "no intent for " << order << "\n" << tallyd.log();
        return found;
    }

    // The Refund the provider made against an intent, once it has (null if none comes).
    json refund_of(const json& intent_id) {
        json found;
        eventually([&] {
            for (const auto& re : fake.objects("re_"))
                if (re["payment_intent"] == intent_id) found = re;
            return !found.is_null();
        });
        return found;
    }

    std::string status(const std::string& order) {
        auto r = get("/v1/orders/" + order, admin);
        return r.status == 200 ? json::parse(r.body).value("status", "") : "";
    }

    std::string paid_order(const std::string& customer) {
        const std::string order = checkout(customer);
        fake.succeed(intent_of(order)["id"]);
        EXPECT_TRUE(eventually([&] { return status(order) == "paid"; })) << status(order);
        return order;
    }

    int64_t events(const std::string& stream, const std::string& type) {
        return number("SELECT count(*) FROM journal WHERE stream_id = $1 AND type = $2", {stream, type});
    }

    std::string call_status(const std::string& key) {
        std::string s;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            auto rows = tx.exec("SELECT status FROM provider_calls WHERE key = $1", {key});
            if (!rows.empty()) s = rows.front().str(0);
        }));
        return s;
    }

    json dead_letters(const std::string& token) {
        auto r = get("/v1/operator/dead-letters", token);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body)["dead_letters"] : json::array();
    }
};

}  // namespace tally::testing
