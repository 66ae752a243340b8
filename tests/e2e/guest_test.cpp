// Guest checkout (issue 11, item 9), end to end over HTTP with the fake provider: a
// storefront (a service account) quotes and checks out for a guest by e-mail; the order
// belongs to a guest customer derived from the storefront and the address; the storefront
// reads it and pays it; an admin later claims the guest's orders for a registered
// customer, which is an event, shows in the read models and is reconciled.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

json guest_cart(const std::string& email) {
    return {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})},
            {"guest", {{"email", email}}}, {"expected_total_minor", 4500}};
}

}  // namespace

TEST(GuestCheckout, AStorefrontChecksOutAGuestWhoIsLaterClaimed) {
    testing::ProviderShop shop;
    const std::string storefront = testing::token_for(shop.url, "sf-main", "storefront");
    const std::string other_storefront = testing::token_for(shop.url, "sf-other", "storefront");
    const std::string ann = testing::token_for(shop.url, "cus-ann", "customer");

    // A storefront quotes for a guest (no credit, no account) and anonymously.
    auto r = shop.send("POST", "/v1/quote", guest_cart("ann@example.com"), storefront);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["total_minor"], 4500);
    json anonymous = guest_cart("");
    anonymous.erase("guest");
    EXPECT_EQ(shop.send("POST", "/v1/quote", anonymous, storefront).status, 200);
    // Guests are a storefront's: a customer may not name one, a storefront must, and the address must be one.
    r = shop.send("POST", "/v1/checkout", guest_cart("ann@example.com"), ann);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body)["field"], "guest");
    r = shop.send("POST", "/v1/checkout", anonymous, storefront);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "missing_field");
    for (const std::string bad : {"ann", "ann@", "@example.com", "ann@@example.com", "a n@example.com", "ann@localhost"}) {
        r = shop.send("POST", "/v1/checkout", guest_cart(bad), storefront);
        EXPECT_EQ(r.status, 422) << bad << ": " << r.body;
        EXPECT_EQ(json::parse(r.body)["field"], "guest.email") << bad;
    }
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'"), 0);

    // Two checkouts for the same guest, written differently: one guest customer.
    r = shop.send("POST", "/v1/checkout", guest_cart("Ann@Example.com"), storefront);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string paid = json::parse(r.body)["order_id"];
    r = shop.send("POST", "/v1/checkout", guest_cart("  ann@example.COM "), storefront);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string unpaid = json::parse(r.body)["order_id"];
    // The same address at another storefront is another guest.
    r = shop.send("POST", "/v1/checkout", guest_cart("ann@example.com"), other_storefront);
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string elsewhere = json::parse(r.body)["order_id"];

    // The storefront reads its guest's order, with the client secret to confirm the payment; others may not.
    json detail;
    ASSERT_TRUE(testing::eventually([&] {
        auto d = shop.get("/v1/orders/" + paid, storefront);
        if (d.status != 200) return false;
        detail = json::parse(d.body);
        return detail["payment"].is_object() && detail["payment"].contains("client_secret");
    })) << detail.dump();
    const std::string guest = detail["guest_customer_id"];
    EXPECT_EQ(guest.rfind("guest-", 0), 0u) << guest;
    EXPECT_EQ(detail["customer_id"], guest);
    EXPECT_EQ(detail["guest_email"], "ann@example.com");
    EXPECT_EQ(detail["storefront_id"], "sf-main");
    EXPECT_EQ(shop.get("/v1/orders/" + paid, other_storefront).status, 403);
    EXPECT_EQ(shop.get("/v1/orders/" + paid, ann).status, 403);
    ASSERT_TRUE(testing::eventually([&] { return shop.get("/v1/orders/" + unpaid, storefront).status == 200; }));
    EXPECT_EQ(json::parse(shop.get("/v1/orders/" + unpaid, storefront).body)["guest_customer_id"], guest);
    ASSERT_TRUE(testing::eventually([&] { return shop.get("/v1/orders/" + elsewhere, other_storefront).status == 200; }));
    EXPECT_NE(json::parse(shop.get("/v1/orders/" + elsewhere, other_storefront).body)["guest_customer_id"], guest);
    shop.fake.succeed(shop.intent_of(paid)["id"]);
    ASSERT_TRUE(testing::eventually([&] { return shop.status(paid) == "paid"; }));

    // Only admins claim, only for a registered customer, only a guest who checked out.
    const json claim = {{"storefront_id", "sf-main"}, {"email", "ANN@example.com"}};
    EXPECT_EQ(shop.send("POST", "/v1/customers/cus-ann/claims", claim,
                        testing::token_for(shop.url, "emp-1", "employee", "customers.manage,orders.manage")).status, 403);
    r = shop.send("POST", "/v1/customers/cus-nobody/claims", claim, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "unknown_customer");
    r = shop.send("POST", "/v1/customers/cus-ann/claims", {{"guest_customer_id", "guest-0000"}}, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "unknown_guest");
    r = shop.send("POST", "/v1/customers/cus-ann/claims", {{"guest_customer_id", guest}, {"email", "a@b.co"}}, shop.admin);
    EXPECT_EQ(r.status, 422) << r.body;

    // The claim: both of the guest's orders at sf-main, none elsewhere; replayed by its key.
    r = shop.send("POST", "/v1/customers/cus-ann/claims", claim, shop.admin, "claim-ann");
    ASSERT_EQ(r.status, 200) << r.body;
    const json claimed = json::parse(r.body);
    EXPECT_EQ(claimed["guest_customer_id"], guest);
    EXPECT_EQ(claimed["order_ids"].size(), 2u) << r.body;
    EXPECT_EQ(shop.send("POST", "/v1/customers/cus-ann/claims", claim, shop.admin, "claim-ann").body, r.body);
    r = shop.send("POST", "/v1/customers/cus-ann/claims", claim, shop.admin);
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(json::parse(r.body)["title"], "nothing_to_claim");
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'GuestClaimed'"), 1);
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'OrderClaimed'"), 2);

    // The customer now lists, reads and cancels them; store credit given back is theirs.
    ASSERT_TRUE(testing::eventually([&] {
        auto list = shop.get("/v1/customers/cus-ann/orders", ann);
        return list.status == 200 && json::parse(list.body)["orders"].size() == 2;
    }));
    auto d = shop.get("/v1/orders/" + paid, ann);
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(json::parse(d.body)["customer_id"], "cus-ann");
    EXPECT_EQ(json::parse(d.body)["guest_customer_id"], guest);
    r = shop.send("POST", "/v1/orders/" + unpaid + "/cancel", {{"reason", "bought it already"}}, ann);
    EXPECT_EQ(r.status, 200) << r.body;
    r = shop.send("POST", "/v1/orders/" + paid + "/refunds",
                  {{"amount_minor", 1000}, {"destination", "credit"}, {"reason", "scratched"}}, shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(testing::eventually([&] { return shop.balance("store_credit_liability:cus-ann") == -1000; }));
    EXPECT_EQ(shop.balance("store_credit_liability:" + guest), 0);
    // The other storefront's guest is untouched.
    EXPECT_EQ(json::parse(shop.get("/v1/orders/" + elsewhere, shop.admin).body)["customer_id"],
              json::parse(shop.get("/v1/orders/" + elsewhere, other_storefront).body)["guest_customer_id"]);

    // Rebuilt from the log, the same owners; and the auditor's reconciliation agrees.
    r = shop.send("POST", "/v1/projections/orders/rebuild", json::object(), shop.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(shop.get("/v1/orders/" + paid, shop.admin).body)["customer_id"], "cus-ann");
    std::string out;
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 0) << out;
    ASSERT_TRUE(shop.pool.transact(
        [&](sql::Tx& tx) { tx.exec("UPDATE orders SET customer_id = $1 WHERE order_id = $2", {guest, paid}); }));
    EXPECT_EQ(testing::run_replay(shop.url, "reconcile", out), 1) << out;
    EXPECT_NE(out.find("customer_id: cached " + guest + ", log cus-ann"), std::string::npos) << out;
}

}  // namespace tally
