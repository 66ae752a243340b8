#include "tools/bench_seed.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "http/client.h"
#include "infra/sql.h"
#include "tools/bench_requests.h"

namespace tally::bench {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Every answer `ok`, else says which and how many.
bool all(const http::LoadResult& r, int ok, const char* what) {
    bool good = true;
    for (auto [status, n] : r.statuses)
        if (status != ok) {
            std::fprintf(stderr, "seed: %lld %s answered %d\n", static_cast<long long>(n), what, status);
            good = false;
        }
    return good;
}

int64_t number(sql::Pool& pool, const std::string& query) {
    int64_t n = -1;
    auto r = pool.transact([&](sql::Tx& tx) { n = tx.exec(query).at(0).i64(0); });
    if (!r) std::fprintf(stderr, "seed: %s: %s\n", query.c_str(), r.error().message.c_str());
    return n;
}

// The catalog the checkouts buy from: vendors v0..v2, products v{v}-p{0..9} at 10.00, stock
// that never runs out. Keyed, so a second seed changes nothing.
bool set_up_catalog(const SeedOptions& o) {
    http::Client c("127.0.0.1", o.port);
    const std::map<std::string, std::string> h = {{"Authorization", "Bearer " + o.admin_token},
                                                  {"Content-Type", "application/json"}};
    auto send = [&](const std::string& method, const std::string& target, const std::string& body, const std::string& key) {
        auto headers = h;
        headers["Idempotency-Key"] = key;
        auto r = c.request(method, target, body, headers);
        if (r.status != 200 && r.status != 201) {
            std::fprintf(stderr, "seed: %s %s answered %d: %s\n", method.c_str(), target.c_str(), r.status, r.body.c_str());
            return false;
        }
        return true;
    };
    for (int v = 0; v < 3; ++v) {
        const std::string vendor = "v" + std::to_string(v);
        if (!send("PUT", "/v1/vendors/" + vendor, "{\"currency\":\"USD\",\"shipping\":{\"flat_minor\":500}}",
                  "seed-vendor-" + vendor))
            return false;
        for (int p = 0; p < 10; ++p) {
            const std::string product = vendor + "-p" + std::to_string(p);
            if (!send("PUT", "/v1/products/" + product,
                      "{\"vendor_id\":\"" + vendor + "\",\"country_of_origin\":\"DE\",\"base_minor\":1000}",
                      "seed-product-" + product) ||
                !send("POST", "/v1/products/" + product + "/stock-adjustments", "{\"delta\":100000000,\"reason\":\"seed\"}",
                      "seed-stock-" + product))
                return false;
        }
    }
    return true;
}

}  // namespace

int seed(const SeedOptions& o) {
    const std::vector<std::string> shoppers = bearer_tokens(o.tokens_file);
    if (shoppers.empty() || o.secret.empty() || o.pg_url.empty() || o.admin_token.empty()) {
        std::fprintf(stderr, "seed: needs --token, --tokens-file (shoppers), --secret and --pg\n");
        return 2;
    }
    sql::Pool pool(o.pg_url, 1);
    if (!set_up_catalog(o)) return 1;
    const std::string admin = "Bearer " + o.admin_token;
    const auto started = Clock::now();
    const int64_t first_head = number(pool, "SELECT position FROM journal_head");
    int64_t head = first_head, checkouts = 0, payments = 0, refunds = 0, grants = 0;
    const int64_t orders_before = number(pool, "SELECT count(*) FROM orders");
    const int64_t signed_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string run = "seed" + std::to_string(signed_at);
    for (int64_t round = 0; head >= 0 && head < o.events; ++round) {
        const std::string r = run + "-" + std::to_string(round);
        // Credit grants to 50000 customers.
        auto g = http::run_load("127.0.0.1", o.port, o.connections, 2, o.grants_per_round, [&](int64_t i) {
            return grant(admin, r + "-g-" + std::to_string(i), "s" + std::to_string((grants + i) % 50000), 500);
        });
        if (!all(g, 201, "grants")) return 1;
        grants += o.grants_per_round;
        // Checkouts by the shoppers, each cart different from the shopper's earlier ones.
        auto c = http::run_load("127.0.0.1", o.port, o.connections, 2, o.checkouts_per_round, [&](int64_t i) {
            const int64_t n = checkouts + i;
            return checkout(shoppers[static_cast<size_t>(n) % shoppers.size()], r + "-c-" + std::to_string(i),
                            1 + (n / static_cast<int64_t>(shoppers.size())) % 1000, n);
        });
        if (!all(c, 201, "checkouts")) return 1;
        checkouts += o.checkouts_per_round;
        // Their payments, once the orders read model shows them.
        for (int i = 0; i < 6000 && number(pool, "SELECT count(*) FROM orders") < orders_before + checkouts; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::vector<std::pair<std::string, int64_t>> due;
        auto read = pool.transact([&](sql::Tx& tx) {
            for (const auto& row :
                 tx.exec("SELECT order_id, amount_due_minor FROM orders WHERE status = 'awaiting_payment' ORDER BY order_id"))
                due.emplace_back(row.str(0), row.i64(1));
        });
        if (!read) return 1;
        // Signed now: a webhook's timestamp is checked against a few minutes' tolerance.
        const int64_t now_s =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        auto p = http::run_load("127.0.0.1", o.port, o.connections, 2, static_cast<int64_t>(due.size()), [&](int64_t i) {
            const auto& [order, amount] = due[static_cast<size_t>(i)];
            return payment_webhook(o.secret, now_s, r + "-p-" + order, order, amount);
        });
        if (!all(p, 200, "payment webhooks")) return 1;
        payments += static_cast<int64_t>(due.size());
        // A partial refund to store credit of every tenth paid order.
        std::vector<std::string> refunded;
        for (size_t i = 0; i < due.size(); i += 10) refunded.push_back(due[i].first);
        auto f = http::run_load("127.0.0.1", o.port, o.connections, 2, static_cast<int64_t>(refunded.size()), [&](int64_t i) {
            const auto& order = refunded[static_cast<size_t>(i)];
            return http::LoadRequest{"POST", "/v1/orders/" + order + "/refunds",
                                     "{\"amount_minor\":1000,\"destination\":\"credit\",\"reason\":\"seed\"}",
                                     {{"Authorization", admin}, {"Idempotency-Key", "seed-refund-" + order}}};
        });
        if (!all(f, 200, "refunds")) return 1;
        refunds += static_cast<int64_t>(refunded.size());
        head = number(pool, "SELECT position FROM journal_head");
        const double s = since(started);
        std::fprintf(stderr, "seed: round %lld: journal at %lld events (%.0f events/s written), %lld grants, %lld checkouts, "
                             "%lld payments, %lld refunds\n",
                     static_cast<long long>(round + 1), static_cast<long long>(head),
                     static_cast<double>(head - first_head) / s, static_cast<long long>(grants),
                     static_cast<long long>(checkouts), static_cast<long long>(payments), static_cast<long long>(refunds));
    }
    if (head < 0) return 1;
    std::printf("seeded %lld events in %.1f s: %lld grants, %lld checkouts, %lld payments, %lld refunds; the journal at %lld\n",
                static_cast<long long>(head - first_head), since(started), static_cast<long long>(grants),
                static_cast<long long>(checkouts), static_cast<long long>(payments), static_cast<long long>(refunds),
                static_cast<long long>(head));
    return 0;
}

}  // namespace tally::bench
