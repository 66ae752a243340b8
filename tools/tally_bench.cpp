// tally-bench: load over HTTP keep-alive against a running tallyd.
//
//   tally-bench grants --port 8080 --token TOKEN [--requests 50000] [--connections 64]
//                      [--customers 10000] [--run NAME]
//   tally-bench checkout --port P --tokens-file F [--requests N] [--connections C] [--run NAME] [--referral-cookie C]
//   tally-bench payments --port P --orders-file F --secret WHSEC [--connections C] [--run NAME]
//   tally-bench subscribe --port P --tokens-file F [--requests N] [--connections C] [--run NAME]
//   tally-bench flow --port P --tokens-file F --secret WHSEC --pg URL [--flows N] [--connections C]
//   tally-bench lag --port P --token ADMIN [--samples N] [--connections C] [--load-connections L]
//   tally-bench seed --port P --token ADMIN --tokens-file F --secret WHSEC --pg URL [--events N]
//   tally-bench preload --pg URL [--customers K] [--events N] [--batch B]
//
// flow, lag: see tools/bench_flow.h. seed: see tools/bench_seed.h (a realistic journal of N events through the real write path).
// preload: see tools/bench_preload.h (years of data in minutes, before tallyd starts).
//
// subscribe: N monthly subscriptions by the customers of F (tools/bench/renewals then
// moves the renewal scheduler's clock and times the due batch).
//
// payments: one signed payment_intent.succeeded webhook per line "order_id amount_minor"
// of F (the webhook-to-paid path: verify, deduplicate, decide on the order and, with
// loyalty on, the customer's loyalty, commit, answer 200).
//
// Sends credit grants (unique Idempotency-Keys) over C keep-alive connections
// driven by 2 threads (like pgbench -j 2) and prints commands/s and p50/p99/p999
// latency. Every answer other than 201 is counted and printed: a benchmark that
// hides errors measures nothing.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "infra/crash.h"
#include "tools/bench_flow.h"
#include "tools/bench_preload.h"
#include "tools/bench_requests.h"
#include "tools/bench_seed.h"

namespace {

struct Options {
    int port = 8080;
    std::string token;
    int64_t requests = 50000;
    int connections = 64;
    int threads = 2;  // like pgbench -j 2
    int64_t customers = 10000;
    std::string run = "bench";
    std::string tokens_file;
    std::string orders_file;
    std::string secret;
    std::string referral_cookie;  // checkout: sent with every cart
};

// Options "--name value" after the mode, each given to its setter; false (and a message)
// on one it does not know or a number it cannot read.
using Setters = std::map<std::string, std::function<void(const std::string&)>>;

// The setter of an option's field: text as it is, numbers read whole.
template <typename T>
std::function<void(const std::string&)> into(T& field) {
    return [&field](const std::string& v) {
        if constexpr (std::is_same_v<T, std::string>) field = v;
        else if constexpr (std::is_same_v<T, int>) field = std::stoi(v);
        else field = std::stoll(v);
    };
}
bool parse_options(int argc, char** argv, const Setters& setters) {
    for (int i = 2; i + 1 < argc; i += 2) {
        auto it = setters.find(argv[i]);
        if (it == setters.end()) {
            std::fprintf(stderr, "unknown option %s\n", argv[i]);
            return false;
        }
        try {
            it->second(argv[i + 1]);
        } catch (const std::exception&) {
            std::fprintf(stderr, "%s: not a number: %s\n", argv[i], argv[i + 1]);
            return false;
        }
    }
    return true;
}

}  // namespace

int seed_main(int argc, char** argv) {
    tally::bench::SeedOptions o;
    if (!parse_options(argc, argv, {
        {"--port", into(o.port)},
        {"--token", into(o.admin_token)},
        {"--tokens-file", into(o.tokens_file)},
        {"--secret", into(o.secret)},
        {"--pg", into(o.pg_url)},
        {"--events", into(o.events)},
        {"--connections", into(o.connections)},
        }))
        return 2;
    return tally::bench::seed(o);
}

