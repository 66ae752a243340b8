#include "http/rate_limit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>

#include "infra/metrics.h"
#include "infra/strings.h"

namespace tally::http {

std::string_view to_string(RateClass c) {
    switch (c) {
        case RateClass::read: return "read";
        case RateClass::write: return "write";
        case RateClass::webhook: return "webhook";
    }
    return "other";
}

namespace {

std::optional<double> number(std::string_view s) {
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v <= 0 || v > 1e9) return std::nullopt;
    return v;
}

// "read=100/200,write=50/100" into `out`; the error names the item.
std::optional<std::string> parse_budgets(std::string_view spec, std::string_view setting, bool webhook_allowed,
                                         std::map<RateClass, Budget>& out) {
    for (auto item : split(spec, ',')) {
        if (item.empty()) continue;
        const auto eq = item.find('='), slash = item.find('/');
        const std::string what = std::string(setting) + ": " + std::string(item);
        if (eq == std::string_view::npos || slash == std::string_view::npos || slash < eq)
            return what + " is not class=per_second/burst";
        const auto name = item.substr(0, eq);
        const auto rate = number(item.substr(eq + 1, slash - eq - 1)), burst = number(item.substr(slash + 1));
        if (!rate || !burst || *burst < 1) return what + ": the rate and the burst are positive numbers, the burst at least 1";
        RateClass c;
        if (name == "read") c = RateClass::read;
        else if (name == "write") c = RateClass::write;
        else if (name == "webhook" && webhook_allowed) c = RateClass::webhook;
        else return what + ": the class is read, write" + std::string(webhook_allowed ? " or webhook" : "");
        if (c == RateClass::webhook && *rate < kWebhookFloorPerSecond)
            return what + ": the webhook is never throttled under " + std::to_string(int(kWebhookFloorPerSecond)) +
                   "/s (the providers' retries)";
        out[c] = Budget{*rate, *burst};
    }
    return std::nullopt;
}

class MemoryStore final : public BucketStore {
public:
    std::expected<Taken, std::string> take(const std::string& key, const Budget& budget, int64_t now_ms) override {
        auto& shard = shards_[std::hash<std::string>{}(key) % kShards];
        std::lock_guard lock(shard.mu);
        if (shard.buckets.size() > kMaxPerShard) shard.buckets.clear();  // bounded; a full bucket is the default anyway
        auto [it, fresh] = shard.buckets.try_emplace(key, Bucket{budget.burst, now_ms});
        auto& b = it->second;
        if (!fresh) b.tokens = std::min(budget.burst, b.tokens + static_cast<double>(now_ms - b.stamp_ms) * budget.per_second / 1000.0);
        b.stamp_ms = std::max(b.stamp_ms, now_ms);
        if (b.tokens < 1) return Taken{false, b.tokens};
        b.tokens -= 1;
        return Taken{true, b.tokens};
    }

private:
    struct Bucket {
        double tokens;
        int64_t stamp_ms;
    };
    struct Shard {
        std::mutex mu;
        std::unordered_map<std::string, Bucket> buckets;
    };
    static constexpr size_t kShards = 16;
    static constexpr size_t kMaxPerShard = 65536;
    Shard shards_[kShards];
};

// Buckets in PostgreSQL, taken in leases: one statement takes up to kLease whole tokens
// (a twentieth of the burst, at least one) and this process hands them out until they run
// out or a second passes. Every token handed out was taken from the shared bucket, so the
// processes together never exceed the budget; a lease left unused only lowers it a little.
class PostgresStore final : public BucketStore {
public:
    explicit PostgresStore(sql::Pool& pool) : pool_(pool) {}
    std::expected<Taken, std::string> take(const std::string& key, const Budget& budget, int64_t now_ms) override {
        auto& shard = shards_[std::hash<std::string>{}(key) % kShards];
        {
            std::lock_guard lock(shard.mu);
            auto it = shard.leases.find(key);
            if (it != shard.leases.end() && it->second.tokens >= 1 && now_ms < it->second.until_ms) {
                it->second.tokens -= 1;
                return Taken{true, it->second.tokens};
            }
        }
        const int64_t lease = std::clamp<int64_t>(static_cast<int64_t>(budget.burst / 20), 1, 100);
        std::optional<std::pair<int64_t, int64_t>> got;  // tokens left (thousandths), taken (whole)
        // Refill since the last take, capped at the burst; take whole tokens up to the lease.
        // One statement (SET sees the row as it was): concurrent takes serialize on the row.
        auto r = pool_.autocommit([&](sql::Tx& tx) {
            const std::string refill =
                "least($2::bigint, b.tokens_milli + greatest(0, $4::bigint - b.stamp_ms) * $3::bigint / 1000)";
            const std::string take = "least($5::bigint * 1000, " + refill + " - " + refill + " % 1000)";
            auto rows = tx.exec(
                "INSERT INTO rate_buckets AS b (key, tokens_milli, stamp_ms, taken_milli)"
                " VALUES ($1, $2::bigint - least($5::bigint * 1000, $2::bigint - $2::bigint % 1000), $4::bigint,"
                " least($5::bigint * 1000, $2::bigint - $2::bigint % 1000))"
                " ON CONFLICT (key) DO UPDATE SET taken_milli = " + take + ","
                " tokens_milli = " + refill + " - " + take + ","
                " stamp_ms = greatest(b.stamp_ms, $4::bigint)"
                " RETURNING tokens_milli, taken_milli / 1000",
                {key, std::to_string(std::llround(budget.burst * 1000)), std::to_string(std::llround(budget.per_second * 1000)),
                 std::to_string(now_ms), std::to_string(lease)});
            if (!rows.empty()) got = std::pair{rows[0].i64(0), rows[0].i64(1)};
        });
        if (!r) return std::unexpected(r.error().message);
        if (!got) return std::unexpected(std::string("the bucket upsert returned no row"));
        const auto [left_milli, taken] = *got;
        if (taken < 1) return Taken{false, static_cast<double>(left_milli) / 1000.0};
        std::lock_guard lock(shard.mu);
        if (shard.leases.size() > kMaxPerShard) shard.leases.clear();
        auto& l = shard.leases[key];
        l.tokens = std::max(0.0, l.tokens) + static_cast<double>(taken - 1);
        l.until_ms = now_ms + 1000;
        return Taken{true, l.tokens + static_cast<double>(left_milli) / 1000.0};
    }

private:
    struct Lease {
        double tokens = 0;
        int64_t until_ms = 0;
    };
    struct Shard {
        std::mutex mu;
        std::unordered_map<std::string, Lease> leases;
    };
    static constexpr size_t kShards = 16;
    static constexpr size_t kMaxPerShard = 65536;
    sql::Pool& pool_;
    Shard shards_[kShards];
};

}  // namespace

