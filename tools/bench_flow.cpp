#include "tools/bench_flow.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/stock.h"
#include "infra/journal.h"
#include "infra/sql.h"
#include "tools/bench_requests.h"

namespace tally::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A poll that has not seen its answer after this long gives up (and is reported).
constexpr auto kPollGiveUp = std::chrono::seconds(30);

std::optional<json> parse(const http::LoadAnswer& a) {
    auto doc = json::parse(a.body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
    return doc;
}

int64_t now_unix_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void print_latency(const char* what, std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    std::printf("  %s ms p50 %.2f  p99 %.2f  max %.2f  (%zu)\n", what, percentile(ms, 0.50), percentile(ms, 0.99),
                ms.empty() ? 0 : ms.back(), ms.size());
}

void print_statuses(const http::FlowResult& r) {
    for (const auto& [step, counts] : r.statuses) {
        std::printf("  %-9s", (step + ":").c_str());
        for (auto [s, n] : counts) std::printf(" %d=%lld", s, static_cast<long long>(n));
        std::printf("\n");
    }
}

// What one flow saw, for the cross-check; written by the flow's connection only.
struct FlowOutcome {
    int64_t quoted_total_minor = -1;
    std::string order_id;
    int64_t amount_due_minor = -1;
    bool placed = false;  // the checkout answered 201
    bool paid = false;    // a poll read `paid`
    std::string failed;   // the step that went wrong, and how
};

class CheckoutFlow : public http::Flow {
public:
    CheckoutFlow(const FlowOptions& o, const std::string& auth, int64_t first_quantity, int64_t i, FlowOutcome& out)
        : o_(o), auth_(auth), first_quantity_(first_quantity), i_(i), out_(out) {}

    std::optional<http::FlowStep> next(const http::LoadAnswer* last) override {
        if (!last) return http::FlowStep{quote(auth_, first_quantity_, i_), "quote", {}};
        if (last->status == 0) return fail("connection");
        switch (stage_++) {
            case 0: {  // the quote
                auto doc = parse(*last);
                if (last->status != 200 || !doc || !doc->contains("total_minor")) return fail("quote " + std::to_string(last->status));
                out_.quoted_total_minor = (*doc)["total_minor"].get<int64_t>();
                return http::FlowStep{checkout(auth_, o_.run + "-" + std::to_string(i_), first_quantity_, i_, "",
                                               out_.quoted_total_minor),
                                      "checkout", {}};
            }
            case 1: {  // the order placed
                auto doc = parse(*last);
                if (last->status != 201 || !doc) return fail("checkout " + std::to_string(last->status) + " " + last->body);
                out_.placed = true;
                out_.order_id = (*doc)["order_id"].get<std::string>();
                out_.amount_due_minor = (*doc)["breakdown"]["amount_due_minor"].get<int64_t>();
                // Signed when sent: the webhook's timestamp is checked against a few minutes' tolerance.
                return http::FlowStep{payment_webhook(o_.secret, now_unix_s(), o_.run + "-" + out_.order_id, out_.order_id,
                                                      out_.amount_due_minor),
                                      "webhook", {}};
            }
            case 2:  // the payment taken
                if (last->status != 200) return fail("webhook " + std::to_string(last->status) + " " + last->body);
                polls_started_ = Clock::now();
                return poll();
            default: {  // a poll: the read model follows the journal
                auto doc = parse(*last);
                if (last->status == 200 && doc && (*doc)["status"] == "paid") {
                    out_.paid = true;
                    return std::nullopt;
                }
                if (last->status != 200 && last->status != 404) return fail("poll " + std::to_string(last->status));
                if (Clock::now() - polls_started_ > kPollGiveUp) return fail("poll: not paid after 30 s");
                return poll();
            }
        }
    }

private:
    std::optional<http::FlowStep> poll() {
        return http::FlowStep{{"GET", "/v1/orders/" + out_.order_id, "", {{"Authorization", auth_}}},
                              "poll",
                              std::chrono::milliseconds(o_.poll_ms)};
    }
    std::optional<http::FlowStep> fail(std::string what) {
        out_.failed = std::move(what);
        return std::nullopt;
    }

    const FlowOptions& o_;
    const std::string& auth_;
    int64_t first_quantity_, i_;
    FlowOutcome& out_;
    int stage_ = 0;
    Clock::time_point polls_started_;
};

// The products the carts buy from (vendors v0..v2, products p0..p9).
std::vector<std::string> stock_streams() {
    std::vector<std::string> ids;
    for (int v = 0; v < 3; ++v)
        for (int p = 0; p < 10; ++p) ids.push_back(stock::stream_id("v" + std::to_string(v) + "-p" + std::to_string(p)));
    return ids;
}

std::expected<std::map<std::string, int64_t>, std::string> available_by_stream(sql::Pool& pool) {
    std::map<std::string, int64_t> out;
    auto r = pool.transact([&](sql::Tx& tx) {
        for (const auto& [id, bytes] : journal::read_states(tx, stock_streams())) {
            v1::StockState s;
            if (s.ParseFromString(bytes)) out[id] = s.available();
        }
    });
    if (!r) return std::unexpected(r.error().message);
    return out;
}

// Every mismatch printed (the first few) and counted.
class Mismatches {
public:
    template <typename... A>
    void add(const char* format, A... args) {
        if (++count_ <= 10) {
            std::printf("  MISMATCH: ");
            std::printf(format, args...);
            std::printf("\n");
        }
    }
    int64_t count() const { return count_; }

private:
    int64_t count_ = 0;
};

// After the run: stock fell by exactly the placed orders' units, and the orders read
// model holds every placed order, paid exactly when the flow saw it paid, for the
// amount the checkout answered (which is the quoted total: no credit, no discounts).
int64_t cross_check(sql::Pool& pool, const std::map<std::string, int64_t>& before, const std::vector<FlowOutcome>& outcomes,
                    const std::vector<std::vector<std::pair<std::string, int64_t>>>& carts) {
    Mismatches m;
    std::map<std::string, int64_t> sold;
    std::map<std::string, const FlowOutcome*> placed;
    for (size_t i = 0; i < outcomes.size(); ++i) {
        if (!outcomes[i].placed) continue;
        placed[outcomes[i].order_id] = &outcomes[i];
        for (const auto& [sku, quantity] : carts[i]) sold[stock::stream_id(sku)] += quantity;
        if (outcomes[i].amount_due_minor != outcomes[i].quoted_total_minor)
            m.add("order %s: quoted %lld, due %lld", outcomes[i].order_id.c_str(),
                  static_cast<long long>(outcomes[i].quoted_total_minor), static_cast<long long>(outcomes[i].amount_due_minor));
    }
    auto after = available_by_stream(pool);
    if (!after) {
        m.add("reading stock: %s", after.error().c_str());
        return m.count();
    }
    int64_t units = 0;
    for (const auto& id : stock_streams()) {
        const int64_t fell = before.at(id) - after->at(id);
        units += fell;
        if (fell != sold[id])
            m.add("%s: stock fell by %lld, the placed orders hold %lld", id.c_str(), static_cast<long long>(fell),
                  static_cast<long long>(sold[id]));
    }
    std::string ids = "{";
    for (const auto& [id, _] : placed) ids += (ids.size() > 1 ? "," : "") + id;
    ids += "}";
    // The orders read model follows the journal: a flow that stopped before its polls
    // (a refused webhook) may have placed an order the projection has not shown yet.
    int64_t rows = 0;
    for (const auto until = Clock::now() + kPollGiveUp; Clock::now() < until;) {
        auto counted = pool.transact([&](sql::Tx& tx) {
            rows = tx.exec("SELECT count(*) FROM orders WHERE order_id = ANY($1::text[])", {ids}).at(0).i64(0);
        });
        if (!counted || rows >= static_cast<int64_t>(placed.size())) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    rows = 0;
    int64_t paid = 0, paid_minor = 0;
    auto r = pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT order_id, status, amount_due_minor FROM orders WHERE order_id = ANY($1::text[])",
                                       {ids})) {
            ++rows;
            const auto& seen = *placed.at(row.str(0));
            const bool is_paid = row.str(1) == "paid";
            paid += is_paid;
            paid_minor += is_paid ? row.i64(2) : 0;
            if (is_paid != seen.paid) m.add("order %s reads %s", row.str(0).c_str(), row.str(1).c_str());
            if (row.i64(2) != seen.amount_due_minor)
                m.add("order %s: read model says %lld due, the checkout %lld", row.str(0).c_str(),
                      static_cast<long long>(row.i64(2)), static_cast<long long>(seen.amount_due_minor));
        }
    });
    if (!r) m.add("reading orders: %s", r.error().message.c_str());
    if (rows != static_cast<int64_t>(placed.size()))
        m.add("%lld orders placed, %lld in the read model", static_cast<long long>(placed.size()), static_cast<long long>(rows));
    int64_t seen_paid_minor = 0;
    for (const auto& [_, o] : placed) seen_paid_minor += o->paid ? o->amount_due_minor : 0;
    if (paid_minor != seen_paid_minor)
        m.add("paid orders add up to %lld, the flows paid %lld", static_cast<long long>(paid_minor),
              static_cast<long long>(seen_paid_minor));
    std::printf("  cross-check: %zu orders placed, %lld paid for %lld.%02lld USD, %lld units out of stock; %lld mismatches\n",
                placed.size(), static_cast<long long>(paid), static_cast<long long>(paid_minor / 100),
                static_cast<long long>(paid_minor % 100), static_cast<long long>(units), static_cast<long long>(m.count()));
    return m.count();
}

}  // namespace