int flow_main(int argc, char** argv) {
    tally::bench::FlowOptions o;
    if (!parse_options(argc, argv, {
        {"--port", into(o.port)},
        {"--tokens-file", into(o.tokens_file)},
        {"--secret", into(o.secret)},
        {"--pg", into(o.pg_url)},
        {"--flows", into(o.flows)},
        {"--connections", into(o.connections)},
        {"--poll-ms", into(o.poll_ms)},
        {"--run", into(o.run)},
        }))
        return 2;
    return tally::bench::flow(o);
}

int lag_main(int argc, char** argv) {
    tally::bench::LagOptions o;
    if (!parse_options(argc, argv, {
        {"--port", into(o.port)},
        {"--token", into(o.admin_token)},
        {"--samples", into(o.samples)},
        {"--connections", into(o.connections)},
        {"--load-connections", into(o.load_connections)},
        {"--poll-ms", into(o.poll_ms)},
        {"--run", into(o.run)},
        }))
        return 2;
    return tally::bench::lag(o);
}

int preload_main(int argc, char** argv) {
    tally::bench::PreloadOptions o;
    if (!parse_options(argc, argv, {
        {"--pg", into(o.pg_url)},
        {"--customers", into(o.customers)},
        {"--events", into(o.events)},
        {"--batch", into(o.batch)},
        }))
        return 2;
    return tally::bench::preload(o);
}

