// tally-bench flow and lag against a live tallyd: the tools BENCHMARKS.md quotes run clean
// on a small load, and a flow that goes wrong is reported and fails the run. tally-bench
// preload's bulk path leaves a journal that tallyd publishes, projects and reconciles.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "tests/support/support.h"

namespace tally {
namespace {

constexpr const char* kSecret = "whsec_bench_e2e";

testing::ToolRun bench(const std::vector<std::string>& args) { return testing::run_tool("tally-bench", args, {}); }

// The catalog the bench carts buy from: vendors v0..v2, products v{v}-p{0..9}, stock 1000 each.
void set_up_catalog(int port, const std::string& admin) {
    http::Client c("127.0.0.1", port);
    int key = 0;
    auto send = [&](const std::string& method, const std::string& target, const nlohmann::json& body) {
        auto r = c.request(method, target, body.dump(),
                           {{"Authorization", "Bearer " + admin}, {"Idempotency-Key", "setup-" + std::to_string(key++)}});
        ASSERT_TRUE(r.status == 200 || r.status == 201) << target << ": " << r.body;
    };
    for (int v = 0; v < 3; ++v) {
        const std::string vendor = "v" + std::to_string(v);
        send("PUT", "/v1/vendors/" + vendor, {{"currency", "USD"}, {"shipping", {{"flat_minor", 500}}}});
        for (int p = 0; p < 10; ++p) {
            const std::string sku = vendor + "-p" + std::to_string(p);
            send("PUT", "/v1/products/" + sku, {{"vendor_id", vendor}, {"country_of_origin", "DE"}, {"base_minor", 1000}});
            send("POST", "/v1/products/" + sku + "/stock-adjustments", {{"delta", 1000}, {"reason", "bench"}});
        }
    }
}

std::string tokens_file(const std::string& url, const std::string& prefix, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back(prefix + std::to_string(i));
    const std::string path = "/tmp/tally-bench-tokens-" + prefix + std::to_string(::getpid());
    std::ofstream out(path);
    for (const auto& t : testing::tokens_for(url, ids, "customer")) out << t << "\n";
    return path;
}

}  // namespace

TEST(BenchTools, FlowPaysEveryOrderAndTheCrossCheckAddsUp) {
    const std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd(url, broker.bootstraps(), {{"TALLY_STRIPE_WEBHOOK_SECRETS", kSecret}});
    tallyd.start();
    const std::string admin = testing::token_for(url, "admin-1", "admin");
    set_up_catalog(tallyd.port(), admin);
    const std::string port = std::to_string(tallyd.port());

    auto ok = bench({"flow", "--port", port, "--tokens-file", tokens_file(url, "shopper", 4), "--secret", kSecret, "--pg", url,
                     "--flows", "40", "--connections", "4", "--run", "ok"});
    EXPECT_EQ(ok.status, 0) << ok.out;
    EXPECT_NE(ok.out.find("flows/s"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("checkout: 201=40"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("webhook:  200=40"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("40 orders placed, 40 paid"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("; 0 mismatches"), std::string::npos) << ok.out;

    // Webhooks signed with the wrong secret: the orders are placed but never paid, and
    // the run says so and fails (the cross-check still finds stock and orders agreeing).
    auto bad = bench({"flow", "--port", port, "--tokens-file", tokens_file(url, "unlucky", 2), "--secret", "whsec_wrong",
                      "--pg", url, "--flows", "6", "--connections", "2", "--run", "bad"});
    EXPECT_EQ(bad.status, 1) << bad.out;
    EXPECT_NE(bad.out.find("webhook:  400=6"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("failed: 6 x webhook 400"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("6 orders placed, 0 paid"), std::string::npos) << bad.out;
    EXPECT_NE(bad.out.find("; 0 mismatches"), std::string::npos) << bad.out;
}

TEST(BenchTools, LagSeesEveryGrantInTheReadModel) {
    const std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd(url, broker.bootstraps());
    tallyd.start();
    const std::string admin = testing::token_for(url, "admin-1", "admin");
    auto r = bench({"lag", "--port", std::to_string(tallyd.port()), "--token", admin, "--samples", "20", "--connections", "2",
                    "--load-connections", "4"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("commit -> read model ms p50"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(20)"), std::string::npos) << r.out;  // every sample seen
    EXPECT_NE(r.out.find("grant:    201=20"), std::string::npos) << r.out;
}

TEST(BenchTools, APreloadedJournalIsPublishedProjectedAndReconciled) {
    const std::string url = testing::fresh_database();
    auto wrong = bench({"preload", "--pg", url, "--customers", "50", "--events", "20"});
    EXPECT_EQ(wrong.status, 2) << wrong.out;  // fewer grants than customers
    auto r = bench({"preload", "--pg", url, "--customers", "50", "--events", "150", "--batch", "40"});
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("preload: 50 customers with credit (3 x 1000.00 USD each at most), 150 accepted, journal head 150"),
              std::string::npos) << r.out;
    // The same keys again: every grant is a replay, nothing is written, and the run says so.
    auto again = bench({"preload", "--pg", url, "--customers", "50", "--events", "150", "--batch", "40"});
    EXPECT_EQ(again.status, 1) << again.out;
    EXPECT_NE(again.out.find("150 refused: replayed"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("journal head 150"), std::string::npos) << again.out;

    // tallyd publishes the journal it finds and projects it; the caches agree with the log.
    testing::Broker broker;
    testing::Tallyd tallyd(url, broker.bootstraps());
    tallyd.start();
    std::string out;
    EXPECT_TRUE(testing::eventually([&] { return testing::reconciled_and_settled(url, out); })) << out;
    EXPECT_NE(out.find("  credit_balances: 50 checked, clean"), std::string::npos) << out;
    EXPECT_NE(out.find("  credit_entries: 50 checked, clean"), std::string::npos) << out;
    http::Client c("127.0.0.1", tallyd.port());
    auto balance = c.request("GET", "/v1/customers/pre-7/credit", "",
                             {{"Authorization", "Bearer " + testing::token_for(url, "admin-1", "admin")}});
    ASSERT_EQ(balance.status, 200) << balance.body;
    EXPECT_EQ(nlohmann::json::parse(balance.body)["balance_minor"], 300000) << balance.body;
}

}  // namespace tally
