#include "commands/lifecycle.h"

#include "commands/loyalty.h"

#include <nlohmann/json.hpp>

#include "domain/catalog.h"
#include "domain/credit.h"
#include "domain/order.h"
#include "domain/stock.h"
#include "events/registry.h"

namespace tally::commands {
namespace {

using nlohmann::json;

RejectionKind kind_of(lifecycle::Refusal r) {
    switch (r) {
        case lifecycle::Refusal::unknown_vendor:
        case lifecycle::Refusal::tracking_required:
        case lifecycle::Refusal::nothing_to_refund:
        case lifecycle::Refusal::refund_exceeds_captured:
        case lifecycle::Refusal::unknown_line: return RejectionKind::fix_request;
        default: return RejectionKind::state_forbids;
    }
}

// Appends the lifecycle events (and any credit they give back) to `accepted`; the
// order's state after them.
lifecycle::State append(Accepted& accepted, const std::string& order_stream, lifecycle::State state,
            const std::vector<lifecycle::Event>& events, const std::map<std::string, StreamState>& states,
            const std::string& reason, bool loyalty) {
    const std::string credit_stream = credit::stream_id(order::owner(state));
    std::optional<credit::CreditAccount> account;
    for (const auto& e : events) {
        accepted.events.push_back({order_stream, std::string(lifecycle::type_of(e)), 1, lifecycle::serialize(e)});
        const lifecycle::State before = state;
        state = lifecycle::evolve(std::move(state), e);
        // Spend and tier move in this batch, with the order event that moves them.
        if (loyalty)
            for (const auto& fact : loyalty_facts(before, state, e)) record_loyalty(accepted, order::owner(state), states, fact);
        if (const int64_t back = lifecycle::credit_returned(e); back > 0) {
            if (!account) account = credit::from_snapshot(order::owner(state), states.at(credit_stream).state);
            auto returned = credit::return_credit(*account, state.order_id(), Money{back, *Currency::parse(state.currency())},
                                                  reason);
            account = credit::evolve(*account, returned);
            accepted.events.push_back({credit_stream, std::string(events::kCreditReturned), 1, returned.SerializeAsString()});
        }
    }
    accepted.new_states[order_stream] = state.SerializeAsString();
    if (account) accepted.new_states[credit_stream] = credit::to_snapshot(*account);
    return state;
}

json summary(const lifecycle::State& state, const std::vector<v1::EventEnvelope>& written) {
    json types = json::array(), subs = json::object();
    for (const auto& e : written) types.push_back(e.type());
    for (const auto& so : state.sub_orders()) subs[so.vendor_id()] = so.status();
    return {{"order_id", state.order_id()}, {"status", state.status()}, {"sub_orders", subs},
            {"events", types}, {"position", written.empty() ? 0 : written.back().position()}};
}

class ProviderEventCommand final : public Command {
public:
    explicit ProviderEventCommand(ProviderEvent e) : e_(std::move(e)) {
        to_order_ = e_.handled && !e_.order_id.empty() && e_.order_known;
        streams_.push_back(to_order_ ? order::stream_id(e_.order_id) : provider_event_stream(e_.signal.provider_event_id()));
        // The owner's loyalty moves with a payment, refund or dispute.
        if (to_order_ && e_.loyalty) streams_.push_back(loyalty::stream_id(e_.customer_id));
    }
    std::vector<std::string> streams() const override { return streams_; }
    std::vector<std::string> read_streams() const override {
        if (!to_order_ || !e_.loyalty) return {};
        return {std::string(loyalty::kProgramStream)};
    }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "provider") return Rejection{RejectionKind::forbidden, "forbidden", "only the payment provider"};
        Accepted a;
        const std::string id = e_.signal.provider_event_id();
        if (!to_order_) {
            v1::ProviderEventRecorded r;
            *r.mutable_signal() = e_.signal;
            r.set_note(!e_.handled ? "type not handled" : e_.order_id.empty() ? "names no order" : "no order " + e_.order_id);
            a.events.push_back({streams_.front(), std::string(events::kProviderEventRecorded), 1, r.SerializeAsString()});
            a.reply = [id, note = r.note()](const std::vector<v1::EventEnvelope>&) {
                return Reply{200, json{{"received", true}, {"event_id", id}, {"recorded", note}}.dump()};
            };
            return a;
        }
        const StreamState& order = states.at(streams_.front());
        // Orders are never deleted, so this is a caller's mistake; a redelivery records it.
        if (order.version == 0) return Rejection{RejectionKind::retry_later, "unknown_order", "no order " + e_.order_id};
        auto state = parse_state<lifecycle::State>(order.state);
        if (!state) return Rejection{RejectionKind::internal, "corrupt_state", "order state does not parse"};
        for (auto& kept : *state->mutable_deferred()) events::upcast_signal(kept);  // a snapshot from before kinds
        if (e_.loyalty && order::owner(*state) != e_.customer_id)  // claimed since it was read: the wrong loyalty stream is locked
            return Rejection{RejectionKind::retry_later, "order_claimed", "the order was just claimed; redeliver"};
        const auto after = append(a, streams_.front(), *state, lifecycle::on_signal(*state, e_.signal), states,
                                  "provider event " + id, e_.loyalty);
        a.reply = [after, id](const std::vector<v1::EventEnvelope>& written) {
            json out = summary(after, written);
            out["received"] = true;
            out["event_id"] = id;
            return Reply{200, out.dump()};
        };
        return a;
    }

private:
    ProviderEvent e_;
    bool to_order_ = false;
    std::vector<std::string> streams_;
};