int main(int argc, char** argv) {
    tally::infra::report_fatal_signals();
    const std::string mode = argc >= 2 ? argv[1] : "";
    if (mode == "seed") return seed_main(argc, argv);
    if (mode == "flow") return flow_main(argc, argv);
    if (mode == "lag") return lag_main(argc, argv);
    if (mode == "preload") return preload_main(argc, argv);
    if (mode != "grants" && mode != "checkout" && mode != "payments" && mode != "subscribe") {
        std::fprintf(stderr,
                     "usage: tally-bench grants   --port P --token T [--requests N] [--connections C] [--customers K] [--run NAME]\n"
                     "       tally-bench checkout --port P --tokens-file F [--requests N] [--connections C] [--run NAME]\n"
                     "                            [--referral-cookie C]\n"
                     "checkout: 5-line carts across vendors v0..v2 (products v{v}-p{0..9}, 10.00 each, 5.00 flat\n"
                     "shipping per vendor; each of a customer's carts differs in its first line's quantity), one customer\n"
                     "token per line of F, used round-robin\n"
                     "       tally-bench subscribe --port P --tokens-file F [--requests N] [--connections C] [--run NAME]\n"
                     "       tally-bench payments --port P --orders-file F --secret WHSEC [--connections C] [--run NAME]\n"
                     "payments: a signed payment_intent.succeeded per line \"order_id amount_minor\" of F\n"
                     "       tally-bench seed --port P --token ADMIN --tokens-file F --secret WHSEC --pg URL [--events N]\n"
                     "seed: through the API until the journal holds N events (1000000): rounds of 20000 credit grants,\n"
                     "4000 checkouts by the shoppers of F, their signed payments, a refund to credit of every tenth order\n"
                     "       tally-bench flow --port P --tokens-file F --secret WHSEC --pg URL [--flows N] [--connections C]\n"
                     "                        [--poll-ms MS] [--run NAME]\n"
                     "flow: quote, checkout with the quoted total, signed payment webhook, poll the order until paid;\n"
                     "then cross-checks stock and paid orders in the database\n"
                     "       tally-bench lag --port P --token ADMIN [--samples N] [--connections C] [--load-connections L]\n"
                     "                       [--poll-ms MS] [--run NAME]\n"
                     "lag: a grant's 201 to its balance read; with L > 0, credit grants on L connections meanwhile\n"
                     "       tally-bench preload --pg URL [--customers K] [--events N] [--batch B]\n"
                     "preload: before tallyd starts, N credit grants (3000000) over K customers (1000000) through the\n"
                     "group-commit pipeline in process, B (2000) a transaction\n");
        return 2;
    }
    Options o;
    if (!parse_options(argc, argv, {
        {"--port", into(o.port)},
        {"--token", into(o.token)},
        {"--requests", into(o.requests)},
        {"--connections", into(o.connections)},
        {"--threads", into(o.threads)},
        {"--customers", into(o.customers)},
        {"--run", into(o.run)},
        {"--tokens-file", into(o.tokens_file)},
        {"--orders-file", into(o.orders_file)},
        {"--secret", into(o.secret)},
        {"--referral-cookie", into(o.referral_cookie)},
        }))
        return 2;
    std::vector<std::string> tokens;
    if (mode == "checkout" || mode == "subscribe") {
        tokens = tally::bench::bearer_tokens(o.tokens_file);
        if (tokens.empty()) {
            std::fprintf(stderr, "--tokens-file %s holds no tokens\n", o.tokens_file.c_str());
            return 2;
        }
    }
    std::vector<std::pair<std::string, int64_t>> orders;
    if (mode == "payments") {
        std::ifstream in(o.orders_file);
        std::string id;
        int64_t amount = 0;
        while (in >> id >> amount) orders.emplace_back(id, amount);
        if (orders.empty() || o.secret.empty()) {
            std::fprintf(stderr, "--orders-file %s holds no orders, or --secret is missing\n", o.orders_file.c_str());
            return 2;
        }
        o.requests = static_cast<int64_t>(orders.size());
    }
    const int64_t signed_at = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string auth = "Bearer " + o.token;
    auto result = tally::http::run_load("127.0.0.1", o.port, o.connections, o.threads, o.requests, [&](int64_t i) {
        const std::string key = o.run + "-" + std::to_string(i);
        if (mode == "payments") {
            const auto& [order, amount] = orders[static_cast<size_t>(i)];
            return tally::bench::payment_webhook(o.secret, signed_at, key, order, amount);
        }
        if (mode == "grants") return tally::bench::grant(auth, key, "b" + std::to_string(i % o.customers), 1);
        if (mode == "subscribe")
            return tally::bench::subscribe(tokens[static_cast<size_t>(i) % tokens.size()], key,
                                           1 + (i / static_cast<int64_t>(tokens.size())) % 5, i);
        return tally::bench::checkout(tokens[static_cast<size_t>(i) % tokens.size()], key,
                                      1 + (i / static_cast<int64_t>(tokens.size())) % 1000, i, o.referral_cookie);
    });
    auto& latencies = result.latencies_ms;
    const auto& statuses = result.statuses;
    const double seconds = result.seconds;
    std::sort(latencies.begin(), latencies.end());
    std::printf("tally-bench %s: %lld requests, %d connections on %d threads, %.2f s\n", mode.c_str(),
                static_cast<long long>(o.requests), o.connections, o.threads, seconds);
    std::printf("  %s/s %.0f\n", mode == "grants" ? "commands" : mode == "payments" ? "payments" : mode == "subscribe" ? "subscriptions" : "checkouts",
                static_cast<double>(o.requests) / seconds);
    std::printf("  latency ms p50 %.2f  p99 %.2f  p999 %.2f  max %.2f\n", tally::bench::percentile(latencies, 0.50),
                tally::bench::percentile(latencies, 0.99), tally::bench::percentile(latencies, 0.999), latencies.empty() ? 0 : latencies.back());
    std::printf("  statuses:");
    for (auto [s, n] : statuses) std::printf(" %d=%lld", s, static_cast<long long>(n));
    std::printf("\n");
    const int ok = mode == "payments" ? 200 : 201;
    return statuses.size() == 1 && statuses.begin()->first == ok ? 0 : 1;
}