int flow(const FlowOptions& o) {
    const std::vector<std::string> tokens = bearer_tokens(o.tokens_file);
    if (tokens.empty() || o.secret.empty() || o.pg_url.empty()) {
        std::fprintf(stderr, "flow: needs --tokens-file (customers), --secret and --pg\n");
        return 2;
    }
    sql::Pool pool(o.pg_url, 1);
    auto before = available_by_stream(pool);
    if (!before || before->size() != stock_streams().size()) {
        std::fprintf(stderr, "flow: the catalog (v0..v2, p0..p9) with stock must be set up first\n");
        return 2;
    }
    const auto n = static_cast<size_t>(o.flows);
    std::vector<FlowOutcome> outcomes(n);
    std::vector<std::vector<std::pair<std::string, int64_t>>> carts(n);
    auto r = http::run_flows("127.0.0.1", o.port, o.connections, o.threads, o.flows, [&](int64_t i) {
        const auto& auth = tokens[static_cast<size_t>(i) % tokens.size()];
        const int64_t first_quantity = 1 + (i / static_cast<int64_t>(tokens.size())) % 1000;
        carts[static_cast<size_t>(i)] = cart_lines(first_quantity, i);
        return std::make_unique<CheckoutFlow>(o, auth, first_quantity, i, outcomes[static_cast<size_t>(i)]);
    });
    int64_t paid = 0;
    std::map<std::string, int64_t> failures;
    for (const auto& out : outcomes) {
        paid += out.paid;
        if (!out.failed.empty()) ++failures[out.failed.substr(0, 80)];
    }
    std::printf("tally-bench flow: %lld flows, %d connections on %d threads, %.2f s\n", static_cast<long long>(o.flows),
                o.connections, o.threads, r.seconds);
    std::printf("  flows/s %.0f (paid: %lld)\n", static_cast<double>(paid) / r.seconds, static_cast<long long>(paid));
    print_latency("flow", r.flow_ms);
    for (const auto& [step, ms] : r.latencies_ms) print_latency(step.c_str(), ms);
    print_statuses(r);
    int64_t polls = 0;
    for (auto [_, count] : r.statuses["poll"]) polls += count;
    std::printf("  polls per flow: %.2f (every %d ms)\n", paid ? static_cast<double>(polls) / static_cast<double>(paid) : 0.0,
                o.poll_ms);
    for (const auto& [what, count] : failures) std::printf("  failed: %lld x %s\n", static_cast<long long>(count), what.c_str());
    const int64_t mismatches = cross_check(pool, *before, outcomes, carts);
    return failures.empty() && mismatches == 0 && paid == o.flows ? 0 : 1;
}