bool staff_may_manage(const DecideContext& ctx) {
    return ctx.role == "admin" || (ctx.role == "employee" && has_permission(ctx.permissions, "orders", "manage"));
}

class OrderChangeCommand final : public Command {
public:
    explicit OrderChangeCommand(OrderChange c)
        : c_(std::move(c)), order_stream_(order::stream_id(c_.order_id)), credit_stream_(credit::stream_id(c_.customer_id)) {}
    std::vector<std::string> read_streams() const override {
        std::vector<std::string> out;
        if (c_.loyalty) out.emplace_back(loyalty::kProgramStream);
        if (to_credit()) out.emplace_back(credit::kPolicyStream);
        return out;
    }
    std::vector<std::string> streams() const override {
        std::vector<std::string> out{order_stream_, credit_stream_};
        if (c_.loyalty) out.push_back(loyalty::stream_id(c_.customer_id));
        if (std::holds_alternative<lifecycle::Cancel>(c_.change)) {
            for (const auto& sku : c_.skus) out.push_back(stock::stream_id(sku));
            for (const auto& code : c_.coupons) out.push_back(catalog::coupon_stream(code));
        }
        return out;
    }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const auto& order = states.at(order_stream_);
        auto state = parse_state<lifecycle::State>(order.state);
        if (order.version == 0 || !state) return Rejection{RejectionKind::fix_request, "unknown_order", "no order " + c_.order_id};
        if (auto denied = authorise(*state, ctx)) return *denied;
        // A guest order claimed since it was read: the credit account locked is not its owner's.
        if (order::owner(*state) != c_.customer_id)
            return Rejection{RejectionKind::retry_later, "order_claimed", "the order was just claimed by a customer; retry"};
        auto decided = std::visit([&](auto cmd) { return decide_one(*state, std::move(cmd), ctx); }, c_.change);
        if (!decided) {
            const auto& r = decided.error();
            return Rejection{kind_of(r.code), std::string(lifecycle::to_string(r.code)),
                             r.detail + " (now " + r.current_status + ")",
                             json{{"current_status", r.current_status}}.dump()};
        }
        std::string reason = "order " + c_.order_id;
        if (to_credit()) {
            if (auto over = over_caps(*decided, states, ctx)) return *over;
            if (!c_.cap_override_reason.empty()) reason += "; credit caps overridden by " + ctx.actor + ": " + c_.cap_override_reason;
        }
        Accepted a;
        const auto after = append(a, order_stream_, *state, *decided, states, reason, c_.loyalty);
        if (std::holds_alternative<lifecycle::Cancel>(c_.change)) {
            if (auto missing = release_stock(a, *state, states)) return *missing;
            // Unpaid: the coupon uses come back with the stock. Paid (then refunded): they stay used.
            if (!state->paid())
                if (auto missing = release_coupons(a, *state, states)) return *missing;
        }
        a.reply = [after](const std::vector<v1::EventEnvelope>& written) { return Reply{200, summary(after, written).dump()}; };
        return a;
    }

