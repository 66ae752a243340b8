// tallyd: the tally server. With nothing configured it runs the embedded
// default: a private PostgreSQL under TALLY_DATA_DIR and librdkafka's mock
// Kafka cluster in process.

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>

#include "commands/affiliate_payout.h"
#include "commands/checkpointer.h"
#include "commands/reconcile_job.h"
#include "commands/expiry_sweep.h"
#include "commands/loyalty_switch.h"
#include "commands/retier_pass.h"
#include "commands/pipeline.h"
#include "commands/provider_worker.h"
#include "commands/renewal.h"
#include "commands/renewal_scheduler.h"
#include "http/api.h"
#include "http/openapi.h"
#include "http/rate_limit.h"
#include "http/routes.h"
#include "http/server.h"
#include "http/paypal_client.h"
#include "http/stripe_client.h"
#include "infra/crash.h"
#include "infra/config.h"
#include "infra/kafka.h"
#include "infra/local_postgres.h"
#include "infra/ownership.h"
#include "infra/migrate.h"
#include "infra/relay.h"
#include "infra/sql.h"
#include "infra/stripe_api.h"
#include "projectors/credit_projection.h"
#include "projectors/ledger_projection.h"
#include "projectors/affiliates_projection.h"
#include "projectors/catalog_projection.h"
#include "projectors/subscriptions_projection.h"
#include "projectors/loyalty_projection.h"
#include "projectors/passport_projection.h"
#include "projectors/orders_projection.h"
#include "projectors/provider_calls.h"
#include "projectors/runner.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A clock a test sets: unix ms read from a file on every look (missing, empty or not a
// positive number: the system clock).
std::function<int64_t()> file_clock(std::string file) {
    return [file = std::move(file)] {
        std::ifstream in(file);
        long long v = 0;
        return in >> v && v > 0 ? static_cast<int64_t>(v) : now_ms();
    };
}

