#include "commands/renewal.h"

#include <algorithm>
#include <variant>

#include <nlohmann/json.hpp>

#include "commands/checkout.h"
#include "commands/loyalty.h"
#include "commands/pricing_view.h"
#include "commands/subscription.h"
#include "domain/assert.h"
#include "domain/catalog.h"
#include "domain/lifecycle.h"
#include "domain/order.h"
#include "domain/stock.h"
#include "events/registry.h"

namespace tally::commands {
namespace {

subscription::DunningPolicy g_dunning;

// What the scheduler's command sees inside its batch: the subscription as locked, and what
// falls due on the scheduler's clock (the pipeline's when it gave none). Refused unless
// the command comes from the scheduler.
struct SchedulerView {
    int64_t now = 0;
    v1::SubscriptionState state;
    subscription::Due due;
};
std::variant<SchedulerView, Rejection> scheduler_view(const std::map<std::string, StreamState>& states,
                                                      const DecideContext& ctx, const std::string& stream,
                                                      int64_t scheduler_now) {
    if (ctx.role != "system" || ctx.actor != subscriptions_claims().principal_id)
        return Rejection{RejectionKind::forbidden, "forbidden", "only the renewal scheduler renews subscriptions"};
    SchedulerView v{scheduler_now ? scheduler_now : ctx.now_unix_ms, subscription_state(states, stream), {}};
    v.due = subscription::due(v.state, dunning_policy(), v.now);
    return v;
}

template <typename Event>
void append(Accepted& a, v1::SubscriptionState& state, const std::string& stream, std::string_view type, const Event& e) {
    state = subscription::evolve(std::move(state), e);
    a.events.push_back({stream, std::string(type), 1, e.SerializeAsString()});
}

class Renew final : public Command {
public:
    explicit Renew(RenewalRequest req)
        : req_(std::move(req)),
          cart_(renewal_cart(req_.plan, req_.currency, req_.interval)),
          stream_(subscription::stream_id(req_.subscription_id)),
          order_id_(subscription::renewal_order_id(req_.subscription_id, req_.period)) {
        streams_ = {stream_, order::stream_id(order_id_)};
        if (req_.loyalty) streams_.push_back(loyalty::stream_id(req_.customer_id));
        for (const auto& l : cart_.lines) streams_.push_back(stock::stream_id(l.sku));
        for (const auto& code : cart_.coupon_codes) streams_.push_back(catalog::coupon_stream(code));
        auto add_read = [this](std::string id) {
            if (std::find(streams_.begin(), streams_.end(), id) == streams_.end() &&
                std::find(read_streams_.begin(), read_streams_.end(), id) == read_streams_.end())
                read_streams_.push_back(std::move(id));
        };
        for (auto& id : first_streams(cart_, req_.customer_id)) add_read(std::move(id));
        for (const auto& id : req_.vendor_streams) add_read(id);
        if (!req_.first_order_id.empty()) add_read(order::stream_id(req_.first_order_id));
    }
    std::vector<std::string> streams() const override { return streams_; }
    std::vector<std::string> read_streams() const override { return read_streams_; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        auto view = scheduler_view(states, ctx, stream_, req_.now_unix_ms);
        if (auto* refused = std::get_if<Rejection>(&view)) return *refused;
        const auto& [now, state, due] = std::get<SchedulerView>(view);
        if (due.kind != subscription::Due::Kind::renew || due.period != req_.period)
            return Rejection{RejectionKind::state_forbids, "renewal_not_due",
                             "period " + std::to_string(req_.period) + " of " + req_.subscription_id + " is not due for renewal"};
        if (state.plan().SerializeAsString() != req_.plan.SerializeAsString())
            return Rejection{RejectionKind::retry_later, "subscription_changed", "the plan changed; retry"};
        if (auto unpaid = first_order_unpaid(state, states, now)) return *unpaid;
        if (states.at(order::stream_id(order_id_)).version > 0)
            return Rejection{RejectionKind::state_forbids, "order_exists", "order " + order_id_ + " exists"};
        const StateOf state_of = [&states](const std::string& id) -> std::string_view {
            auto it = states.find(id);
            return it == states.end() ? std::string_view() : std::string_view(it->second.state);
        };
        for (const auto& v : vendor_streams(cart_, state_of))
            if (!states.contains(v)) return Rejection{RejectionKind::retry_later, "catalog_changed", "the catalog changed; retry"};

        Accepted a;
        v1::SubscriptionState next = state;
        // Lines out of stock are left out of this period, and the customer is told.
        pricing::Cart cart = cart_;
        cart.lines.clear();
        std::map<std::string, int64_t> taken;
        std::vector<std::string> left_out;
        for (const auto& l : cart_.lines) {
            const auto level = stock::from_snapshot(l.sku, states.at(stock::stream_id(l.sku)).state);
            const int64_t available = level.available - taken[l.sku];
            if (available >= l.quantity) {
                cart.lines.push_back(l);
                taken[l.sku] += l.quantity;
                continue;
            }
            v1::RenewalLineSkipped e;
            e.set_subscription_id(req_.subscription_id);
            e.set_customer_id(req_.customer_id);
            e.set_period(req_.period);
            e.set_sku(l.sku);
            e.set_quantity(l.quantity);
            e.set_reason("out_of_stock");
            e.set_available(std::max<int64_t>(0, available));
            append(a, next, stream_, events::kRenewalLineSkipped, e);
            left_out.push_back(l.sku);
        }
        if (cart.lines.empty()) return skipped(std::move(a), std::move(next), "out_of_stock", left_out);
        // Priced on the server now: the subscription prices, loyalty, shipping, and the
        // coupons if they still apply (else the period is priced without them).
        auto inputs = assemble(cart, req_.customer_id, state_of);
        auto priced = pricing::price(cart, inputs.catalog, inputs.customer, now);
        std::vector<std::string> coupons_dropped;
        if (!priced && !cart.coupon_codes.empty()) {
            coupons_dropped = cart.coupon_codes;
            cart.coupon_codes.clear();
            inputs = assemble(cart, req_.customer_id, state_of);
            priced = pricing::price(cart, inputs.catalog, inputs.customer, now);
        }
        if (!priced)
            return skipped(std::move(a), std::move(next), std::string(pricing::to_string(priced.error().code)), left_out);
        const pricing::Breakdown& b = *priced;
        const std::string key = subscription::renewal_payment_key(req_.subscription_id, req_.period);
        auto placed = order::place(order_id_, req_.customer_id, cart, inputs.catalog, b, b.zero_payment ? "" : key);
        placed.set_placed_at_unix_ms(now);
        placed.mutable_pricing()->set_loyalty_tier(inputs.loyalty_tier);
        placed.mutable_pricing()->set_loyalty_discount_bps(inputs.customer.loyalty_discount_bps);
        placed.mutable_subscription()->set_subscription_id(req_.subscription_id);
        placed.mutable_subscription()->set_period(req_.period);
        placed.mutable_subscription()->set_payment_method(state.payment_method());
        const std::string order_stream = order::stream_id(order_id_);
        a.events.push_back({order_stream, std::string(events::kOrderPlaced), 1, placed.SerializeAsString()});
        a.new_states[order_stream] = lifecycle::initial_state(placed).SerializeAsString();
        if (b.zero_payment && req_.loyalty)
            record_loyalty(a, req_.customer_id, states,
                           loyalty::OrderPaid{order_id_, std::string(b.currency.code()), b.total_minor});
        if (auto no = reserve_stock(a, states, cart.lines, order_id_)) return *no;
        redeem_coupons(a, states, b.coupons, order_id_, req_.customer_id);

        v1::RenewalPlaced renewed;
        renewed.set_subscription_id(req_.subscription_id);
        renewed.set_period(req_.period);
        renewed.set_order_id(order_id_);
        renewed.set_total_minor(b.total_minor);
        renewed.set_amount_due_minor(b.amount_due_minor);
        renewed.set_payment_key(b.zero_payment ? "" : key);
        renewed.set_at_unix_ms(now);
        append(a, next, stream_, events::kRenewalPlaced, renewed);
        if (b.zero_payment)  // nothing to charge: paid on placing
            if (auto paid = subscription::payment_succeeded(next, req_.period)) append(a, next, stream_, events::kRenewalPaid, *paid);
        a.new_states[stream_] = next.SerializeAsString();
        a.reply = [order = order_id_, period = req_.period, sub = req_.subscription_id, total = b.total_minor,
                   due = b.amount_due_minor, left_out, coupons_dropped](const std::vector<v1::EventEnvelope>& written) {
            return Reply{201, nlohmann::json{{"subscription_id", sub},
                                             {"period", period},
                                             {"order_id", order},
                                             {"total_minor", total},
                                             {"amount_due_minor", due},
                                             {"lines_left_out", left_out},
                                             {"coupons_dropped", coupons_dropped},
                                             {"position", written.front().position()}}
                                  .dump()};
        };
        return a;
    }

private:
    // The first order cancelled without being paid (abandoned at checkout): the subscription
    // never started in earnest, and ends here rather than charge a card for period 1.
    std::optional<Decision> first_order_unpaid(const v1::SubscriptionState& state,
                                               const std::map<std::string, StreamState>& states, int64_t now) const {
        if (req_.period != 1) return std::nullopt;
        std::string first;
        for (const auto& r : state.renewals())
            if (r.period() == 0) first = r.order_id();
        if (first != req_.first_order_id)
            return Rejection{RejectionKind::retry_later, "subscription_changed", "the first order differs; retry"};
        if (first.empty()) return std::nullopt;
        v1::OrderState order;
        if (!order.ParseFromString(states.at(order::stream_id(first)).state) || !order.cancelled() || order.paid())
            return std::nullopt;
        Accepted a;
        v1::SubscriptionState next = state;
        v1::SubscriptionCancelled e;
        e.set_subscription_id(req_.subscription_id);
        e.set_mode("first_order_unpaid");
        e.set_at_unix_ms(now);
        e.set_reason("the first order " + first + " was cancelled unpaid");
        append(a, next, stream_, events::kSubscriptionCancelled, e);
        a.new_states[stream_] = next.SerializeAsString();
        a.reply = [sub = req_.subscription_id, period = req_.period](const std::vector<v1::EventEnvelope>& w) {
            return Reply{200, nlohmann::json{{"subscription_id", sub},
                                             {"period", period},
                                             {"status", "cancelled"},
                                             {"event", w.front().type()},
                                             {"position", w.front().position()}}
                                  .dump()};
        };
        return a;
    }

