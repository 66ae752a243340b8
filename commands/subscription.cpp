#include "commands/subscription.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "events/registry.h"

namespace tally::commands {
namespace {

Rejection rejection_of(subscription::SubscriptionRejection r, const std::string& id) {
    using R = subscription::SubscriptionRejection;
    const std::string code(subscription::to_string(r));
    switch (r) {
        case R::not_found: return Rejection{RejectionKind::state_forbids, code, "no subscription " + id};  // the route answered 404 first
        case R::plan_invalid: return Rejection{RejectionKind::fix_request, code, "the plan is not valid"};
        case R::pause_not_in_future:
            return Rejection{RejectionKind::fix_request, code, "until_unix_ms must be in the future", {}, "until_unix_ms"};
        case R::pause_too_long:
            return Rejection{RejectionKind::fix_request, code, "a pause ends within 366 days", {}, "until_unix_ms"};
        case R::cancelled: return Rejection{RejectionKind::state_forbids, code, "subscription " + id + " is cancelled"};
        case R::past_due:
            return Rejection{RejectionKind::state_forbids, code, "subscription " + id + " is past due: only cancelling is open"};
        case R::cancellation_scheduled:
            return Rejection{RejectionKind::state_forbids, code, "subscription " + id + " ends at the end of its period"};
    }
    return Rejection{RejectionKind::state_forbids, code, code};
}

class SubscriptionActCommand final : public Command {
public:
    explicit SubscriptionActCommand(SubscriptionAct act)
        : act_(std::move(act)), stream_(subscription::stream_id(act_.subscription_id)), streams_{stream_} {
        join_streams(act_.order_cancellation.get(), streams_, read_streams_);
    }
    std::vector<std::string> streams() const override { return streams_; }
    std::vector<std::string> read_streams() const override { return read_streams_; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const auto state = subscription_state(states, stream_);
        if (state.subscription_id().empty())
            return rejection_of(subscription::SubscriptionRejection::not_found, act_.subscription_id);
        const bool owner = ctx.role == "customer" && ctx.actor == state.customer_id();
        const bool staff = ctx.role == "admin" || (ctx.role == "employee" && has_permission(ctx.permissions, "orders", "manage"));
        if (!owner && !staff)
            return Rejection{RejectionKind::forbidden, "forbidden", "only its customer or staff change a subscription"};
        Accepted a;
        v1::SubscriptionState next = state;
        auto append = [&](std::string_view type, const auto& event) {
            next = subscription::evolve(std::move(next), event);
            a.events.push_back({stream_, std::string(type), 1, event.SerializeAsString()});
        };
        std::optional<Rejection> refused;
        std::visit(
            [&](const auto& act) {
                using T = std::decay_t<decltype(act)>;
                if constexpr (std::is_same_v<T, ChangePlan>) {
                    const auto plan = merged_plan(state.plan(), act.change);
                    if (auto problem = subscription::check_plan(plan)) {
                        refused = Rejection{RejectionKind::fix_request, "plan_invalid", *problem};
                        return;
                    }
                    auto e = subscription::change(state, plan);
                    if (!e) refused = rejection_of(e.error(), act_.subscription_id);
                    else append(events::kSubscriptionChanged, *e);
                } else if constexpr (std::is_same_v<T, PauseUntil>) {
                    auto e = subscription::pause(state, act.until_unix_ms, ctx.now_unix_ms);
                    if (!e) refused = rejection_of(e.error(), act_.subscription_id);
                    else append(events::kSubscriptionPaused, *e);
                } else if constexpr (std::is_same_v<T, SkipNext>) {
                    auto e = subscription::skip_next(state);
                    if (!e) refused = rejection_of(e.error(), act_.subscription_id);
                    else append(events::kSubscriptionSkipRequested, *e);
                } else {
                    auto c = subscription::cancel(state, act.mode, act.reason, ctx.now_unix_ms);
                    if (!c) refused = rejection_of(c.error(), act_.subscription_id);
                    else if (c->requested) append(events::kSubscriptionCancelRequested, *c->requested);
                    else append(events::kSubscriptionCancelled, *c->cancelled);
                }
            },
            act_.act);
        if (refused) return *refused;
        a.new_states[stream_] = next.SerializeAsString();
        // An immediate cancellation: the current period's order goes with it, unless it cannot.
        std::string order_kept;
        std::string order_cancelled;
        if (next.status() == "cancelled" && next.cancel_mode() == "immediately") {
            const std::string named = next.renewals().empty() ? "" : next.renewals().rbegin()->order_id();
            if (named != act_.order_id)
                return Rejection{RejectionKind::retry_later, "subscription_changed", "the subscription changed; retry"};
            if (act_.order_cancellation) {
                if (auto refused = decide_inside(*act_.order_cancellation, a, states, ctx)) order_kept = *refused;
                else order_cancelled = named;
            } else if (!named.empty()) {
                order_kept = "order_not_cancellable";
            }
        }
        a.reply = [next, order_cancelled, order_kept](const std::vector<v1::EventEnvelope>& written) {
            nlohmann::json out = {{"subscription_id", next.subscription_id()},
                                  {"status", next.status()},
                                  {"event", written.front().type()},
                                  {"position", written.front().position()}};
            if (next.cancel_at_unix_ms() != 0) out["cancel_at_unix_ms"] = next.cancel_at_unix_ms();
            if (next.paused_until_unix_ms() != 0) out["paused_until_unix_ms"] = next.paused_until_unix_ms();
            if (!order_cancelled.empty()) out["order_cancelled"] = order_cancelled;
            if (!order_kept.empty())
                out["order_kept"] = {{"order_id", next.renewals().rbegin()->order_id()}, {"reason", order_kept}};
            return Reply{200, out.dump()};
        };
        return a;
    }

private:
    SubscriptionAct act_;
    std::string stream_;
    std::vector<std::string> streams_, read_streams_;
};

}  // namespace

std::unique_ptr<Command> subscription_act(SubscriptionAct act) {
    return std::make_unique<SubscriptionActCommand>(std::move(act));
}

Claims subscriptions_claims() { return {"system:subscriptions", "system", 1}; }

v1::SubscriptionState subscription_state(const std::map<std::string, StreamState>& states, const std::string& stream) {
    return parse_state<v1::SubscriptionState>(states.at(stream).state).value_or(v1::SubscriptionState{});
}

void join_streams(const Command* inner, std::vector<std::string>& streams, std::vector<std::string>& read_streams) {
    if (!inner) return;
    for (auto& id : inner->streams())
        if (std::find(streams.begin(), streams.end(), id) == streams.end()) streams.push_back(std::move(id));
    for (auto& id : inner->read_streams())
        if (std::find(read_streams.begin(), read_streams.end(), id) == read_streams.end()) read_streams.push_back(std::move(id));
}

std::optional<std::string> decide_inside(const Command& inner, Accepted& a, const std::map<std::string, StreamState>& states,
                                         const DecideContext& ctx) {
    DecideContext system = ctx;
    system.role = "system";
    system.actor = subscriptions_claims().principal_id;
    system.permissions.clear();
    auto decided = inner.decide(states, system);
    auto* ok = std::get_if<Accepted>(&decided);
    if (!ok) return std::get<Rejection>(decided).code;
    for (auto& e : ok->events) a.events.push_back(std::move(e));
    for (auto& [id, bytes] : ok->new_states) a.new_states[id] = std::move(bytes);
    return std::nullopt;
}

v1::SubscriptionPlan merged_plan(const v1::SubscriptionPlan& current, const v1::SubscriptionChangeRequest& change) {
    v1::SubscriptionPlan plan = current;
    if (!change.lines().empty()) *plan.mutable_lines() = change.lines();
    if (!change.ship_to_country().empty()) plan.set_ship_to_country(change.ship_to_country());
    if (change.clear_coupons()) plan.clear_coupon_codes();
    if (!change.coupon_codes().empty()) *plan.mutable_coupon_codes() = change.coupon_codes();
    return plan;
}

}  // namespace tally::commands