// The identity provider the configuration names (TALLY_JWKS_FILE or TALLY_JWKS_URL), null
// when it names none. A file that cannot be read is a mistake in the deployment; a provider
// that does not answer yet may answer soon, so tallyd starts and keeps asking.
std::expected<std::unique_ptr<tally::http::IdentityProvider>, std::string> identity_provider(const tally::Config& cfg) {
    using namespace tally;
    if (cfg.jwks_file.empty() && cfg.jwks_url.empty()) return nullptr;
    if (!cfg.jwks_file.empty() && !cfg.jwks_url.empty())
        return std::unexpected("TALLY_JWKS_FILE and TALLY_JWKS_URL are both set; name the key set once");
    const bool from_file = !cfg.jwks_file.empty();
    http::IdentityProvider::Loader loader;
    if (from_file) {
        loader = http::jwks_file_loader(cfg.jwks_file);
    } else {
        auto from_url = http::jwks_url_loader(cfg.jwks_url);
        if (!from_url) return std::unexpected(from_url.error());
        loader = std::move(*from_url);
    }
    const std::string source = from_file ? cfg.jwks_file : cfg.jwks_url;
    auto started = http::IdentityProvider::start(
        http::IdpSettings{cfg.jwt_issuer, cfg.jwt_audience, source, cfg.jwks_refresh_s, http::kClockSkewSeconds},
        std::move(loader), !from_file);
    if (!started) return std::unexpected(started.error());
    spdlog::info("identity provider {}: {} keys, issuer {}, audience {}", source, (*started)->keys(), cfg.jwt_issuer,
                 cfg.jwt_audience);
    return std::move(*started);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tally;
    infra::report_fatal_signals();
    // `tallyd --routes`: the route table's access table (README.md holds it).
    if (argc == 2 && std::string_view(argv[1]) == "--routes") {
        std::cout << http::access_table_markdown();
        return 0;
    }
    // `tallyd --openapi`: the OpenAPI document GET /openapi.json serves, without a server.
    if (argc == 2 && std::string_view(argv[1]) == "--openapi") {
        std::cout << http::openapi_document().dump(1) << "\n";
        return 0;
    }
    if (argc > 1) {
        std::cerr << "usage: tallyd [--routes | --openapi]; configuration comes from the environment (README.md)\n";
        return 2;
    }
    // Two malloc arenas, not glibc's 8 per core: each of tallyd's ~30 threads would otherwise
    // keep memory in an arena of its own (peak RSS of a 20,000-checkout run 75.6 MB with the
    // default, 58.6 MB with 2, at the same throughput; BENCHMARKS.md). MALLOC_ARENA_MAX, when
    // set, is glibc's own and wins.
    if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
    Config cfg;
    try {
        cfg = config_from_env();
    } catch (const std::exception& e) {
        spdlog::error("configuration: {}", e.what());
        return 2;
    }
    auto rate_limits = http::RateLimits::parse(cfg.rate_limit, cfg.rate_limits, cfg.rate_limits_address, cfg.rate_limits_roles);
    if (!rate_limits) {
        spdlog::error("configuration: {}", rate_limits.error());
        return 2;
    }
    auto idp = identity_provider(cfg);
    if (!idp) {
        spdlog::error("configuration: {}", idp.error());
        return 2;
    }
    spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<infra::LocalPostgres> local_pg;
    if (cfg.pg_url.empty()) {
        local_pg = std::make_unique<infra::LocalPostgres>(cfg.data_dir + "/postgres", cfg.pg_port);
        auto url = local_pg->start();
        if (!url) {
            spdlog::error("{}", url.error());
            return 1;
        }
        cfg.pg_url = *url;
    }
    if (!sql::wait_until_ready(cfg.pg_url, std::chrono::seconds(30))) return 1;
    if (auto m = infra::migrate(cfg.pg_url); !m) {
        spdlog::error("migrations failed: {}", m.error().message);
        return 1;
    }

    std::error_code ec;
    std::filesystem::create_directories(cfg.data_dir, ec);
    kafka::set_consumer_fetch_wait(cfg.kafka_fetch_wait_ms);
    std::unique_ptr<kafka::MockCluster> mock;
    if (cfg.kafka_brokers.empty()) {
        mock = std::make_unique<kafka::MockCluster>(1);
        if (!mock->ok()) {
            spdlog::error("cannot start the embedded Kafka mock cluster");
            return 1;
        }
        mock->create_topic(cfg.kafka_topic, cfg.kafka_partitions);
        cfg.kafka_brokers = mock->bootstraps();
        spdlog::info("embedded Kafka (librdkafka mock cluster) at {}", cfg.kafka_brokers);
        // The mock picks a free port each start; auditors' tools (kcat) read it from here.
        std::ofstream(cfg.data_dir + "/kafka.bootstrap") << cfg.kafka_brokers << "\n";
    }

    auto keys = http::KeyRing::from_config(cfg.jwt_keys, cfg.data_dir);
    if (!keys) {
        spdlog::error("{}", keys.error());
        return 2;
    }
    auto checkpoint_key = events::signing_key_from_config(cfg.checkpoint_key, cfg.data_dir);
    if (!checkpoint_key) {
        spdlog::error("{}", checkpoint_key.error());
        return 2;
    }
    auto referral_keys = http::KeyRing::from_config(cfg.referral_keys, cfg.data_dir, "referral.keys", "TALLY_REFERRAL_KEYS");
    if (!referral_keys) {
        spdlog::error("{}", referral_keys.error());
        return 2;
    }

    commands::set_loyalty_enabled(cfg.loyalty);
    if (!cfg.loyalty) spdlog::warn("TALLY_LOYALTY is false: payments, refunds and disputes move no loyalty spend or tier");
    sql::Pool pool(cfg.pg_url, cfg.pg_pool_size);
    infra::Relay relay(pool, cfg.pg_url, cfg.kafka_brokers, cfg.kafka_topic, cfg.kafka_partitions);
    commands::Pipeline pipeline(
        pool,
        commands::PipelineOptions{cfg.batch_commands_max, cfg.batch_wait_us, cfg.queue_commands_max, 3,
                                  cfg.pipeline_writers},
        now_ms, [&relay] { relay.notify(); });

    const std::string process = infra::process_name();
    const projectors::RunnerOptions runner_options{cfg.kafka_session_timeout_ms, process, cfg.projector_store_ignored_ms,
                                                   cfg.projector_statement_timeout_ms};
    std::vector<std::unique_ptr<projectors::Runner>> runners;
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::credit_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::ledger_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::orders_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::loyalty_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::passport_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::affiliates_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::catalog_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::subscriptions_projection(), runner_options));
    runners.push_back(std::make_unique<projectors::Runner>(pool, cfg.kafka_brokers, cfg.kafka_topic,
                                                           projectors::provider_calls_projection(cfg.payout_delay_s * 1000), runner_options));

    // The provider workers run where a secret key is configured; elsewhere the planned
    // calls wait in provider_calls.
    auto endpoint = stripe_api::parse_base(cfg.stripe_api_base);
    if (!endpoint) {
        spdlog::error("TALLY_STRIPE_API_BASE: {}", endpoint.error());
        return 2;
    }
    http::StripeClient stripe_client(*endpoint, cfg.stripe_secret_key, std::chrono::milliseconds(cfg.provider_timeout_ms));
    auto paypal_endpoint = stripe_api::parse_base(cfg.paypal_api_base);
    if (!paypal_endpoint) {
        spdlog::error("TALLY_PAYPAL_API_BASE: {}", paypal_endpoint.error());
        return 2;
    }
    std::unique_ptr<http::PayPalClient> paypal_client;
    if (!cfg.paypal_client_id.empty())
        paypal_client = std::make_unique<http::PayPalClient>(*paypal_endpoint, cfg.paypal_client_id, cfg.paypal_client_secret,
                                                             std::chrono::milliseconds(cfg.provider_timeout_ms));
    std::unique_ptr<commands::ProviderWorker> provider_worker;
    if (!cfg.stripe_secret_key.empty() || paypal_client) {
        commands::ProviderWorkerOptions o;
        o.retry_base_ms = cfg.provider_retry_base_ms;
        o.retry_max_ms = cfg.provider_retry_max_ms;
        o.attempts_max = cfg.provider_attempts_max;
        o.payout_delay_ms = cfg.payout_delay_s * 1000;
        o.threads = cfg.provider_workers;
        // Each provider's calls where its keys are; the others wait for a process that has them.
        if (!cfg.stripe_secret_key.empty()) o.kinds = commands::stripe_call_kinds();
        if (paypal_client)
            for (auto& k : commands::paypal_call_kinds()) o.kinds.push_back(k);
        // A claimed call is another worker's again only after its lease: well past the call's deadline.
        o.lease_ms = std::max<int64_t>(120000, 2 * cfg.provider_timeout_ms + 30000);
        provider_worker =
            std::make_unique<commands::ProviderWorker>(pool, pipeline, stripe_client, o, now_ms, paypal_client.get());
    } else
        spdlog::warn("TALLY_STRIPE_SECRET_KEY is not set: provider calls (intents, refunds, transfers) are planned "
                     "but not made");

    // Abandoned checkouts give their stock and coupon uses back (one process sweeps).
    commands::ExpirySweep expiry_sweep(pool, pipeline,
                                       {int64_t{cfg.payment_window_s} * 1000, cfg.expiry_sweep_interval_ms, 200}, now_ms);
    // After a loyalty program change, customers are re-tiered (one process walks them).
    commands::RetierPass retier_pass(pool, pipeline, {cfg.retier_interval_ms, cfg.retier_batch});
    // Affiliate payouts on the schedule's weekday (one process schedules them).
    std::function<int64_t()> payout_clock = now_ms;
    if (!cfg.payout_clock_file.empty()) payout_clock = file_clock(cfg.payout_clock_file);
    commands::PayoutSchedulerOptions payout_options;
    payout_options.interval_ms = cfg.affiliate_payout_interval_ms;
    commands::AffiliatePayoutScheduler payout_scheduler(pool, pipeline, payout_options, payout_clock);
    // Subscriptions fall due on the scheduler's clock (one process renews).
    {
        subscription::DunningPolicy dunning;
        dunning.retry_after_ms.clear();
        for (const int64_t d : cfg.dunning_retry_days) dunning.retry_after_ms.push_back(d * subscription::kDayMs);
        dunning.grace_ms = cfg.dunning_grace_days * subscription::kDayMs;
        commands::set_dunning_policy(std::move(dunning));
    }
    std::function<int64_t()> subscription_clock = now_ms;
    if (!cfg.subscription_clock_file.empty()) subscription_clock = file_clock(cfg.subscription_clock_file);
    commands::RenewalSchedulerOptions renewal_options;
    renewal_options.interval_ms = cfg.renewal_interval_ms;
    commands::RenewalScheduler renewal_scheduler(pool, pipeline, renewal_options, subscription_clock);
    // Signed checkpoints of the journal (one process signs).
    commands::CheckpointerOptions checkpoint_options;
    checkpoint_options.every_events = cfg.checkpoint_every_events;
    checkpoint_options.every_ms = cfg.checkpoint_every_s * 1000;
    commands::Checkpointer checkpointer(pool, pipeline, *checkpoint_key, checkpoint_options, now_ms);
    // Scheduled reconciliation of every cache against the log (one process reconciles).
    commands::ReconcileJobOptions reconcile_options;
    reconcile_options.interval_ms = cfg.reconcile_interval_s * 1000;
    commands::ReconcileJob reconcile_job(pool, process, reconcile_options, now_ms);

    http::ApiDeps deps;
    deps.pool = &pool;
    deps.pipeline = &pipeline;
    deps.keys = &*keys;
    deps.referral_keys = &*referral_keys;
    deps.idp = idp->get();
    deps.attribution_recent_ms = cfg.attribution_recent_s * 1000;
    for (auto& r : runners) deps.runners.push_back(r.get());
    deps.relay = cfg.run_relay ? &relay : nullptr;
    deps.stripe_webhook_secrets = cfg.stripe_webhook_secrets;
    deps.payout_delay_ms = cfg.payout_delay_s * 1000;
    deps.paypal = paypal_client.get();
    deps.checkpoint_key_id = checkpoint_key->key_id;
    deps.checkpoint_public_key = checkpoint_key->public_key;
    deps.paypal_webhook_id = cfg.paypal_webhook_id;
    deps.clock_ms = now_ms;
    deps.process = process;
    std::optional<http::RateLimiter> limiter;
    if (rate_limits->enabled)
        limiter.emplace(*rate_limits, rate_limits->store == "postgres" ? http::postgres_store(pool) : http::memory_store());
    deps.limiter = limiter ? &*limiter : nullptr;
    deps.metrics_token = cfg.metrics_token;
    deps.metrics_on_api = cfg.metrics_address.empty();
    http::Api api(deps);
    http::Server server({cfg.http_address, cfg.http_port, cfg.http_threads, cfg.body_bytes_max, cfg.http_read_threads,
                         static_cast<size_t>(cfg.http_read_queue), cfg.http_write_threads,
                         static_cast<size_t>(cfg.http_write_queue)},
                        api);
    // /metrics on a listener of its own: one I/O thread answers scrapes itself.
    std::optional<http::Server> metrics_server;
    if (!cfg.metrics_address.empty())
        metrics_server.emplace(http::ServerOptions{cfg.metrics_host, cfg.metrics_port, 1, 4096, 0, 0, 0, 0},
                               http::metrics_listener(cfg.metrics_token));

    pipeline.start();
    if (cfg.run_relay) relay.start();
    if (cfg.run_projectors)
        for (auto& r : runners) r->start();
    if (provider_worker) provider_worker->start();
    expiry_sweep.start();
    retier_pass.start();
    payout_scheduler.start();
    renewal_scheduler.start();
    checkpointer.start();
    reconcile_job.start();
    if (metrics_server) {
        if (!metrics_server->start()) return 1;
        spdlog::info("metrics on http://{}:{}/metrics", cfg.metrics_host, metrics_server->port());
    }
    if (!server.start()) return 1;
    spdlog::info("tallyd ready on http://{}:{}", cfg.http_address, server.port());

    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));

    // Graceful: no new connections, finish every queued batch and answer it, then stop.
    spdlog::info("tallyd stopping: finishing in-flight batches");
    server.stop_accepting();
    // The worker submits to the pipeline: it finishes its call (and records it) first.
    if (provider_worker) provider_worker->stop();
    expiry_sweep.stop();  // it waits on the pipeline too
    retier_pass.stop();
    payout_scheduler.stop();
    renewal_scheduler.stop();
    checkpointer.stop();
    reconcile_job.stop();
    pipeline.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the last answers be written
    server.stop();
    for (auto& r : runners) r->stop();
    relay.stop();
    spdlog::info("tallyd stopped");
    return 0;
}
