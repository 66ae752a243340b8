#pragma once
// The provider workers: take due rows of provider_calls (planned from Kafka by
// projectors/provider_calls.h), call the provider with the row's key as the
// Idempotency-Key, and record the outcome.
//   - Success: a ProviderRequestCompleted event (stream "provider-request-{key}") through
//     the pipeline, then the row is done with the provider's object id.
//   - No answer, 409, 429, 5xx: tried again after an exponential backoff; after the last
//     attempt the row is parked (status 'dead', the dead-letter queue).
//   - Any other refusal (e.g. 400): parked at once; retrying it would change nothing.
// A refund or an intent's cancellation waits, without using up attempts, while the
// order's PaymentIntent is still being created. request_payout rows are the payout
// scheduler: when due, the worker asks the order for the vendor's payout.
// Affiliate payouts: affiliate_transfer rows become Stripe transfers to the connected
// account, paypal_payout rows PayPal Payouts batches (sender_batch_id and PayPal-Request-Id
// are the row's key); the destination is read from the affiliate's payout account.
// Several workers (threads or processes) share the table: a row is claimed with
// FOR UPDATE SKIP LOCKED and a lease; a worker that dies mid-call leaves it to be
// retried when the lease runs out, with the same key.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "commands/pipeline.h"
#include "infra/sql.h"
#include "infra/paypal_api.h"
#include "infra/stripe_api.h"

namespace tally::commands {

struct ProviderWorkerOptions {
    int64_t retry_base_ms = 1000;
    int64_t retry_max_ms = 15 * 60 * 1000;
    int attempts_max = 12;
    int64_t payout_delay_ms = 0;
    int64_t lease_ms = 120 * 1000;  // longer than any one call can take
    std::chrono::milliseconds idle_poll{250};
    int threads = 2;  // calls in flight at once: one slow provider answer does not hold up the rest
    // The kinds of call this process makes (the providers it has keys for); empty: all.
    // Others wait in provider_calls for a process that has the keys.
    std::vector<std::string> kinds;
};

// Every kind of provider call, by provider.
std::vector<std::string> stripe_call_kinds();
std::vector<std::string> paypal_call_kinds();

// The delay before attempt `attempts + 1`: base * 2^(attempts-1), at most max, less up to
// a quarter as jitter derived from the key (so calls that failed together spread out).
int64_t retry_delay_ms(int attempts, int64_t base_ms, int64_t max_ms, std::string_view key);

// The principal the workers act as (migration 0006).
Claims worker_claims();

class ProviderWorker {
public:
    using Clock = std::function<int64_t()>;  // unix milliseconds
    // `paypal` may be null (not configured): PayPal payouts are then parked, saying so.
    ProviderWorker(sql::Pool& pool, Pipeline& pipeline, const stripe_api::Api& api, ProviderWorkerOptions options,
                   Clock clock, const paypal_api::Api* paypal = nullptr);
    ~ProviderWorker();

    void start();
    void stop();
    // Works one due call, if there is one; true when it did.
    bool work_one();

private:
    struct Call;
    enum class Verdict { done, retry, wait, park };
    struct Result {
        Verdict verdict;
        std::string object_id;
        std::string client_secret;
        std::string note;  // the error, or why nothing needed doing
    };
    Result execute(const Call& call);
    Result call_provider(const Call& call, const std::string& path, const stripe_api::Form& form);
    Result request_payout(const Call& call);
    Result renewal_charge(const Call& call);
    Result affiliate_payout(const Call& call);
    Result record_completed(const Call& call, const std::string& object_id, const std::string& client_secret);
    void finish(const Call& call, const Result& result);

    sql::Pool& pool_;
    Pipeline& pipeline_;
    const stripe_api::Api& api_;
    ProviderWorkerOptions options_;
    Clock clock_;
    const paypal_api::Api* paypal_;
    void refresh_counts();

    std::atomic<bool> stopping_{false};
    std::vector<std::thread> threads_;
    // For alerting: parked calls, and calls due but not yet taken (a backlog).
    std::atomic<int64_t> dead_{0}, due_{0};
    std::chrono::steady_clock::time_point counted_{};
};

}  // namespace tally::commands
