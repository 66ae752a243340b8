#pragma once
// Rate limits: token buckets per principal and per client address, with separate budgets
// for reads, writes and the payment providers' webhooks, and per-role overrides. The
// buckets live in this process or in PostgreSQL (shared by every tallyd on the database).
// The limiter fails open: when its store fails, the request passes, counted in
// tally_rate_limit_fail_open_total and logged (at most every 10 s) with the reason.

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "infra/sql.h"

namespace tally::http {

enum class RateClass { read, write, webhook };
std::string_view to_string(RateClass c);

// `per_second` tokens flow in, up to `burst`; a request takes one.
struct Budget {
    double per_second = 0;
    double burst = 0;
};

struct RateLimits {
    bool enabled = true;
    std::string store = "memory";  // "memory" or "postgres"
    std::map<RateClass, Budget> principal{{RateClass::read, {1000, 2000}}, {RateClass::write, {500, 1000}}};
    std::map<RateClass, Budget> address{
        {RateClass::read, {5000, 10000}}, {RateClass::write, {2500, 5000}}, {RateClass::webhook, {500, 1000}}};
    std::map<std::string, std::map<RateClass, Budget>> roles;  // per-role overrides of the principal's budgets

    // TALLY_RATE_LIMIT ("memory", "postgres" or "off"), TALLY_RATE_LIMITS (the principals'
    // budgets: "read=100/200,write=50/100"), TALLY_RATE_LIMITS_ADDRESS (per client
    // address: "read=400/800,write=200/400,webhook=500/1000") and TALLY_RATE_LIMITS_ROLES
    // ("storefront:read=1000/2000,write=500/1000;admin:write=200/400"). Empty keeps the
    // default. The webhook's budget may not be set under kWebhookFloorPerSecond.
    static std::expected<RateLimits, std::string> parse(std::string_view mode, std::string_view principals,
                                                        std::string_view addresses, std::string_view roles);
};

// The providers retry a refused delivery for days (Stripe with exponential backoff over 3
// days, PayPal up to 25 times): a 429 only delays. The webhook's budget is the address's
// alone (the provider's senders), never shared with clients, and never configured under
// this, well above either provider's delivery rate.
inline constexpr double kWebhookFloorPerSecond = 50;

struct Verdict {
    bool allowed = true;
    std::string policy;         // which bucket decided: "principal-write", "address-read", ...
    Budget budget;
    double remaining = 0;       // tokens left in that bucket
    double retry_after_s = 0;   // when refused: until one token is back
};

// Where buckets live. take() answers why when the store fails (the limiter then fails open).
class BucketStore {
public:
    virtual ~BucketStore() = default;
    struct Taken {
        bool allowed;
        double tokens;  // after taking (or not)
    };
    virtual std::expected<Taken, std::string> take(const std::string& key, const Budget& budget, int64_t now_ms) = 0;
};

std::unique_ptr<BucketStore> memory_store();
// Table rate_buckets (migration 0020), taken in leases of whole tokens (rate_limit.cpp).
std::unique_ptr<BucketStore> postgres_store(sql::Pool& pool);

class RateLimiter {
public:
    RateLimiter(RateLimits limits, std::unique_ptr<BucketStore> store);
    // The principal's bucket (when a token named one) and the address's, for this class.
    Verdict check(RateClass c, const std::string& principal, const std::string& role, const std::string& address,
                  int64_t now_ms);
    const RateLimits& limits() const { return limits_; }

private:
    RateLimits limits_;
    std::unique_ptr<BucketStore> store_;
    std::mutex log_mu_;
    int64_t last_fail_log_ms_ = 0;
};

}  // namespace tally::http
