#pragma once
// Configuration from TALLY_* environment variables (README lists them all).

#include <cstdint>
#include <string>
#include <vector>

namespace tally {

struct Config {
    std::string pg_url;            // TALLY_PG_URL; empty: private cluster under data_dir
    std::string kafka_brokers;     // TALLY_KAFKA_BROKERS; empty: embedded mock cluster
    std::string kafka_topic = "tally.events";
    int kafka_partitions = 3;      // used when tally creates the topic
    int kafka_session_timeout_ms = 10000;  // a silent projector keeps its partitions this long
    int projector_store_ignored_ms = 1000;  // progress through batches a projector ignores goes unstored this long
    int projector_statement_timeout_ms = 30000;  // one statement of a projector's batch; longer fails and retries
    int kafka_fetch_wait_ms = 50;  // TALLY_KAFKA_FETCH_WAIT_MS (kafka.h, set_consumer_fetch_wait)
    int payment_window_s = 1800;           // an order unpaid this long after placing is cancelled
    int expiry_sweep_interval_ms = 5000;   // between passes of that sweep
    bool loyalty = true;                   // TALLY_LOYALTY=off: order commands leave loyalty alone
    int retier_interval_ms = 1000;         // between looks for a loyalty program change
    int retier_batch = 200;                // customers per step of the re-tiering pass
    std::string data_dir = "var";  // TALLY_DATA_DIR
    int pg_port = 5433;            // TALLY_PG_PORT, for the private cluster
    std::string http_address = "127.0.0.1";
    int http_port = 8080;
    // /metrics (README, Operating tally): TALLY_METRICS_ADDRESS "host:port" serves it on a
    // listener of its own (and the API's listener answers 404 there); TALLY_METRICS_TOKEN
    // asks scrapers for `Authorization: Bearer <token>` wherever it is served.
    std::string metrics_address;
    std::string metrics_host;  // from metrics_address
    int metrics_port = 0;
    std::string metrics_token;
    int http_threads = 2;
    int http_read_threads = 4;       // TALLY_HTTP_READ_THREADS: reads' handlers, off the I/O threads
    int64_t http_read_queue = 256;   // TALLY_HTTP_READ_QUEUE: reads that may wait for one; then 503
    int http_write_threads = 2;      // TALLY_HTTP_WRITE_THREADS: the other handlers (commands, webhooks)
    int64_t http_write_queue = 1024; // TALLY_HTTP_WRITE_QUEUE
    size_t body_bytes_max = 64 * 1024;
    std::string jwt_keys;          // "kid:secret,kid2:secret2"; first signs
    // An identity provider's RS256/ES256 tokens (http/jwks.h): its key set from a file or a
    // URL (one of them), re-read every jwks_refresh_s, and the iss and aud its tokens carry.
    std::string jwks_file;         // TALLY_JWKS_FILE
    std::string jwks_url;          // TALLY_JWKS_URL
    int64_t jwks_refresh_s = 300;  // TALLY_JWKS_REFRESH_S
    std::string jwt_issuer;        // TALLY_JWT_ISSUER
    std::string jwt_audience;      // TALLY_JWT_AUDIENCE
    // Affiliates.
    std::string referral_keys;     // TALLY_REFERRAL_KEYS: referral cookies' keys, like jwt_keys
    int64_t attribution_recent_s = 24 * 3600;  // TALLY_ATTRIBUTION_RECENT_S: a visit attributes this long
    int64_t affiliate_payout_interval_ms = 60000;  // TALLY_AFFILIATE_PAYOUT_INTERVAL_MS: between the scheduler's looks
    // TALLY_PAYOUT_CLOCK_FILE (tests): the payout scheduler reads its clock, unix ms, from
    // this file (missing or empty: the system clock), so a test chooses the weekday.
    std::string payout_clock_file;
    // Subscriptions: the renewal scheduler's pass interval, and dunning's schedule.
    int64_t renewal_interval_ms = 60000;            // TALLY_RENEWAL_INTERVAL_MS
    std::vector<int64_t> dunning_retry_days{1, 3, 7};  // TALLY_DUNNING_RETRY_DAYS "1,3,7": after the first failure, ascending
    int64_t dunning_grace_days = 7;                 // TALLY_DUNNING_GRACE_DAYS: past_due, then cancelled
    // TALLY_SUBSCRIPTION_CLOCK_FILE (tests): the renewal scheduler's clock, unix ms, from
    // this file (missing or empty: the system clock), so a test lives through a year.
    std::string subscription_clock_file;
    // Signed chain checkpoints (events/checkpoint.h).
    std::string checkpoint_key;             // TALLY_CHECKPOINT_KEY "kid:hex seed"; empty: {data_dir}/checkpoint.key
    int64_t checkpoint_every_events = 10000;  // TALLY_CHECKPOINT_EVERY_EVENTS
    int64_t reconcile_interval_s = 900;       // TALLY_RECONCILE_INTERVAL_S: scheduled reconciliation
    int64_t checkpoint_every_s = 60;          // TALLY_CHECKPOINT_EVERY_S: at least this often while events arrive
    // PayPal payouts. Empty client id: PayPal payouts are parked, PayPal webhooks refused (503).
    std::string paypal_api_base = "https://api-m.paypal.com";  // TALLY_PAYPAL_API_BASE
    std::string paypal_client_id;      // TALLY_PAYPAL_CLIENT_ID
    std::string paypal_client_secret;  // TALLY_PAYPAL_CLIENT_SECRET
    std::string paypal_webhook_id;     // TALLY_PAYPAL_WEBHOOK_ID: the webhook's id at PayPal, for verification
    size_t batch_commands_max = 512;
    int batch_wait_us = 200;
    size_t queue_commands_max = 20000;
    int pipeline_writers = 2;
    size_t pg_pool_size = 8;
    std::string log_level = "info";
    // Rate limits (http/rate_limit.h): TALLY_RATE_LIMIT memory | postgres | off, and the budgets.
    std::string rate_limit = "memory";
    std::string rate_limits, rate_limits_address, rate_limits_roles;
    bool run_relay = true;
    bool run_projectors = true;
    // Payments.
    std::vector<std::string> stripe_webhook_secrets;  // TALLY_STRIPE_WEBHOOK_SECRETS: "whsec_a,whsec_b" (rotation)
    int64_t payout_delay_s = 7 * 24 * 3600;  // TALLY_PAYOUT_DELAY_S: after delivery
    // Provider calls (intents, refunds, transfers). Empty key: the workers do not run, and
    // calls wait in provider_calls until a process with a key takes them.
    std::string stripe_api_base = "https://api.stripe.com";  // TALLY_STRIPE_API_BASE
    std::string stripe_secret_key;                             // TALLY_STRIPE_SECRET_KEY
    int64_t provider_retry_base_ms = 1000;      // TALLY_PROVIDER_RETRY_BASE_MS: first retry delay, doubling
    int64_t provider_retry_max_ms = 15 * 60 * 1000;  // TALLY_PROVIDER_RETRY_MAX_MS: the longest delay
    int provider_attempts_max = 12;             // TALLY_PROVIDER_ATTEMPTS_MAX: then dead-lettered
    int provider_workers = 2;                   // TALLY_PROVIDER_WORKERS: calls in flight per process
    int64_t provider_timeout_ms = 20000;        // TALLY_PROVIDER_TIMEOUT_MS: one call, connect to answer
};

// Reads the environment; throws std::invalid_argument naming a malformed variable.
Config config_from_env();

}  // namespace tally