std::expected<RateLimits, std::string> RateLimits::parse(std::string_view mode, std::string_view principals,
                                                         std::string_view addresses, std::string_view roles) {
    RateLimits l;
    if (mode == "off") l.enabled = false;
    else if (mode.empty() || mode == "memory") l.store = "memory";
    else if (mode == "postgres") l.store = "postgres";
    else return std::unexpected("TALLY_RATE_LIMIT is memory, postgres or off");
    if (auto e = parse_budgets(principals, "TALLY_RATE_LIMITS", false, l.principal)) return std::unexpected(*e);
    if (auto e = parse_budgets(addresses, "TALLY_RATE_LIMITS_ADDRESS", true, l.address)) return std::unexpected(*e);
    for (auto role_spec : split(roles, ';')) {
        if (role_spec.empty()) continue;
        const auto colon = role_spec.find(':');
        if (colon == std::string_view::npos)
            return std::unexpected("TALLY_RATE_LIMITS_ROLES: " + std::string(role_spec) + " is not role:class=rate/burst,...");
        auto& budgets = l.roles[std::string(role_spec.substr(0, colon))];
        if (auto e = parse_budgets(role_spec.substr(colon + 1), "TALLY_RATE_LIMITS_ROLES", false, budgets))
            return std::unexpected(*e);
    }
    return l;
}

std::unique_ptr<BucketStore> memory_store() { return std::make_unique<MemoryStore>(); }
std::unique_ptr<BucketStore> postgres_store(sql::Pool& pool) { return std::make_unique<PostgresStore>(pool); }

RateLimiter::RateLimiter(RateLimits limits, std::unique_ptr<BucketStore> store)
    : limits_(std::move(limits)), store_(std::move(store)) {
    metrics::global().help("tally_rate_limit_fail_open_total", "counter",
                           "Requests let through because the rate limiter's store failed");
    metrics::global().help("tally_rate_limited_total", "counter", "Requests refused 429 by a rate limit");
}

Verdict RateLimiter::check(RateClass c, const std::string& principal, const std::string& role, const std::string& address,
                           int64_t now_ms) {
    Verdict v;
    if (!limits_.enabled) return v;
    struct Bucket {
        std::string key, policy;
        Budget budget;
    };
    std::vector<Bucket> buckets;
    if (!principal.empty() && c != RateClass::webhook) {
        Budget b = limits_.principal.at(c);
        if (auto r = limits_.roles.find(role); r != limits_.roles.end())
            if (auto o = r->second.find(c); o != r->second.end()) b = o->second;
        buckets.push_back({"p:" + std::string(to_string(c)) + ":" + principal, "principal-" + std::string(to_string(c)), b});
    }
    if (!address.empty())
        buckets.push_back({"a:" + std::string(to_string(c)) + ":" + address, "address-" + std::string(to_string(c)),
                           limits_.address.at(c)});
    for (const auto& b : buckets) {
        auto taken = store_->take(b.key, b.budget, now_ms);
        if (!taken) {
            metrics::global().counter("tally_rate_limit_fail_open_total").add();
            std::lock_guard lock(log_mu_);
            if (now_ms - last_fail_log_ms_ >= 10000) {
                last_fail_log_ms_ = now_ms;
                spdlog::warn("rate limiter's {} store failed; requests pass unlimited (fail open): {}", limits_.store,
                             taken.error());
            }
            return Verdict{};  // open: nothing limits this request
        }
        if (!taken->allowed) {
            metrics::global().counter("tally_rate_limited_total", "policy=\"" + b.policy + "\"").add();
            v.allowed = false;
            v.policy = b.policy;
            v.budget = b.budget;
            v.remaining = std::max(0.0, taken->tokens);
            v.retry_after_s = (1.0 - taken->tokens) / b.budget.per_second;
            return v;
        }
        if (v.policy.empty() || taken->tokens < v.remaining) {
            v.policy = b.policy;
            v.budget = b.budget;
            v.remaining = taken->tokens;
        }
    }
    return v;
}

}  // namespace tally::http
