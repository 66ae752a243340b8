// Rate limits over HTTP: 429 with Retry-After and the RateLimit headers under a burst,
// buckets apart per principal, class and address, shared by two tallyd through
// PostgreSQL, and failing open when that store breaks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;

std::map<std::string, std::string> limits(const std::string& store, const std::string& principals,
                                          const std::string& addresses = "read=100000/100000,write=100000/100000") {
    return {{"TALLY_RATE_LIMIT", store}, {"TALLY_RATE_LIMITS", principals}, {"TALLY_RATE_LIMITS_ADDRESS", addresses}};
}

TEST(RateLimit, ABurstIsRefused429WithRetryAfterAndTheRateLimitHeaders) {
    testing::Shop s(limits("memory", "read=1/5,write=1/3"));
    const auto ama = testing::token_for(s.url, "ama", "customer"), kofi = testing::token_for(s.url, "kofi", "customer");
    for (int i = 0; i < 5; ++i) ASSERT_EQ(s.get("/v1/customers/ama/credit", ama).status, 200) << i;
    auto refused = s.get("/v1/customers/ama/credit", ama);
    ASSERT_EQ(refused.status, 429) << refused.body;
    EXPECT_NE(refused.body.find("rate_limited"), std::string::npos);
    EXPECT_EQ(refused.headers["retry-after"], "1");
    EXPECT_EQ(refused.headers["ratelimit-policy"], "\"principal-read\";q=5;w=5");
    EXPECT_TRUE(std::regex_match(refused.headers["ratelimit"], std::regex("\"principal-read\";r=0;t=1")))
        << refused.headers["ratelimit"];
    // Another principal's bucket is its own; so is the same principal's for writes.
    EXPECT_EQ(s.get("/v1/customers/kofi/credit", kofi).status, 200);
    auto write = s.send("PUT", "/v1/customers/ama/profile", {{"display_name", "Ama"}}, ama);
    EXPECT_EQ(write.status, 200) << write.body;
    // A second later there is a token again.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(s.get("/v1/customers/ama/credit", ama).status, 200);
    auto metrics = s.client->request("GET", "/metrics").body;
    EXPECT_NE(metrics.find("tally_rate_limited_total{policy=\"principal-read\"}"), std::string::npos);
}

TEST(RateLimit, AnAddressWithoutATokenHasItsOwnBudget) {
    testing::Shop s(limits("memory", "read=100000/100000,write=100000/100000", "read=100000/100000,write=1/2"));
    const std::string visit = R"({"ref": "NOPE"})";
    EXPECT_EQ(s.client->request("POST", "/v1/referrals/visits", visit).status, 404);
    EXPECT_EQ(s.client->request("POST", "/v1/referrals/visits", visit).status, 404);
    auto refused = s.client->request("POST", "/v1/referrals/visits", visit);
    EXPECT_EQ(refused.status, 429) << refused.body;
    EXPECT_EQ(refused.headers["ratelimit-policy"], "\"address-write\";q=2;w=2");
}

TEST(RateLimit, TwoProcessesShareTheBucketsInPostgresAndTheLimiterFailsOpen) {
    testing::Shop s(limits("postgres", "read=0.1/4"));
    testing::Tallyd second(s.url, s.broker.bootstraps(), limits("postgres", "read=0.1/4"));
    second.start();
    http::Client other("127.0.0.1", second.port());
    const auto ama = testing::token_for(s.url, "ama", "customer");
    const std::map<std::string, std::string> auth{{"Authorization", "Bearer " + ama}};
    // Four tokens in all, whichever process answers.
    EXPECT_EQ(s.get("/v1/customers/ama/credit", ama).status, 200);
    EXPECT_EQ(other.request("GET", "/v1/customers/ama/credit", "", auth).status, 200);
    EXPECT_EQ(s.get("/v1/customers/ama/credit", ama).status, 200);
    EXPECT_EQ(other.request("GET", "/v1/customers/ama/credit", "", auth).status, 200);
    EXPECT_EQ(other.request("GET", "/v1/customers/ama/credit", "", auth).status, 429);
    EXPECT_EQ(s.get("/v1/customers/ama/credit", ama).status, 429);

    // The store breaks: requests pass, counted and logged.
    ASSERT_TRUE(s.pool.transact([](sql::Tx& tx) { tx.exec("ALTER TABLE rate_buckets RENAME TO rate_buckets_away"); }));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(s.get("/v1/customers/ama/credit", ama).status, 200) << i;
    const auto metrics = s.client->request("GET", "/metrics").body;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(metrics, m, std::regex("tally_rate_limit_fail_open_total (\\d+)"))) << metrics;
    EXPECT_GE(std::stoi(m[1]), 5);
    EXPECT_NE(s.tallyd.log().find("fail open"), std::string::npos);
    // Back again: limited again (the bucket is where it was).
    ASSERT_TRUE(s.pool.transact([](sql::Tx& tx) { tx.exec("ALTER TABLE rate_buckets_away RENAME TO rate_buckets"); }));
    EXPECT_EQ(s.get("/v1/customers/ama/credit", ama).status, 429);
}

TEST(RateLimit, TheWebhookIsNeverConfiguredUnderTheProvidersRetryRate) {
    auto run = testing::run_tool("tallyd", {}, {{"TALLY_RATE_LIMITS_ADDRESS", "webhook=10/20"}});
    EXPECT_EQ(run.status, 2) << run.out;
    EXPECT_NE(run.out.find("never throttled under 50/s"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace tally
