// What operators run tally with (README, Operating tally): the Prometheus alerts and the
// Grafana dashboard in deploy/ name only metrics a real tallyd exports, and /metrics is
// guarded by a scrape token or served on an address of its own.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The families a /metrics page names (its HELP and TYPE lines).
std::set<std::string> families(const std::string& page) {
    std::set<std::string> out;
    static const std::regex type_line("# TYPE (tally_[a-z_]+) ");
    for (auto it = std::sregex_iterator(page.begin(), page.end(), type_line); it != std::sregex_iterator(); ++it)
        out.insert((*it)[1]);
    return out;
}

// Every tally_ metric a text names, a histogram's series (_bucket, _sum, _count) by family.
std::set<std::string> named_in(const std::string& text, const std::set<std::string>& exported) {
    std::set<std::string> out;
    static const std::regex name("tally_[a-z_]+");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
        std::string n = (*it)[0];
        for (const std::string suffix : {"_bucket", "_sum", "_count"})
            if (!exported.contains(n) && n.ends_with(suffix) && exported.contains(n.substr(0, n.size() - suffix.size())))
                n.resize(n.size() - suffix.size());
        out.insert(n);
    }
    return out;
}

TEST(Operating, TheAlertsAndTheDashboardNameOnlyMetricsTallydExports) {
    testing::ProviderShop shop;
    ASSERT_EQ(shop.client->request("GET", "/healthz").status, 200);
    const auto page = shop.client->request("GET", "/metrics");
    ASSERT_EQ(page.status, 200);
    const auto exported = families(page.body);
    ASSERT_GT(exported.size(), 20u) << page.body;

    const std::string alerts = read_file(std::string(TALLY_SOURCE_DIR) + "/deploy/prometheus/alerts.yml");
    const std::string dashboard = read_file(std::string(TALLY_SOURCE_DIR) + "/deploy/grafana/tally.json");
    ASSERT_FALSE(alerts.empty());
    ASSERT_FALSE(dashboard.empty());
    for (const auto& [file, text] : {std::pair{"alerts.yml", alerts}, std::pair{"tally.json", dashboard}}) {
        const auto named = named_in(text, exported);
        EXPECT_GT(named.size(), 5u) << file;
        for (const auto& n : named) EXPECT_TRUE(exported.contains(n)) << file << " names " << n << ", which tallyd does not export";
    }

    // The dashboard: valid JSON, a query in every panel, and the families the issue asks
    // to see (throughput, latency histograms, batch sizes, lag, dead letters, drift).
    const json d = json::parse(dashboard);
    std::string queries;
    size_t panels = 0;
    for (const auto& p : d.at("panels")) {
        if (p.at("type") == "row") continue;
        ++panels;
        ASSERT_FALSE(p.at("targets").empty()) << p.at("title");
        for (const auto& t : p.at("targets")) queries += t.at("expr").get<std::string>() + "\n";
    }
    EXPECT_GE(panels, 10u);
    for (const std::string want : {"tally_http_requests_total", "tally_http_request_seconds_bucket", "tally_batch_commands_bucket",
                                   "tally_projector_lag_seconds", "tally_relay_lag_events", "tally_provider_calls_dead",
                                   "tally_reconcile_drift"})
        EXPECT_NE(queries.find(want), std::string::npos) << "the dashboard has no panel over " << want;
}

TEST(Operating, AScrapeTokenGuardsMetrics) {
    testing::Shop shop(std::map<std::string, std::string>{{"TALLY_METRICS_TOKEN", "scrape-6b1f"}});
    const auto none = shop.client->request("GET", "/metrics");
    EXPECT_EQ(none.status, 401) << none.body;
    EXPECT_NE(none.body.find("TALLY_METRICS_TOKEN"), std::string::npos) << none.body;
    EXPECT_EQ(none.body.find("tally_http_requests_total"), std::string::npos);
    EXPECT_EQ(shop.client->request("GET", "/metrics", "", {{"Authorization", "Bearer scrape-6b1e"}}).status, 401);
    EXPECT_EQ(shop.client->request("GET", "/metrics", "", {{"Authorization", "Bearer scrape-6b1f0"}}).status, 401);
    // An admin's API token is not the scrape token.
    EXPECT_EQ(shop.client->request("GET", "/metrics", "", {{"Authorization", "Bearer " + shop.admin}}).status, 401);
    const auto scraped = shop.client->request("GET", "/metrics", "", {{"Authorization", "Bearer scrape-6b1f"}});
    EXPECT_EQ(scraped.status, 200);
    EXPECT_NE(scraped.body.find("tally_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"}"),
              std::string::npos)
        << scraped.body;
    // The rest of the API is as it was.
    EXPECT_EQ(shop.client->request("GET", "/healthz").status, 200);
    EXPECT_EQ(shop.get("/v1/projections", shop.admin).status, 200);
}

TEST(Operating, MetricsServedOnTheirOwnAddressAreNotOnTheApisListener) {
    const int port = testing::free_port();
    testing::Shop shop(std::map<std::string, std::string>{{"TALLY_METRICS_ADDRESS", "127.0.0.1:" + std::to_string(port)},
                                                          {"TALLY_METRICS_TOKEN", "scrape-77"}});
    const auto on_api = shop.client->request("GET", "/metrics");
    EXPECT_EQ(on_api.status, 404) << on_api.body;
    EXPECT_NE(on_api.body.find("TALLY_METRICS_ADDRESS"), std::string::npos) << on_api.body;

    http::Client scraper("127.0.0.1", port);
    EXPECT_EQ(scraper.request("GET", "/metrics").status, 401);
    const auto scraped = scraper.request("GET", "/metrics", "", {{"Authorization", "Bearer scrape-77"}});
    EXPECT_EQ(scraped.status, 200);
    EXPECT_NE(scraped.body.find("# TYPE tally_pipeline_queued_commands gauge"), std::string::npos) << scraped.body;
    EXPECT_EQ(scraper.request("GET", "/healthz").status, 200);
    // Only metrics there: the API is not reachable through the metrics address.
    EXPECT_EQ(scraper.request("GET", "/v1/projections", "", {{"Authorization", "Bearer " + shop.admin}}).status, 404);
    EXPECT_EQ(scraper.request("POST", "/v1/checkout", "{}").status, 404);
    EXPECT_EQ(shop.get("/v1/projections", shop.admin).status, 200);
}

TEST(Operating, AMalformedMetricsAddressStopsTallydAtStart) {
    for (const std::string bad : {"9100", "localhost", ":9100", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:91x"}) {
        auto run = testing::run_tool("tallyd", {}, {{"TALLY_METRICS_ADDRESS", bad}});
        EXPECT_NE(run.status, 0) << bad;
        EXPECT_NE(run.out.find("TALLY_METRICS_ADDRESS must be host:port"), std::string::npos) << bad << ": " << run.out;
    }
}

}  // namespace
}  // namespace tally