namespace {

// One lag sample: a grant of 1 to a customer of its own, then reads of the balance
// until it shows the grant.
class LagSample : public http::Flow {
public:
    LagSample(const LagOptions& o, const std::string& auth, int64_t i, double& lag_ms)
        : o_(o), auth_(auth), customer_(o.run + "-" + std::to_string(i)), lag_ms_(lag_ms) {}

    std::optional<http::FlowStep> next(const http::LoadAnswer* last) override {
        if (!last) return http::FlowStep{grant(auth_, customer_, customer_, 1), "grant", {}};
        const auto now = Clock::now();
        if (!granted_) {
            if (last->status != 201) return std::nullopt;  // counted under its status; no sample
            granted_ = true;
            committed_ = now;
            return read();
        }
        auto doc = parse(*last);
        if (last->status == 200 && doc && (*doc)["balance_minor"] == 1) {
            lag_ms_ = std::chrono::duration<double, std::milli>(now - committed_).count();
            return std::nullopt;
        }
        if (last->status != 200 || now - committed_ > kPollGiveUp) return std::nullopt;
        return read();
    }

private:
    std::optional<http::FlowStep> read() {
        return http::FlowStep{{"GET", "/v1/customers/" + customer_ + "/credit?limit=0", "", {{"Authorization", auth_}}},
                              "read",
                              std::chrono::milliseconds(o_.poll_ms)};
    }