private:
    bool to_credit() const {
        const auto* ref = std::get_if<lifecycle::Refund>(&c_.change);
        return ref && ref->destination == "credit";
    }

    // A refund to store credit within the caps finance set; beyond them only with an
    // admin's override and its reason.
    std::optional<Rejection> over_caps(const std::vector<lifecycle::Event>& events,
                                       const std::map<std::string, StreamState>& states, const DecideContext& ctx) const {
        int64_t credited = 0;
        for (const auto& e : events) credited += lifecycle::credit_returned(e);
        const auto account = credit::from_snapshot(c_.customer_id, states.at(credit_stream_).state);
        const auto policy = credit::policy_of(states.at(std::string(credit::kPolicyStream)).state);
        if (!c_.cap_override_reason.empty() && ctx.role != "admin")
            return Rejection{RejectionKind::forbidden, "forbidden", "only admins override the credit caps", "",
                             "cap_override_reason"};
        const auto cap = credit::beyond_caps(account, credited, policy);
        if (!cap || !c_.cap_override_reason.empty()) return std::nullopt;
        return Rejection{RejectionKind::state_forbids, "refund_exceeds_credit_cap",
                         *cap == "grant" ? "a refund to credit of " + std::to_string(credited) +
                                               " exceeds the single-grant cap of " + std::to_string(policy.grant_max_minor) +
                                               "; refund to the card, or an admin overrides with cap_override_reason"
                                         : "the credit balance would exceed its cap of " +
                                               std::to_string(policy.balance_max_minor) +
                                               "; refund to the card, or an admin overrides with cap_override_reason",
                         json{{"credited_minor", credited}, {"balance_minor", account.balance_minor},
                              {"grant_max_minor", policy.grant_max_minor}, {"balance_max_minor", policy.balance_max_minor}}
                             .dump(),
                         "destination"};
    }

    // A cancelled order's reservations go back to stock, in the same batch.
    std::optional<Rejection> release_stock(Accepted& a, const lifecycle::State& state,
                                           const std::map<std::string, StreamState>& states) const {
        std::map<std::string, int64_t> reserved;
        for (const auto& l : state.lines()) reserved[l.sku()] += l.quantity();
        for (const auto& [sku, qty] : reserved) {
            const std::string sid = stock::stream_id(sku);
            auto it = states.find(sid);
            if (it == states.end())  // the caller named the order's SKUs from a snapshot; they never change
                return Rejection{RejectionKind::internal, "stock_not_locked", "the stock of " + sku + " was not locked"};
            auto level = stock::from_snapshot(sku, it->second.state);
            auto released = stock::decide(level, stock::ReleaseStock{sku, c_.order_id, qty});
            if (!released)
                return Rejection{RejectionKind::internal, std::string(stock::to_string(released.error())),
                                 "releasing " + sku + " failed"};
            for (const auto& e : *released) {
                level = stock::evolve(level, e);
                a.events.push_back({sid, std::string(events::kStockReleased), 1,
                                    std::get<v1::StockReleased>(e).SerializeAsString()});
            }
            a.new_states[sid] = stock::to_snapshot(level);
        }
        return std::nullopt;
    }

    // Each coupon the order redeemed gives one use back, to the total and to the customer.
    std::optional<Rejection> release_coupons(Accepted& a, const lifecycle::State& state,
                                             const std::map<std::string, StreamState>& states) const {
        for (const auto& code : state.coupon_codes()) {
            const std::string cid = catalog::coupon_stream(code);
            auto it = states.find(cid);
            if (it == states.end())  // the caller named the coupons from a snapshot; they never change
                return Rejection{RejectionKind::internal, "coupon_not_locked", "coupon " + code + " was not locked"};
            v1::CouponState cs = parse_state<v1::CouponState>(it->second.state).value_or(v1::CouponState{});
            cs.set_uses_total(std::max<int64_t>(0, cs.uses_total() - 1));
            auto& mine = (*cs.mutable_uses_by_customer())[state.customer_id()];
            mine = std::max<int64_t>(0, mine - 1);
            v1::CouponReleased e;
            e.set_code(code);
            e.set_order_id(state.order_id());
            e.set_customer_id(state.customer_id());
            a.events.push_back({cid, std::string(events::kCouponReleased), 1, e.SerializeAsString()});
            a.new_states[cid] = cs.SerializeAsString();
        }
        return std::nullopt;
    }

    std::optional<Rejection> authorise(const lifecycle::State& state, const DecideContext& ctx) const {
        const Rejection no{RejectionKind::forbidden, "forbidden", "you may not change this order"};
        // Money leaving the platform: admins ask for it, and the payout scheduler
        // (commands/provider_worker.h) when it falls due. Nobody else, staff included.
        if (std::holds_alternative<lifecycle::RequestPayout>(c_.change))
            return ctx.role == "admin" || ctx.role == "system" ||
                           (ctx.role == "employee" && has_permission(ctx.permissions, "payouts", "manage"))
                       ? std::nullopt
                       : std::optional(Rejection{RejectionKind::forbidden, "forbidden",
                                                 "only admins and employees with payouts.manage request payouts"});
        // The system cancels only what its payment window let lapse (the decision checks the window).
        if (const auto* cancel = std::get_if<lifecycle::Cancel>(&c_.change); cancel && cancel->expiry)
            return ctx.role == "system" ? std::nullopt : std::optional(no);
        if (staff_may_manage(ctx)) return std::nullopt;
        // A subscription cancelled immediately takes its current order with it (commands/subscription.h).
        if (ctx.role == "system" && ctx.actor == "system:subscriptions" && state.has_subscription() &&
            std::holds_alternative<lifecycle::Cancel>(c_.change))
            return std::nullopt;
        if (ctx.role == "system") return no;
        if (ctx.role == "vendor") {  // only on an order it has a part in
            bool part = false;
            for (const auto& so : state.sub_orders()) part = part || so.vendor_id() == ctx.actor;
            if (!part) return no;
        }
        if (const auto* adv = std::get_if<lifecycle::Advance>(&c_.change))
            return ctx.role == "vendor" && adv->vendor_id == ctx.actor ? std::nullopt : std::optional(no);
        if (const auto* ref = std::get_if<lifecycle::Refund>(&c_.change)) {
            if (ctx.role != "vendor" || ref->vendor_id != ctx.actor) return no;
            // Store credit is the platform's liability: a vendor gives money back to the card.
            if (ref->destination != "card")
                return Rejection{RejectionKind::forbidden, "vendor_refunds_to_card", "vendors refund to the card only",
                                 "", "destination"};
            return std::nullopt;
        }
        if (std::holds_alternative<lifecycle::Cancel>(c_.change))
            return ctx.role == "customer" && order::owner(state) == ctx.actor && !state.paid() ? std::nullopt
                                                                                               : std::optional(no);
        return no;
    }

    static std::expected<std::vector<lifecycle::Event>, lifecycle::Refused> decide_one(const lifecycle::State& s,
                                                                                       lifecycle::Refund cmd,
                                                                                       const DecideContext& ctx) {
        cmd.refund_id = "refund-" + ctx.command_id.substr(0, 24);
        return lifecycle::decide(s, cmd);
    }
    template <typename Cmd>
    static std::expected<std::vector<lifecycle::Event>, lifecycle::Refused> decide_one(const lifecycle::State& s, Cmd cmd,
                                                                                       const DecideContext&) {
        return lifecycle::decide(s, cmd);
    }

    OrderChange c_;
    std::string order_stream_;
    std::string credit_stream_;
};

}  // namespace

std::string provider_event_stream(const std::string& provider_event_id) { return "provider-event-" + provider_event_id; }

std::unique_ptr<Command> provider_event(ProviderEvent event) {
    return std::make_unique<ProviderEventCommand>(std::move(event));
}

OrderChange cancellation_of(const v1::OrderState& state, lifecycle::Cancel cancel) {
    OrderChange change;
    change.order_id = state.order_id();
    change.customer_id = order::owner(state);
    change.change = std::move(cancel);
    for (const auto& l : state.lines()) change.skus.push_back(l.sku());
    change.coupons.assign(state.coupon_codes().begin(), state.coupon_codes().end());
    return change;
}

std::unique_ptr<Command> change_order(OrderChange change) {
    return std::make_unique<OrderChangeCommand>(std::move(change));
}

}  // namespace tally::commands
