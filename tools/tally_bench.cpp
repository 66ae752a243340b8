// tally-bench: load over HTTP keep-alive against a running tallyd.
//
//   tally-bench grants --port 8080 --token TOKEN [--requests 50000] [--connections 64]
//                      [--customers 10000] [--run NAME]
//
// Sends credit grants (unique Idempotency-Keys) over C keep-alive connections
// driven by 2 threads (like pgbench -j 2) and prints commands/s and p50/p99/p999
// latency. Every answer other than 201 is counted and printed: a benchmark that
// hides errors measures nothing.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "http/load.h"

namespace {

struct Options {
    int port = 8080;
    std::string token;
    int64_t requests = 50000;
    int connections = 64;
    int threads = 2;  // like pgbench -j 2
    int64_t customers = 10000;
    std::string run = "bench";
};

double percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
    return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::string(argv[1]) != "grants") {
        std::fprintf(stderr, "usage: tally-bench grants --port P --token T [--requests N] [--connections C] [--customers K] [--run NAME]\n");
        return 2;
    }
    Options o;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--port") o.port = std::stoi(v);
        else if (k == "--token") o.token = v;
        else if (k == "--requests") o.requests = std::stoll(v);
        else if (k == "--connections") o.connections = std::stoi(v);
        else if (k == "--threads") o.threads = std::stoi(v);
        else if (k == "--customers") o.customers = std::stoll(v);
        else if (k == "--run") o.run = v;
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    const std::string body = "{\"amount_minor\":1,\"currency\":\"USD\",\"reason\":\"bench\"}";
    const std::string auth = "Bearer " + o.token;
    auto result = tally::http::run_load("127.0.0.1", o.port, o.connections, o.threads, o.requests, [&](int64_t i) {
        return tally::http::LoadRequest{"POST", "/v1/customers/b" + std::to_string(i % o.customers) + "/credit-grants",
                                        body, {{"Authorization", auth}, {"Idempotency-Key", o.run + "-" + std::to_string(i)}}};
    });
    auto& latencies = result.latencies_ms;
    const auto& statuses = result.statuses;
    const double seconds = result.seconds;
    std::sort(latencies.begin(), latencies.end());
    std::printf("tally-bench grants: %lld requests, %d connections on %d threads, %.2f s\n",
                static_cast<long long>(o.requests), o.connections, o.threads, seconds);
    std::printf("  commands/s %.0f\n", static_cast<double>(o.requests) / seconds);
    std::printf("  latency ms p50 %.2f  p99 %.2f  p999 %.2f  max %.2f\n", percentile(latencies, 0.50),
                percentile(latencies, 0.99), percentile(latencies, 0.999), latencies.empty() ? 0 : latencies.back());
    std::printf("  statuses:");
    for (auto [s, n] : statuses) std::printf(" %d=%lld", s, static_cast<long long>(n));
    std::printf("\n");
    return statuses.size() == 1 && statuses.begin()->first == 201 ? 0 : 1;
}
