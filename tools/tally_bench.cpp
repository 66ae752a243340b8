// tally-bench: load over HTTP keep-alive against a running tallyd.
//
//   tally-bench grants --port 8080 --token TOKEN [--requests 50000] [--connections 64]
//                      [--customers 10000] [--run NAME]
//
// Sends credit grants (unique Idempotency-Keys) from C connections, one thread
// each, and prints commands/s and p50/p99/p999 latency. Every answer other than
// 201 is counted and printed: a benchmark that hides errors measures nothing.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"

namespace {

struct Options {
    int port = 8080;
    std::string token;
    int64_t requests = 50000;
    int connections = 64;
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
        else if (k == "--customers") o.customers = std::stoll(v);
        else if (k == "--run") o.run = v;
        else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    std::atomic<int64_t> next{0};
    std::mutex mu;
    std::vector<double> latencies;
    latencies.reserve(static_cast<size_t>(o.requests));
    std::map<int, int64_t> statuses;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < o.connections; ++t)
        threads.emplace_back([&] {
            tally::http::Client client("127.0.0.1", o.port);
            std::vector<double> mine;
            std::map<int, int64_t> mine_status;
            const std::map<std::string, std::string> base{{"Authorization", "Bearer " + o.token}};
            while (true) {
                const int64_t i = next.fetch_add(1);
                if (i >= o.requests) break;
                auto headers = base;
                headers["Idempotency-Key"] = o.run + "-" + std::to_string(i);
                const std::string body = "{\"amount_minor\":1,\"currency\":\"USD\",\"reason\":\"bench\"}";
                const auto t0 = std::chrono::steady_clock::now();
                auto r = client.request("POST", "/v1/customers/b" + std::to_string(i % o.customers) + "/credit-grants",
                                        body, headers);
                mine.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
                ++mine_status[r.status];
            }
            std::lock_guard lock(mu);
            latencies.insert(latencies.end(), mine.begin(), mine.end());
            for (auto [s, n] : mine_status) statuses[s] += n;
        });
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::sort(latencies.begin(), latencies.end());
    std::printf("tally-bench grants: %lld requests, %d connections, %.2f s\n", static_cast<long long>(o.requests),
                o.connections, seconds);
    std::printf("  commands/s %.0f\n", static_cast<double>(o.requests) / seconds);
    std::printf("  latency ms p50 %.2f  p99 %.2f  p999 %.2f  max %.2f\n", percentile(latencies, 0.50),
                percentile(latencies, 0.99), percentile(latencies, 0.999), latencies.empty() ? 0 : latencies.back());
    std::printf("  statuses:");
    for (auto [s, n] : statuses) std::printf(" %d=%lld", s, static_cast<long long>(n));
    std::printf("\n");
    return statuses.size() == 1 && statuses.begin()->first == 201 ? 0 : 1;
}
