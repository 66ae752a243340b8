#include "infra/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "infra/strings.h"

namespace tally {
namespace {

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : nullptr;
}

template <typename T>
void read_int(const char* name, T& out) {
    const char* v = env(name);
    if (!v) return;
    std::string_view s(v);
    T parsed{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
    if (ec != std::errc() || end != s.data() + s.size() || parsed < 0)
        throw std::invalid_argument(std::string(name) + " must be a non-negative integer, got '" +
                                    v + "'");
    out = parsed;
}

void read_str(const char* name, std::string& out) {
    if (const char* v = env(name)) out = v;
}

void read_bool(const char* name, bool& out) {
    const char* v = env(name);
    if (!v) return;
    std::string_view s(v);
    if (s == "1" || s == "true") out = true;
    else if (s == "0" || s == "false") out = false;
    else throw std::invalid_argument(std::string(name) + " must be true or false");
}

}  // namespace

Config config_from_env() {
    Config c;
    read_str("TALLY_PG_URL", c.pg_url);
    read_str("TALLY_KAFKA_BROKERS", c.kafka_brokers);
    read_str("TALLY_KAFKA_TOPIC", c.kafka_topic);
    read_int("TALLY_KAFKA_PARTITIONS", c.kafka_partitions);
    read_int("TALLY_KAFKA_SESSION_TIMEOUT_MS", c.kafka_session_timeout_ms);
    read_int("TALLY_PROJECTOR_STORE_IGNORED_MS", c.projector_store_ignored_ms);
    read_int("TALLY_PROJECTOR_STATEMENT_TIMEOUT_MS", c.projector_statement_timeout_ms);
    read_int("TALLY_KAFKA_FETCH_WAIT_MS", c.kafka_fetch_wait_ms);
    read_int("TALLY_PAYMENT_WINDOW_S", c.payment_window_s);
    read_int("TALLY_EXPIRY_SWEEP_INTERVAL_MS", c.expiry_sweep_interval_ms);
    read_int("TALLY_RETIER_INTERVAL_MS", c.retier_interval_ms);
    read_int("TALLY_RETIER_BATCH", c.retier_batch);
    read_str("TALLY_DATA_DIR", c.data_dir);
    read_int("TALLY_PG_PORT", c.pg_port);
    read_str("TALLY_HTTP_ADDRESS", c.http_address);
    read_int("TALLY_HTTP_PORT", c.http_port);
    read_str("TALLY_METRICS_ADDRESS", c.metrics_address);
    read_str("TALLY_METRICS_TOKEN", c.metrics_token);
    read_int("TALLY_HTTP_THREADS", c.http_threads);
    read_int("TALLY_HTTP_READ_THREADS", c.http_read_threads);
    read_int("TALLY_HTTP_READ_QUEUE", c.http_read_queue);
    read_int("TALLY_HTTP_WRITE_THREADS", c.http_write_threads);
    read_int("TALLY_HTTP_WRITE_QUEUE", c.http_write_queue);
    read_int("TALLY_BODY_BYTES_MAX", c.body_bytes_max);
    read_str("TALLY_JWT_KEYS", c.jwt_keys);
    read_str("TALLY_JWKS_FILE", c.jwks_file);
    read_str("TALLY_JWKS_URL", c.jwks_url);
    read_int("TALLY_JWKS_REFRESH_S", c.jwks_refresh_s);
    read_str("TALLY_JWT_ISSUER", c.jwt_issuer);
    read_str("TALLY_JWT_AUDIENCE", c.jwt_audience);
    read_str("TALLY_REFERRAL_KEYS", c.referral_keys);
    read_int("TALLY_ATTRIBUTION_RECENT_S", c.attribution_recent_s);
    read_int("TALLY_AFFILIATE_PAYOUT_INTERVAL_MS", c.affiliate_payout_interval_ms);
    read_str("TALLY_CHECKPOINT_KEY", c.checkpoint_key);
    read_int("TALLY_CHECKPOINT_EVERY_EVENTS", c.checkpoint_every_events);
    read_int("TALLY_CHECKPOINT_EVERY_S", c.checkpoint_every_s);
    read_int("TALLY_RECONCILE_INTERVAL_S", c.reconcile_interval_s);
    read_str("TALLY_PAYOUT_CLOCK_FILE", c.payout_clock_file);
    read_int("TALLY_RENEWAL_INTERVAL_MS", c.renewal_interval_ms);
    read_int("TALLY_DUNNING_GRACE_DAYS", c.dunning_grace_days);
    read_str("TALLY_SUBSCRIPTION_CLOCK_FILE", c.subscription_clock_file);
    if (const char* v = env("TALLY_DUNNING_RETRY_DAYS")) {
        c.dunning_retry_days.clear();
        for (auto day : split(v, ',')) {
            int64_t d = 0;
            auto [end, ec] = std::from_chars(day.data(), day.data() + day.size(), d);
            if (ec != std::errc() || end != day.data() + day.size() || d < 1 || d > 60 ||
                (!c.dunning_retry_days.empty() && d <= c.dunning_retry_days.back()))
                throw std::invalid_argument(std::string("TALLY_DUNNING_RETRY_DAYS must be ascending days 1..60, "
                                                        "comma-separated, got '") + v + "'");
            c.dunning_retry_days.push_back(d);
        }
        if (c.dunning_retry_days.size() > 10) throw std::invalid_argument("TALLY_DUNNING_RETRY_DAYS allows at most 10 retries");
    }
    read_str("TALLY_PAYPAL_API_BASE", c.paypal_api_base);
    read_str("TALLY_PAYPAL_CLIENT_ID", c.paypal_client_id);
    read_str("TALLY_PAYPAL_CLIENT_SECRET", c.paypal_client_secret);
    read_str("TALLY_PAYPAL_WEBHOOK_ID", c.paypal_webhook_id);
    if (const char* v = env("TALLY_STRIPE_WEBHOOK_SECRETS"))
        for (auto secret : split(v, ','))
            if (!secret.empty()) c.stripe_webhook_secrets.emplace_back(secret);
    read_int("TALLY_PAYOUT_DELAY_S", c.payout_delay_s);
    read_str("TALLY_STRIPE_API_BASE", c.stripe_api_base);
    read_str("TALLY_STRIPE_SECRET_KEY", c.stripe_secret_key);
    read_int("TALLY_PROVIDER_RETRY_BASE_MS", c.provider_retry_base_ms);
    read_int("TALLY_PROVIDER_RETRY_MAX_MS", c.provider_retry_max_ms);
    read_int("TALLY_PROVIDER_ATTEMPTS_MAX", c.provider_attempts_max);
    read_int("TALLY_PROVIDER_WORKERS", c.provider_workers);
    read_int("TALLY_PROVIDER_TIMEOUT_MS", c.provider_timeout_ms);
    read_int("TALLY_BATCH_COMMANDS_MAX", c.batch_commands_max);
    read_int("TALLY_BATCH_WAIT_US", c.batch_wait_us);
    read_int("TALLY_QUEUE_COMMANDS_MAX", c.queue_commands_max);
    read_int("TALLY_PIPELINE_WRITERS", c.pipeline_writers);
    read_int("TALLY_PG_POOL_SIZE", c.pg_pool_size);
    read_str("TALLY_LOG_LEVEL", c.log_level);
    read_str("TALLY_RATE_LIMIT", c.rate_limit);
    read_str("TALLY_RATE_LIMITS", c.rate_limits);
    read_str("TALLY_RATE_LIMITS_ADDRESS", c.rate_limits_address);
    read_str("TALLY_RATE_LIMITS_ROLES", c.rate_limits_roles);
    read_bool("TALLY_RUN_RELAY", c.run_relay);
    read_bool("TALLY_RUN_PROJECTORS", c.run_projectors);
    read_bool("TALLY_LOYALTY", c.loyalty);
    if (c.kafka_partitions < 1) throw std::invalid_argument("TALLY_KAFKA_PARTITIONS must be >= 1");
    if (c.kafka_fetch_wait_ms < 1 || c.kafka_fetch_wait_ms > 5000)
        throw std::invalid_argument("TALLY_KAFKA_FETCH_WAIT_MS must be 1..5000");
    if (c.kafka_session_timeout_ms < 1000 || c.kafka_session_timeout_ms > 300000)
        throw std::invalid_argument("TALLY_KAFKA_SESSION_TIMEOUT_MS must be 1000..300000");
    if (c.projector_store_ignored_ms < 0 || c.projector_store_ignored_ms > 60000)
        throw std::invalid_argument("TALLY_PROJECTOR_STORE_IGNORED_MS must be 0..60000");
    if (c.projector_statement_timeout_ms < 0 || c.projector_statement_timeout_ms > 3600000)
        throw std::invalid_argument("TALLY_PROJECTOR_STATEMENT_TIMEOUT_MS must be 0..3600000");
    if (c.payment_window_s < 1) throw std::invalid_argument("TALLY_PAYMENT_WINDOW_S must be >= 1");
    if (c.expiry_sweep_interval_ms < 10) throw std::invalid_argument("TALLY_EXPIRY_SWEEP_INTERVAL_MS must be >= 10");
    if (c.checkpoint_every_events < 1) throw std::invalid_argument("TALLY_CHECKPOINT_EVERY_EVENTS must be >= 1");
    if (c.checkpoint_every_s < 1) throw std::invalid_argument("TALLY_CHECKPOINT_EVERY_S must be >= 1");
    if (c.reconcile_interval_s < 1) throw std::invalid_argument("TALLY_RECONCILE_INTERVAL_S must be >= 1");
    if (c.affiliate_payout_interval_ms < 10)
        throw std::invalid_argument("TALLY_AFFILIATE_PAYOUT_INTERVAL_MS must be >= 10");
    if (!c.paypal_client_id.empty() && (c.paypal_client_secret.empty() || c.paypal_webhook_id.empty()))
        throw std::invalid_argument("TALLY_PAYPAL_CLIENT_ID needs TALLY_PAYPAL_CLIENT_SECRET and TALLY_PAYPAL_WEBHOOK_ID");
    if (c.renewal_interval_ms < 10) throw std::invalid_argument("TALLY_RENEWAL_INTERVAL_MS must be >= 10");
    if (c.dunning_grace_days > 90) throw std::invalid_argument("TALLY_DUNNING_GRACE_DAYS must be 0..90");
    if (c.retier_interval_ms < 10) throw std::invalid_argument("TALLY_RETIER_INTERVAL_MS must be >= 10");
    if (c.retier_batch < 1 || c.retier_batch > 10000) throw std::invalid_argument("TALLY_RETIER_BATCH must be 1..10000");
    if (c.http_threads < 1) throw std::invalid_argument("TALLY_HTTP_THREADS must be >= 1");
    if (!c.metrics_address.empty()) {
        const auto colon = c.metrics_address.rfind(':');
        const std::string port = colon == std::string::npos ? "" : c.metrics_address.substr(colon + 1);
        const bool digits = !port.empty() && port.size() <= 5 &&
                            std::all_of(port.begin(), port.end(), [](unsigned char ch) { return std::isdigit(ch); });
        if (colon == 0 || !digits || std::stoi(port) > 65535)
            throw std::invalid_argument("TALLY_METRICS_ADDRESS must be host:port (port 0..65535)");
        c.metrics_host = c.metrics_address.substr(0, colon);
        c.metrics_port = std::stoi(port);
    }
    if (c.http_read_threads < 1 || c.http_read_threads > 256)
        throw std::invalid_argument("TALLY_HTTP_READ_THREADS must be 1..256");
    if (c.http_read_queue < 0) throw std::invalid_argument("TALLY_HTTP_READ_QUEUE must be >= 0");
    if (c.http_write_threads < 1 || c.http_write_threads > 256)
        throw std::invalid_argument("TALLY_HTTP_WRITE_THREADS must be 1..256");
    if (c.http_write_queue < 0) throw std::invalid_argument("TALLY_HTTP_WRITE_QUEUE must be >= 0");
    if (c.batch_commands_max < 1) throw std::invalid_argument("TALLY_BATCH_COMMANDS_MAX must be >= 1");
    if (c.payout_delay_s < 0) throw std::invalid_argument("TALLY_PAYOUT_DELAY_S must be >= 0");
    if (c.stripe_api_base.rfind("http://", 0) != 0 && c.stripe_api_base.rfind("https://", 0) != 0)
        throw std::invalid_argument("TALLY_STRIPE_API_BASE must start with http:// or https://");
    if (c.provider_retry_base_ms < 1 || c.provider_retry_max_ms < c.provider_retry_base_ms)
        throw std::invalid_argument("TALLY_PROVIDER_RETRY_BASE_MS must be >= 1 and <= TALLY_PROVIDER_RETRY_MAX_MS");
    if (c.provider_timeout_ms < 1) throw std::invalid_argument("TALLY_PROVIDER_TIMEOUT_MS must be >= 1");
    if (c.provider_workers < 1) throw std::invalid_argument("TALLY_PROVIDER_WORKERS must be >= 1");
    if (c.provider_attempts_max < 1) throw std::invalid_argument("TALLY_PROVIDER_ATTEMPTS_MAX must be >= 1");
    if (c.pipeline_writers < 1) throw std::invalid_argument("TALLY_PIPELINE_WRITERS must be >= 1");
    if (c.pg_pool_size < 2) throw std::invalid_argument("TALLY_PG_POOL_SIZE must be >= 2");
    return c;
}

}  // namespace tally
