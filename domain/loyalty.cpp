#include "domain/loyalty.h"

#include <algorithm>
#include <set>

#include "domain/money.h"

namespace tally::loyalty {
namespace {

constexpr int64_t kThresholdMax = 1'000'000'000'000'000;  // 1e15 minor units

v1::LoyaltyAccount* account(v1::LoyaltyState& s, std::string_view currency) {
    for (auto& a : *s.mutable_accounts())
        if (a.currency() == currency) return &a;
    auto* a = s.add_accounts();
    a->set_currency(std::string(currency));
    return a;
}

const v1::LoyaltyAccount* find_account(const v1::LoyaltyState& s, std::string_view currency) {
    for (const auto& a : s.accounts())
        if (a.currency() == currency) return &a;
    return nullptr;
}

// Every currency whose tier is not the effective one moves, unless a hold is open.
void retier(const v1::LoyaltyState& s, const Program& p, const std::string& reason, std::vector<Event>& out) {
    if (s.holds_size() > 0) return;
    for (const auto& a : s.accounts()) {
        const std::string want = p.program ? effective_tier(s, *p.program, a.currency()) : "";
        if (want == a.tier()) continue;
        v1::TierChanged t;
        t.set_customer_id(s.customer_id());
        t.set_currency(a.currency());
        t.set_from_tier(a.tier());
        t.set_to_tier(want);
        t.set_reason(reason);
        t.set_spend_minor(a.spend_minor());
        t.set_program_version(p.version);
        out.emplace_back(std::move(t));
    }
}

// Appends and applies, so later decisions in the same call see it.
void emit(v1::LoyaltyState& s, Event e, std::vector<Event>& out) {
    s = evolve(std::move(s), e);
    out.push_back(std::move(e));
}

void give_back(v1::LoyaltyState& s, const std::string& order_id, const std::string& currency, int64_t amount,
               const std::string& reason, std::vector<Event>& out) {
    auto it = s.counted().find(order_id);
    const int64_t take = std::min(amount, it == s.counted().end() ? 0 : it->second);
    if (take <= 0) return;
    const auto* a = find_account(s, currency);
    v1::SpendRecorded r;
    r.set_customer_id(s.customer_id());
    r.set_order_id(order_id);
    r.set_currency(currency);
    r.set_delta_minor(-take);
    r.set_spend_after_minor((a ? a->spend_minor() : 0) - take);
    r.set_reason(reason);
    emit(s, std::move(r), out);
}

}  // namespace

std::string stream_id(std::string_view customer_id) { return "loyalty-" + std::string(customer_id); }

std::string_view to_string(ProgramRejection r) {
    switch (r) {
        case ProgramRejection::currency_unknown: return "currency_unknown";
        case ProgramRejection::currency_repeated: return "currency_repeated";
        case ProgramRejection::six_tiers_required: return "six_tiers_required";
        case ProgramRejection::bronze_starts_at_zero: return "bronze_starts_at_zero";
        case ProgramRejection::thresholds_must_increase: return "thresholds_must_increase";
        case ProgramRejection::discount_out_of_range: return "discount_out_of_range";
        case ProgramRejection::threshold_out_of_range: return "threshold_out_of_range";
    }
    return "unknown";
}

std::expected<void, ProgramError> validate(const v1::LoyaltyProgram& program) {
    std::set<std::string> seen;
    for (const auto& cp : program.currencies()) {
        auto fail = [&](ProgramRejection r) { return std::unexpected(ProgramError{r, cp.currency()}); };
        if (!Currency::parse(cp.currency())) return fail(ProgramRejection::currency_unknown);
        if (!seen.insert(cp.currency()).second) return fail(ProgramRejection::currency_repeated);
        if (cp.tiers_size() != static_cast<int>(kTiers.size())) return fail(ProgramRejection::six_tiers_required);
        for (size_t i = 0; i < kTiers.size(); ++i)
            if (cp.tiers(static_cast<int>(i)).name() != kTiers[i]) return fail(ProgramRejection::six_tiers_required);
        if (cp.tiers(0).threshold_minor() != 0) return fail(ProgramRejection::bronze_starts_at_zero);
        for (int i = 1; i < cp.tiers_size(); ++i)
            if (cp.tiers(i).threshold_minor() <= cp.tiers(i - 1).threshold_minor())
                return fail(ProgramRejection::thresholds_must_increase);
        for (const auto& t : cp.tiers()) {
            if (t.discount_bps() > 10'000) return fail(ProgramRejection::discount_out_of_range);
            if (t.threshold_minor() > kThresholdMax) return fail(ProgramRejection::threshold_out_of_range);
        }
    }
    return {};
}

const v1::CurrencyProgram* program_for(const v1::LoyaltyProgram& program, std::string_view currency) {
    for (const auto& cp : program.currencies())
        if (cp.currency() == currency) return &cp;
    return nullptr;
}

std::string tier_for(const v1::CurrencyProgram& program, int64_t spend_minor) {
    std::string tier;
    for (const auto& t : program.tiers())
        if (spend_minor >= t.threshold_minor()) tier = t.name();
    return tier.empty() && program.tiers_size() > 0 ? program.tiers(0).name() : tier;
}

uint32_t discount_for(const v1::CurrencyProgram& program, std::string_view tier) {
    for (const auto& t : program.tiers())
        if (t.name() == tier) return t.discount_bps();
    return 0;
}

std::string effective_tier(const v1::LoyaltyState& state, const v1::LoyaltyProgram& program, std::string_view currency) {
    const auto* a = find_account(state, currency);
    if (state.holds_size() > 0) return a ? a->tier() : "";
    const auto* cp = program_for(program, currency);
    if (!cp) return "";
    return tier_for(*cp, a ? a->spend_minor() : 0);
}

std::vector<Event> decide(const v1::LoyaltyState& state, const Program& program, const Fact& fact) {
    v1::LoyaltyState s = state;
    std::vector<Event> out;
    std::string reason = "spend";
    if (const auto* paid = std::get_if<OrderPaid>(&fact)) {
        // Counted once: a redelivered payment, or one after a refund, finds the order known.
        if (paid->total_minor > 0 && !s.counted().contains(paid->order_id)) {
            const auto* a = find_account(s, paid->currency);
            v1::SpendRecorded r;
            r.set_customer_id(s.customer_id());
            r.set_order_id(paid->order_id);
            r.set_currency(paid->currency);
            r.set_delta_minor(paid->total_minor);
            r.set_spend_after_minor((a ? a->spend_minor() : 0) + paid->total_minor);
            r.set_reason("paid");
            emit(s, std::move(r), out);
        }
    } else if (const auto* back = std::get_if<GivenBack>(&fact)) {
        give_back(s, back->order_id, back->currency, back->amount_minor, back->reason, out);
    } else if (const auto* opened = std::get_if<DisputeOpened>(&fact)) {
        for (const auto& h : s.holds())
            if (h.dispute_id() == opened->dispute_id) return out;  // already holding
        v1::TierHoldOpened h;
        h.set_customer_id(s.customer_id());
        h.set_order_id(opened->order_id);
        h.set_dispute_id(opened->dispute_id);
        emit(s, std::move(h), out);
    } else if (const auto* closed = std::get_if<DisputeClosed>(&fact)) {
        if (closed->lost) give_back(s, closed->order_id, closed->currency, closed->amount_minor, "dispute_lost", out);
        bool held = false;
        for (const auto& h : s.holds()) held = held || h.dispute_id() == closed->dispute_id;
        if (held) {
            v1::TierHoldReleased r;
            r.set_customer_id(s.customer_id());
            r.set_order_id(closed->order_id);
            r.set_dispute_id(closed->dispute_id);
            r.set_outcome(closed->lost ? "lost" : "won");
            emit(s, std::move(r), out);
            reason = "hold_released";
        }
    } else {
        reason = "program_changed";
    }
    std::vector<Event> changes;
    retier(s, program, reason, changes);
    for (auto& e : changes) emit(s, std::move(e), out);
    return out;
}

v1::LoyaltyState evolve(v1::LoyaltyState state, const Event& event) {
    if (const auto* r = std::get_if<v1::SpendRecorded>(&event)) {
        state.set_customer_id(r->customer_id());
        account(state, r->currency())->set_spend_minor(r->spend_after_minor());
        (*state.mutable_counted())[r->order_id()] += r->delta_minor();
    } else if (const auto* t = std::get_if<v1::TierChanged>(&event)) {
        account(state, t->currency())->set_tier(t->to_tier());
    } else if (const auto* h = std::get_if<v1::TierHoldOpened>(&event)) {
        auto* hold = state.add_holds();
        hold->set_order_id(h->order_id());
        hold->set_dispute_id(h->dispute_id());
    } else if (const auto* rel = std::get_if<v1::TierHoldReleased>(&event)) {
        auto* holds = state.mutable_holds();
        for (int i = 0; i < holds->size(); ++i)
            if (holds->Get(i).dispute_id() == rel->dispute_id()) {
                holds->DeleteSubrange(i, 1);
                break;
            }
    }
    return state;
}

std::string_view type_of(const Event& event) {
    return std::visit(
        [](const auto& e) -> std::string_view {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, v1::SpendRecorded>) return "SpendRecorded";
            else if constexpr (std::is_same_v<T, v1::TierChanged>) return "TierChanged";
            else if constexpr (std::is_same_v<T, v1::TierHoldOpened>) return "TierHoldOpened";
            else return "TierHoldReleased";
        },
        event);
}

std::string serialize(const Event& event) {
    return std::visit([](const auto& e) { return e.SerializeAsString(); }, event);
}

}  // namespace tally::loyalty

namespace tally::loyalty {

namespace {
template <typename T>
std::optional<Event> parsed(const std::string& payload) {
    T e;
    if (!e.ParseFromString(payload)) return std::nullopt;
    return Event{std::move(e)};
}
}  // namespace

std::optional<Event> parse(std::string_view type, const std::string& payload) {
    if (type == "SpendRecorded") return parsed<v1::SpendRecorded>(payload);
    if (type == "TierChanged") return parsed<v1::TierChanged>(payload);
    if (type == "TierHoldOpened") return parsed<v1::TierHoldOpened>(payload);
    if (type == "TierHoldReleased") return parsed<v1::TierHoldReleased>(payload);
    return std::nullopt;
}

}  // namespace tally::loyalty
