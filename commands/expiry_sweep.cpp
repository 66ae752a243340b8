#include "commands/expiry_sweep.h"

#include <spdlog/spdlog.h>

#include "commands/lifecycle.h"
#include "domain/order.h"
#include "events/envelope.h"
#include "infra/journal.h"
#include "infra/metrics.h"
#include "infra/ownership.h"

namespace tally::commands {
namespace {

Claims sweeper_claims() { return {"system:sweeper", "system", 1}; }

}  // namespace

ExpirySweep::ExpirySweep(sql::Pool& pool, Pipeline& pipeline, ExpirySweepOptions options,
                         std::function<int64_t()> clock_ms)
    : OwnedJob(pool, infra::locks::kExpirySweep, "expiry sweep",
               "sweeps (window " + std::to_string(options.window_ms / 1000) + " s)", options.interval_ms),
      pool_(pool),
      pipeline_(pipeline),
      options_(options),
      clock_ms_(std::move(clock_ms)) {
    metrics::global().help("tally_orders_expired_total", "counter", "Orders cancelled because their payment window passed");
}

ExpirySweep::~ExpirySweep() { stop(); }

bool ExpirySweep::run_once() {
    sweep_once();
    return false;  // the next pass after the interval
}

int ExpirySweep::sweep_once() {
    if (!take_ownership()) return 0;
    const int64_t now = clock_ms_();
    std::vector<std::string> due;
    auto read = pool_.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT order_id FROM orders WHERE status = 'awaiting_payment' AND NOT renewal"
                                     " AND placed_at_unix_ms <= $1::bigint ORDER BY placed_at_unix_ms, order_id LIMIT $2",
                                     {std::to_string(now - options_.window_ms), std::to_string(options_.batch_max)}))
            due.push_back(r.str(0));
    });
    if (!read) {
        spdlog::warn("expiry sweep: reading due orders: {}", read.error().message);
        return 0;
    }
    int expired = 0;
    for (const auto& order_id : due) {
        std::map<std::string, std::string> states;
        auto r = pool_.transact([&](sql::Tx& tx) { states = journal::read_states(tx, {order::stream_id(order_id)}); });
        v1::OrderState state;
        if (!r || states.empty() || !state.ParseFromString(states.begin()->second)) continue;
        lifecycle::Cancel cancel{"expired: not paid within " + std::to_string(options_.window_ms / 1000) + " s", true, now,
                                 options_.window_ms};
        const std::string key = "expire-" + order_id;
        auto outcome = submit_and_wait(pipeline_, sweeper_claims(), change_order(cancellation_of(state, std::move(cancel))),
                                       key, events::sha256("expiry sweep\n" + key));
        if (auto* reply = std::get_if<Reply>(&outcome)) {
            if (!reply->replayed) {
                ++expired;
                metrics::global().counter("tally_orders_expired_total").add();
                spdlog::info("expiry sweep: order {} cancelled (not paid within the window)", order_id);
            }
        } else {
            const auto& rej = std::get<Rejection>(outcome);
            // Paid meanwhile, or already cancelled: the projection had not caught up. Nothing to do.
            if (rej.kind != RejectionKind::state_forbids)
                spdlog::warn("expiry sweep: order {}: {}: {}", order_id, rej.code, rej.detail);
        }
    }
    return expired;
}

}  // namespace tally::commands