    Accepted skipped(Accepted a, v1::SubscriptionState next, const std::string& reason,
                     const std::vector<std::string>& left_out) const {
        v1::RenewalSkipped e;
        e.set_subscription_id(req_.subscription_id);
        e.set_period(req_.period);
        e.set_reason(reason);
        append(a, next, stream_, events::kRenewalSkipped, e);
        a.new_states[stream_] = next.SerializeAsString();
        a.reply = [sub = req_.subscription_id, period = req_.period, reason, left_out](const std::vector<v1::EventEnvelope>& w) {
            return Reply{200, nlohmann::json{{"subscription_id", sub},
                                             {"period", period},
                                             {"skipped", reason},
                                             {"lines_left_out", left_out},
                                             {"position", w.front().position()}}
                                  .dump()};
        };
        return a;
    }

    RenewalRequest req_;
    pricing::Cart cart_;
    std::string stream_, order_id_;
    std::vector<std::string> streams_, read_streams_;
};

class Step final : public Command {
public:
    explicit Step(SubscriptionStep step)
        : step_(std::move(step)), stream_(subscription::stream_id(step_.subscription_id)), streams_{stream_} {
        join_streams(step_.order_cancellation.get(), streams_, read_streams_);
    }
    std::vector<std::string> streams() const override { return streams_; }
    std::vector<std::string> read_streams() const override { return read_streams_; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        auto view = scheduler_view(states, ctx, stream_, step_.now_unix_ms);
        if (auto* refused = std::get_if<Rejection>(&view)) return *refused;
        const auto& [now, state, due] = std::get<SchedulerView>(view);
        using Kind = subscription::Due::Kind;
        if (due.kind != step_.due.kind || due.period != step_.due.period || due.attempt != step_.due.attempt ||
            due.kind == Kind::none || due.kind == Kind::renew)
            return Rejection{RejectionKind::state_forbids, "step_not_due", "that is not what falls due now"};
        Accepted a;
        v1::SubscriptionState next = state;
        std::string order_cancelled, order_kept;
        if (due.kind == Kind::skip) {
            v1::RenewalSkipped e;
            e.set_subscription_id(state.subscription_id());
            e.set_period(due.period);
            e.set_reason(due.reason);
            append(a, next, stream_, events::kRenewalSkipped, e);
        } else if (due.kind == Kind::retry) {
            const v1::SubscriptionRenewal* renewal = nullptr;
            for (const auto& r : state.renewals())
                if (r.period() == due.period) renewal = &r;
            if (!renewal)
                return Rejection{RejectionKind::internal, "renewal_missing", "period " + std::to_string(due.period) + " has no renewal"};
            v1::RenewalRetryRequested e;
            e.set_subscription_id(state.subscription_id());
            e.set_period(due.period);
            e.set_attempt(due.attempt);
            e.set_payment_key(subscription::retry_payment_key(state.subscription_id(), due.period, due.attempt));
            e.set_order_id(renewal->order_id());
            e.set_amount_minor(renewal->amount_due_minor());
            e.set_currency(state.currency());
            e.set_at_unix_ms(now);
            append(a, next, stream_, events::kRenewalRetryRequested, e);
        } else {
            v1::SubscriptionCancelled e;
            e.set_subscription_id(state.subscription_id());
            e.set_mode(due.reason);
            e.set_at_unix_ms(now);
            e.set_reason(due.reason == "dunning" ? "unpaid after dunning" : "cancelled at the end of the period");
            std::string unpaid;  // the period dunning gave up on
            if (state.has_dunning())
                for (const auto& r : state.renewals())
                    if (r.period() == state.dunning().period()) unpaid = r.order_id();
            if (due.reason == "dunning") e.set_order_to_cancel(unpaid);
            append(a, next, stream_, events::kSubscriptionCancelled, e);
            // After dunning, the unpaid order goes with it: its stock and coupon uses come back.
            if (step_.order_cancellation && !unpaid.empty()) {
                if (auto refused = decide_inside(*step_.order_cancellation, a, states, ctx)) order_kept = *refused;
                else order_cancelled = unpaid;
            }
        }
        a.new_states[stream_] = next.SerializeAsString();
        a.reply = [next, order_cancelled, order_kept](const std::vector<v1::EventEnvelope>& w) {
            nlohmann::json out = {{"subscription_id", next.subscription_id()},
                                  {"status", next.status()},
                                  {"event", w.front().type()},
                                  {"position", w.front().position()}};
            if (!order_cancelled.empty()) out["order_cancelled"] = order_cancelled;
            if (!order_kept.empty()) out["order_kept"] = order_kept;
            return Reply{200, out.dump()};
        };
        return a;
    }

private:
    SubscriptionStep step_;
    std::string stream_;
    std::vector<std::string> streams_, read_streams_;
};

class RecordOutcome final : public Command {
public:
    explicit RecordOutcome(RenewalOutcome o) : o_(std::move(o)), stream_(subscription::stream_id(o_.subscription_id)) {}
    std::vector<std::string> streams() const override { return {stream_}; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "system") return Rejection{RejectionKind::forbidden, "forbidden", "provider outcomes come from the workers"};
        auto state = subscription_state(states, stream_);
        Accepted a;
        v1::SubscriptionState next = state;
        if (o_.paid) {
            auto paid = subscription::payment_succeeded(state, o_.period);
            if (!paid) return nothing();
            append(a, next, stream_, events::kRenewalPaid, *paid);
        } else {
            auto failed = subscription::payment_failed(state, dunning_policy(), o_.period, o_.attempt, o_.code, ctx.now_unix_ms);
            if (!failed) return nothing();
            append(a, next, stream_, events::kRenewalPaymentFailed, failed->failed);
            if (failed->past_due) append(a, next, stream_, events::kSubscriptionPastDue, *failed->past_due);
        }
        a.new_states[stream_] = next.SerializeAsString();
        a.reply = [next](const std::vector<v1::EventEnvelope>& w) {
            return Reply{200, nlohmann::json{{"subscription_id", next.subscription_id()},
                                             {"status", next.status()},
                                             {"event", w.back().type()},
                                             {"position", w.front().position()}}
                                  .dump()};
        };
        return a;
    }

private:
    static Rejection nothing() {
        return Rejection{RejectionKind::state_forbids, "outcome_recorded", "the period's payment is settled or not awaited"};
    }
    RenewalOutcome o_;
    std::string stream_;
};

}  // namespace

