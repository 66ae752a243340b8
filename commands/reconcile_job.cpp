#include "commands/reconcile_job.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <mutex>

#include "infra/metrics.h"
#include "infra/ownership.h"

namespace tally::commands {
namespace {

constexpr size_t kStoredDriftsMax = 1000;

// What the metrics show: the last pass of this process (static: the registry outlives jobs).
struct Exported {
    std::mutex mu;
    std::map<std::string, int64_t> drift;  // by cache
    std::atomic<int64_t> last_success_ms{0};
    std::atomic<int64_t> duration_ms{0};
    std::atomic<int64_t> head{0};
};

Exported& exported() {
    static Exported* e = [] {
        auto* x = new Exported;
        auto& m = metrics::global();
        m.help("tally_reconcile_drift", "gauge", "Values that disagree with the log, by cache, at the last reconciliation");
        m.help("tally_reconcile_last_success_timestamp_seconds", "gauge", "When the last reconciliation pass completed");
        m.help("tally_reconcile_duration_seconds", "gauge", "How long the last reconciliation pass took");
        m.help("tally_reconcile_position", "gauge", "The journal position the last reconciliation reached");
        for (const auto& cache : projectors::reconcile::cache_names())
            m.gauge("tally_reconcile_drift", "cache=\"" + cache + "\"", [x, cache] {
                std::lock_guard lock(x->mu);
                auto it = x->drift.find(cache);
                return it == x->drift.end() ? 0.0 : static_cast<double>(it->second);
            });
        m.gauge("tally_reconcile_last_success_timestamp_seconds", "",
                [x] { return static_cast<double>(x->last_success_ms.load()) / 1000.0; });
        m.gauge("tally_reconcile_duration_seconds", "", [x] { return static_cast<double>(x->duration_ms.load()) / 1000.0; });
        m.gauge("tally_reconcile_position", "", [x] { return static_cast<double>(x->head.load()); });
        return x;
    }();
    return *e;
}

}  // namespace

ReconcileJob::ReconcileJob(sql::Pool& pool, std::string process, ReconcileJobOptions options, Clock clock)
    : OwnedJob(pool, infra::locks::kReconcile, "reconciliation", "reconciles the caches against the log",
               std::min(options.poll_ms, options.interval_ms)),
      pool_(pool),
      process_(std::move(process)),
      options_(options),
      clock_(std::move(clock)) {
    exported();
}

ReconcileJob::~ReconcileJob() { stop(); }

bool ReconcileJob::run_once() {
    if (!take_ownership()) {
        owned_before_ = false;
        return false;
    }
    const int64_t now = clock_();
    if (!owned_before_) {
        // Taken (over): the first pass one interval from now, from the beginning.
        owned_before_ = true;
        reconciler_.reset();
        next_ms_ = now + options_.interval_ms;
        return false;
    }
    if (now < next_ms_) return false;
    pass();
    next_ms_ = clock_() + options_.interval_ms;
    return false;
}

bool ReconcileJob::pass() {
    if (!take_ownership()) return false;
    if (!reconciler_) reconciler_ = std::make_unique<projectors::reconcile::Reconciler>();
    const auto started = std::chrono::steady_clock::now();
    auto report = reconciler_->pass(pool_);
    const int64_t took_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (!report) {
        spdlog::error("reconciliation failed: {}", report.error());
        reconciler_.reset();  // start over: what was folded may be partial
        return false;
    }
    const size_t drifting = report->drifts.size();
    projectors::reconcile::Report stored = *report;
    if (stored.drifts.size() > kStoredDriftsMax) stored.drifts.resize(kStoredDriftsMax);
    auto written = lock_session().exec(
        "INSERT INTO reconcile_runs (owner, finished_at_unix_ms, duration_ms, head, events_folded, clean, drifting, report)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        {process_, std::to_string(clock_()), std::to_string(took_ms), std::to_string(report->head),
         std::to_string(report->events_folded), report->clean() ? "true" : "false", std::to_string(drifting),
         projectors::reconcile::to_json(stored)});
    if (!written) {
        spdlog::error("reconciliation: storing the report failed: {}", written.error().message);
        return false;
    }
    auto& e = exported();
    {
        std::lock_guard lock(e.mu);
        for (const auto& c : report->caches) e.drift[c.cache] = c.drifting;
    }
    e.duration_ms = took_ms;
    e.head = report->head;
    e.last_success_ms = clock_();
    if (report->clean())
        spdlog::info("reconciliation: clean up to position {} ({} new events, {} ms)", report->head, report->events_folded,
                     took_ms);
    else
        spdlog::error("reconciliation: {} values DRIFT from the log up to position {} (first: {} {} {}); "
                      "GET /v1/reconcile/last, then tally-replay reconcile --repair",
                      drifting, report->head, report->drifts.front().cache, report->drifts.front().key,
                      report->drifts.front().field);
    return true;
}

}  // namespace tally::commands
