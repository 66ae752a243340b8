// The operator console (GET /console) in headless Chromium, driven by Python Selenium
// (tests/console/console_check.py) against a real tallyd with real data: a dead letter,
// a reconciliation, ledger postings and a stream. The browser retries the dead letter and
// rebuilds a projection through the page; this test then checks the server did both, as
// the admin's recorded acts. The screenshot is kept at build/tests/artifacts/console.png.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

TEST(Console, ItShowsRealDataRetriesADeadLetterAndRebuildsInHeadlessChromium) {
    testing::ProviderShop shop(std::map<std::string, std::string>{{"TALLY_RECONCILE_INTERVAL_S", "2"}});
    // Postings in the ledger: grants, and an order whose payment intent the provider
    // refuses until the call is parked.
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(shop.send("POST", "/v1/customers/cus-" + std::to_string(i) + "/credit-grants",
                            {{"amount_minor", 250 + i}, {"currency", "USD"}, {"reason", "goodwill"}}, shop.admin)
                      .status,
                  201);
    shop.fake.fail_next("/v1/payment_intents", 4, 500);
    const std::string order = shop.checkout("cus-9");
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-" + order) == "dead"; }));
    const json dead = shop.dead_letters(shop.admin);
    ASSERT_EQ(dead.size(), 1u);
    const std::string dead_id = std::to_string(dead[0]["id"].get<int64_t>());
    // A reconciliation over all of it.
    ASSERT_TRUE(testing::eventually([&] {
        auto r = shop.get("/v1/reconcile/last", shop.admin);
        return r.status == 200 && json::parse(r.body).value("position", 0) >= shop.number("SELECT position FROM journal_head");
    }, std::chrono::seconds(60)));
    const int64_t rebuilds_before = shop.number("SELECT count(*) FROM journal WHERE type = 'ProjectionRebuilt'");

    const std::string artifacts = std::string(TALLY_BINARY_DIR) + "/tests/artifacts";
    std::filesystem::create_directories(artifacts);
    const std::string screenshot = artifacts + "/console.png";
    std::filesystem::remove(screenshot);
    const auto [status, out] =
        testing::run_command("/usr/bin/python3 " + std::string(TALLY_SOURCE_DIR) +
                             "/tests/console/console_check.py --base http://127.0.0.1:" +
                             std::to_string(shop.tallyd.port()) + " --token " + shop.admin + " --dead-letter " + dead_id +
                             " --stream credit-cus-1 --rebuild credit --screenshot " + screenshot);
    std::printf("%s", out.c_str());
    ASSERT_EQ(status, 0) << out << "\n" << shop.tallyd.log();

    // What the browser did, as the server recorded it.
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'DeadLetterRetried' AND actor = 'admin-1'"), 1);
    ASSERT_TRUE(testing::eventually([&] { return shop.call_status("intent-" + order) == "done"; }));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProjectionRebuilt' AND actor = 'admin-1'"),
              rebuilds_before + 1);
    ASSERT_TRUE(std::filesystem::exists(screenshot));
    EXPECT_GT(std::filesystem::file_size(screenshot), 20000u) << "a blank page?";
}

// The page's files: served with their types, a policy that admits only this server, and an
// ETag the browser revalidates with.
TEST(Console, ItsFilesAreServedWithTheirTypesAPolicyAndAnETag) {
    testing::Shop shop;
    const auto page = shop.client->request("GET", "/console");
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("<script type=\"module\" src=\"/console/console.js\">"), std::string::npos);
    EXPECT_EQ(page.headers.at("content-type"), "text/html; charset=utf-8");
    EXPECT_NE(page.headers.at("content-security-policy").find("default-src 'none'; script-src 'self'"), std::string::npos);
    const auto js = shop.client->request("GET", "/console/console.js");
    ASSERT_EQ(js.status, 200);
    EXPECT_EQ(js.headers.at("content-type"), "text/javascript; charset=utf-8");
    EXPECT_NE(js.body.find("sessionStorage"), std::string::npos);
    EXPECT_EQ(shop.client->request("GET", "/console/console.css").headers.at("content-type"), "text/css; charset=utf-8");
    const std::string etag = js.headers.at("etag");
    const auto again = shop.client->request("GET", "/console/console.js", "", {{"If-None-Match", etag}});
    EXPECT_EQ(again.status, 304);
    EXPECT_TRUE(again.body.empty());
    EXPECT_EQ(shop.client->request("GET", "/console/console.js", "", {{"If-None-Match", "\"stale\""}}).status, 200);
    EXPECT_EQ(shop.client->request("GET", "/console/nothing.js").status, 404);
    EXPECT_EQ(shop.client->request("GET", "/console/..%2fREADME.md").status, 404);
    EXPECT_EQ(shop.client->request("POST", "/console", "{}").status, 405);
}

}  // namespace
}  // namespace tally