pricing::Cart renewal_cart(const v1::SubscriptionPlan& plan, const std::string& currency, const std::string& interval) {
    const auto parsed = Currency::parse(currency);
    TALLY_ASSERT(parsed.has_value(), "a subscription in currency {}", currency);
    pricing::Cart cart{*parsed, {}, {}, "", false, interval};
    for (const auto& l : plan.lines())
        cart.lines.push_back({l.sku(), l.quantity(), {l.material(), l.finish(), l.turnaround()}, l.variant_id()});
    cart.coupon_codes = {plan.coupon_codes().begin(), plan.coupon_codes().end()};
    cart.ship_to_country = plan.ship_to_country();
    return cart;
}

std::unique_ptr<Command> renew_subscription(RenewalRequest req) { return std::make_unique<Renew>(std::move(req)); }
std::unique_ptr<Command> subscription_step(SubscriptionStep step) { return std::make_unique<Step>(std::move(step)); }
std::unique_ptr<Command> renewal_outcome(RenewalOutcome outcome) { return std::make_unique<RecordOutcome>(std::move(outcome)); }

const subscription::DunningPolicy& dunning_policy() { return g_dunning; }
void set_dunning_policy(subscription::DunningPolicy policy) { g_dunning = std::move(policy); }

}  // namespace tally::commands
