#include "commands/renewal_scheduler.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <thread>

#include "commands/lifecycle.h"
#include "commands/renewal.h"
#include "commands/subscription.h"
#include "domain/catalog.h"
#include "domain/order.h"
#include "domain/subscription.h"
#include "events/envelope.h"
#include "infra/journal.h"
#include "infra/metrics.h"
#include "infra/ownership.h"

namespace tally::commands {

RenewalScheduler::RenewalScheduler(sql::Pool& pool, Pipeline& pipeline, RenewalSchedulerOptions options,
                                   std::function<int64_t()> clock_ms)
    : OwnedJob(pool, infra::locks::kRenewals, "renewal scheduler", "renews subscriptions", options.interval_ms),
      pool_(pool),
      pipeline_(pipeline),
      options_(options),
      clock_ms_(std::move(clock_ms)) {
    metrics::global().help("tally_subscription_steps_total", "counter",
                           "What the renewal scheduler did: renewed, skipped, retried, ended");
}

RenewalScheduler::~RenewalScheduler() { stop(); }

bool RenewalScheduler::run_once() {
    const auto pass = run_pass();
    return pass.subscriptions >= options_.batch_max;  // a full batch: more may be due
}

RenewalScheduler::Pass RenewalScheduler::run_pass() {
    Pass pass;
    if (!take_ownership()) return pass;
    const int64_t now = clock_ms_();
    std::vector<std::string> due;
    auto read = pool_.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT subscription_id FROM subscriptions WHERE status <> 'cancelled'"
                                     " AND next_due_unix_ms <= $1::bigint ORDER BY next_due_unix_ms, subscription_id LIMIT $2",
                                     {std::to_string(now), std::to_string(options_.batch_max)}))
            due.push_back(r.str(0));
    });
    if (!read) {
        spdlog::warn("renewal scheduler: reading what is due: {}", read.error().message);
        return pass;
    }
    pass.subscriptions = static_cast<int>(due.size());
    // A few subscriptions at once, so that their commands share the pipeline's batches;
    // each subscription is one thread's, so its own steps stay in order.
    std::atomic<size_t> next{0};
    std::vector<Pass> passes(static_cast<size_t>(std::max(1, options_.in_flight)));
    auto work = [&](Pass& mine) {
        for (size_t i; (i = next++) < due.size();)
            for (int n = 0; n < options_.steps_per_subscription_max && step(due[i], now, mine); ++n) {
            }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < passes.size() && t < due.size(); ++t) threads.emplace_back(work, std::ref(passes[t]));
    work(passes[0]);
    for (auto& t : threads) t.join();
    for (const auto& p : passes) {
        pass.renewed += p.renewed;
        pass.skipped += p.skipped;
        pass.retried += p.retried;
        pass.ended += p.ended;
    }
    return pass;
}

bool RenewalScheduler::step(const std::string& id, int64_t now, Pass& pass) {
    using Kind = subscription::Due::Kind;
    const std::string stream = subscription::stream_id(id);
    v1::SubscriptionState state;
    subscription::Due due;
    std::string unpaid;                          // the order of the period dunning gave up on
    std::map<std::string, std::string> related;  // the plan's products (renew), or that order (the end)
    // One read: the subscription, what falls due, and what that step needs beside it.
    auto read = pool_.transact([&](sql::Tx& tx) {
        auto states = journal::read_states(tx, {stream});
        if (!state.ParseFromString(states[stream]) || state.subscription_id().empty()) return;
        due = subscription::due(state, dunning_policy(), now);
        std::vector<std::string> streams;
        if (due.kind == Kind::renew)
            for (const auto& l : state.plan().lines()) streams.push_back(catalog::product_stream(l.sku()));
        if (due.kind == Kind::cancel && due.reason == "dunning" && state.has_dunning())
            for (const auto& r : state.renewals())
                if (r.period() == state.dunning().period()) unpaid = r.order_id();
        if (!unpaid.empty()) streams.push_back(order::stream_id(unpaid));
        if (!streams.empty()) related = journal::read_states(tx, streams);
    });
    if (!read || state.subscription_id().empty() || due.kind == Kind::none) return false;

    std::unique_ptr<Command> command;
    std::string key;
    if (due.kind == Kind::renew) {
        // The plan's products' vendors, so the batch reads them too.
        std::vector<std::string> vendors;
        for (const auto& [sid, bytes] : related) {
            v1::ProductDefinition p;
            if (p.ParseFromString(bytes)) vendors.push_back(catalog::vendor_stream(p.vendor_id()));
        }
        RenewalRequest req{state.plan(), id, state.customer_id(), state.currency(), state.interval(),
                           due.period, std::move(vendors), now, "", loyalty_enabled()};
        if (due.period == 1)  // a first order never paid ends it instead
            for (const auto& r : state.renewals())
                if (r.period() == 0) req.first_order_id = r.order_id();
        command = renew_subscription(std::move(req));
        key = subscription::renewal_payment_key(id, due.period);
    } else if (due.kind == Kind::skip) {
        command = subscription_step({id, due, nullptr, now});
        key = subscription::renewal_payment_key(id, due.period);  // the period's one step: renewed or skipped
    } else if (due.kind == Kind::retry) {
        command = subscription_step({id, due, nullptr, now});
        key = subscription::retry_payment_key(id, due.period, due.attempt);
    } else {
        // After dunning, the unpaid order is cancelled with the subscription.
        std::unique_ptr<Command> cancellation;
        v1::OrderState o;
        const auto found = related.find(order::stream_id(unpaid));
        if (found != related.end() && o.ParseFromString(found->second) && !o.cancelled() && !o.paid())
            cancellation = change_order(cancellation_of(o, lifecycle::Cancel{"subscription " + id + " unpaid after dunning", false, 0, 0}));
        command = subscription_step({id, due, std::move(cancellation), now});
        key = "subscription-end-" + id;
    }
    auto outcome = submit_and_wait(pipeline_, subscriptions_claims(), std::move(command), key,
                                   events::sha256("renewal scheduler\n" + key));
    if (auto* rej = std::get_if<Rejection>(&outcome)) {
        // Changed meanwhile (a customer's act, another process): the next pass sees it afresh.
        if (rej->kind != RejectionKind::state_forbids)
            spdlog::warn("renewal scheduler: {} ({}): {}: {}", id, key, rej->code, rej->detail);
        return false;
    }
    const char* what = due.kind == Kind::renew ? "renewed" : due.kind == Kind::skip ? "skipped"
                       : due.kind == Kind::retry ? "retried" : "ended";
    (due.kind == Kind::renew ? pass.renewed : due.kind == Kind::skip ? pass.skipped : due.kind == Kind::retry ? pass.retried : pass.ended)++;
    metrics::global().counter("tally_subscription_steps_total", std::string("step=\"") + what + "\"").add();
    return true;
}

}  // namespace tally::commands