    const LagOptions& o_;
    const std::string& auth_;
    std::string customer_;
    double& lag_ms_;
    bool granted_ = false;
    Clock::time_point committed_;
};

}  // namespace

int lag(const LagOptions& o) {
    if (o.admin_token.empty()) {
        std::fprintf(stderr, "lag: needs --token (admin)\n");
        return 2;
    }
    const std::string auth = "Bearer " + o.admin_token;
    // The load beside it: grants until the samples are done.
    std::atomic<bool> stop{false};
    http::FlowResult load;
    std::thread loader;
    if (o.load_connections > 0)
        loader = std::thread([&] {
            load = http::run_flows("127.0.0.1", o.port, o.load_connections, o.threads, INT64_MAX,
                                   [&](int64_t i) -> std::unique_ptr<http::Flow> {
                                       if (stop.load()) return nullptr;
                                       return http::one_request(
                                           grant(auth, o.run + "-load-" + std::to_string(i), "b" + std::to_string(i % 10000), 1));
                                   });
        });
    if (loader.joinable()) std::this_thread::sleep_for(std::chrono::seconds(2));  // the load reaches its pace first
    std::vector<double> lags(static_cast<size_t>(o.samples), -1);
    auto r = http::run_flows("127.0.0.1", o.port, o.connections, 1, o.samples, [&](int64_t i) {
        return std::make_unique<LagSample>(o, auth, i, lags[static_cast<size_t>(i)]);
    });
    stop = true;
    if (loader.joinable()) loader.join();
    std::vector<double> seen;
    for (double l : lags)
        if (l >= 0) seen.push_back(l);
    std::printf("tally-bench lag: %lld samples on %d connections, polled every %d ms, %.2f s%s\n",
                static_cast<long long>(o.samples), o.connections, o.poll_ms, r.seconds,
                o.load_connections > 0 ? "; credit grants beside it" : "; idle");
    print_latency("commit -> read model", seen);
    print_statuses(r);
    if (o.load_connections > 0) {
        int64_t answered = 0;
        for (auto [_, n] : load.statuses[""]) answered += n;
        std::printf("  the load: %.0f grants/s on %d connections;", static_cast<double>(answered) / load.seconds,
                    o.load_connections);
        for (auto [s, n] : load.statuses[""]) std::printf(" %d=%lld", s, static_cast<long long>(n));
        std::printf("\n");
        print_latency("load grant", load.latencies_ms[""]);
    }
    const auto missing = static_cast<int64_t>(lags.size() - seen.size());
    if (missing > 0) std::printf("  %lld samples never showed in the read model\n", static_cast<long long>(missing));
    return missing == 0 ? 0 : 1;
}

}  // namespace tally::bench
