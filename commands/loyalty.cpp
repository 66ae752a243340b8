#include "commands/loyalty.h"

#include <nlohmann/json.hpp>

#include "events/registry.h"

namespace tally::commands {

namespace {
bool g_loyalty_enabled = true;
}  // namespace

void set_loyalty_enabled(bool on) { g_loyalty_enabled = on; }
bool loyalty_enabled() { return g_loyalty_enabled; }

ProgramState program_of(std::string_view bytes) {
    ProgramState out;
    if (auto defined = parse_state<v1::LoyaltyProgramDefined>(bytes)) {
        out.program = defined->program();
        out.version = defined->version();
    }
    return out;
}

std::vector<loyalty::Fact> loyalty_facts(const lifecycle::State& before, const lifecycle::State& after,
                                         const lifecycle::Event& event) {
    std::vector<loyalty::Fact> out;
    const std::string& order = after.order_id();
    const std::string& currency = after.currency();
    if (std::holds_alternative<v1::PaymentSucceeded>(event)) {
        if (!before.paid() && after.paid() && !after.cancelled())
            out.emplace_back(loyalty::OrderPaid{order, currency, after.total_minor()});
    } else if (const auto* r = std::get_if<v1::RefundIssued>(&event)) {
        out.emplace_back(loyalty::GivenBack{order, currency, r->amount().minor(), "refund"});
    } else if (const auto* x = std::get_if<v1::ExternalRefundRecorded>(&event)) {
        out.emplace_back(loyalty::GivenBack{order, currency, x->amount().minor(), "external_refund"});
    } else if (const auto* c = std::get_if<v1::OrderCancelled>(&event)) {
        if (before.paid()) out.emplace_back(loyalty::GivenBack{order, currency, c->card_minor() + c->credit_minor(), "cancelled"});
    } else if (const auto* d = std::get_if<v1::DisputeOpened>(&event)) {
        out.emplace_back(loyalty::DisputeOpened{order, d->signal().object_id()});
    } else if (const auto* dc = std::get_if<v1::DisputeClosed>(&event)) {
        out.emplace_back(loyalty::DisputeClosed{order, dc->signal().object_id(), dc->outcome() == "lost", currency,
                                                dc->amount().minor()});
    }
    return out;
}

void record_loyalty(Accepted& accepted, const std::string& customer_id,
                    const std::map<std::string, StreamState>& states, const loyalty::Fact& fact) {
    const std::string stream = loyalty::stream_id(customer_id);
    auto written = accepted.new_states.find(stream);
    std::string_view bytes = written != accepted.new_states.end() ? std::string_view(written->second)
                                                                   : std::string_view(states.at(stream).state);
    v1::LoyaltyState state = parse_state<v1::LoyaltyState>(bytes).value_or(v1::LoyaltyState{});
    state.set_customer_id(customer_id);
    auto program_it = states.find(std::string(loyalty::kProgramStream));
    const ProgramState program = program_of(program_it == states.end() ? "" : program_it->second.state);
    const auto events = loyalty::decide(state, program.view(), fact);
    if (events.empty()) return;
    for (const auto& e : events) {
        accepted.events.push_back({stream, std::string(loyalty::type_of(e)), 1, loyalty::serialize(e)});
        state = loyalty::evolve(std::move(state), e);
    }
    accepted.new_states[stream] = state.SerializeAsString();
}

LoyaltyStanding standing(std::string_view loyalty_state, std::string_view program_state, std::string_view currency) {
    const ProgramState program = program_of(program_state);
    if (program.version == 0) return {};
    const v1::LoyaltyState state = parse_state<v1::LoyaltyState>(loyalty_state).value_or(v1::LoyaltyState{});
    const auto* cp = loyalty::program_for(program.program, currency);
    if (!cp) return {};
    std::string tier = loyalty::effective_tier(state, program.program, currency);
    if (tier.empty()) tier = loyalty::tier_for(*cp, 0);  // a held customer with no spend in it yet
    return {tier, loyalty::discount_for(*cp, tier)};
}

namespace {

class DefineProgram final : public Command {
public:
    explicit DefineProgram(v1::LoyaltyProgram program) : program_(std::move(program)) {}
    std::vector<std::string> streams() const override { return {std::string(loyalty::kProgramStream)}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!manages_finance(ctx))
            return Rejection{RejectionKind::forbidden, "forbidden",
                             "the loyalty program is financial configuration: admins and finance.manage change it"};
        if (auto ok = loyalty::validate(program_); !ok)
            return Rejection{RejectionKind::fix_request, std::string(loyalty::to_string(ok.error().code)),
                             "the program for " + ok.error().currency + " was refused: " +
                                 std::string(loyalty::to_string(ok.error().code)),
                             "", "currencies"};
        const std::string stream(loyalty::kProgramStream);
        v1::LoyaltyProgramDefined e;
        *e.mutable_program() = program_;
        e.set_version(program_of(states.at(stream).state).version + 1);
        Accepted a;
        a.events.push_back({stream, std::string(events::kLoyaltyProgramDefined), 1, e.SerializeAsString()});
        a.new_states[stream] = e.SerializeAsString();
        a.reply = [version = e.version()](const std::vector<v1::EventEnvelope>& written) {
            return Reply{200, nlohmann::json{{"version", version}, {"position", written.front().position()}}.dump()};
        };
        return a;
    }

private:
    v1::LoyaltyProgram program_;
};

class Retier final : public Command {
public:
    explicit Retier(std::string customer_id) : customer_id_(std::move(customer_id)) {}
    std::vector<std::string> streams() const override { return {loyalty::stream_id(customer_id_)}; }
    std::vector<std::string> read_streams() const override { return {std::string(loyalty::kProgramStream)}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "system" && ctx.role != "admin")
            return Rejection{RejectionKind::forbidden, "forbidden", "only the re-tiering pass re-tiers"};
        Accepted a;
        record_loyalty(a, customer_id_, states, loyalty::ProgramChanged{});
        a.reply = [changed = a.events.size()](const std::vector<v1::EventEnvelope>&) {
            return Reply{200, nlohmann::json{{"tier_changes", changed}}.dump()};
        };
        return a;
    }

private:
    std::string customer_id_;
};

}  // namespace

std::unique_ptr<Command> define_loyalty_program(v1::LoyaltyProgram program) {
    return std::make_unique<DefineProgram>(std::move(program));
}

std::unique_ptr<Command> retier(std::string customer_id) { return std::make_unique<Retier>(std::move(customer_id)); }

}  // namespace tally::commands
