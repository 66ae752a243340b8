#include "commands/credit.h"

#include <nlohmann/json.hpp>

#include "events/registry.h"

namespace tally::commands {
namespace {

RejectionKind kind_of(credit::GrantRejection r) {
    switch (r) {
        case credit::GrantRejection::amount_must_be_positive: return RejectionKind::fix_request;
        case credit::GrantRejection::currency_must_match: return RejectionKind::state_forbids;
        case credit::GrantRejection::grant_exceeds_cap: return RejectionKind::fix_request;
        case credit::GrantRejection::balance_would_exceed_cap: return RejectionKind::state_forbids;
    }
    return RejectionKind::fix_request;
}

std::string detail_of(credit::GrantRejection r, const credit::CreditAccount& state,
                      const credit::GrantCredit& cmd, const credit::CreditPolicy& policy) {
    switch (r) {
        case credit::GrantRejection::amount_must_be_positive: return "amount_minor must be greater than zero";
        case credit::GrantRejection::currency_must_match:
            return "the customer's store credit is held in " + std::string(state.currency->code());
        case credit::GrantRejection::grant_exceeds_cap:
            return "a single grant may not exceed " + format_money(policy.grant_max_minor, cmd.amount.currency);
        case credit::GrantRejection::balance_would_exceed_cap:
            return "the balance would exceed the cap of " +
                   format_money(policy.balance_max_minor, cmd.amount.currency) + " (balance now " +
                   format_money(state.balance_minor, cmd.amount.currency) + ")";
    }
    return "";
}

class GrantCreditCommand final : public Command {
public:
    GrantCreditCommand(credit::GrantCredit cmd, credit::CreditPolicy policy)
        : cmd_(std::move(cmd)), policy_(policy), stream_(credit::stream_id(cmd_.customer_id)) {}

    std::vector<std::string> streams() const override { return {stream_}; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const StreamState& st = states.at(stream_);
        const credit::CreditAccount account = credit::from_snapshot(cmd_.customer_id, st.state);
        credit::GrantCredit cmd = cmd_;
        cmd.command_id = ctx.command_id;
        cmd.actor = ctx.actor;
        auto decided = credit::decide(account, cmd, policy_);
        if (!decided)
            return Rejection{kind_of(decided.error()), std::string(credit::to_string(decided.error())),
                             detail_of(decided.error(), account, cmd, policy_)};
        Accepted accepted;
        credit::CreditAccount next = account;
        for (const auto& e : *decided) {
            next = credit::evolve(next, e);
            accepted.events.push_back({stream_, std::string(events::kCreditGranted),
                                       events::current_schema_version(events::kCreditGranted),
                                       e.SerializeAsString()});
        }
        accepted.new_states[stream_] = credit::to_snapshot(next);
        accepted.reply = [next, cmd](const std::vector<v1::EventEnvelope>& written) {
            const auto& e = written.front();
            nlohmann::json body = {
                {"grant_id", e.event_id()},
                {"customer_id", cmd.customer_id},
                {"amount_minor", cmd.amount.minor},
                {"currency", std::string(cmd.amount.currency.code())},
                {"reason", cmd.reason},
                {"balance_minor", next.balance_minor},
                {"stream_id", e.stream_id()},
                {"stream_version", e.stream_version()},
                {"position", e.position()},
            };
            return Reply{201, body.dump()};
        };
        return accepted;
    }

private:
    credit::GrantCredit cmd_;
    credit::CreditPolicy policy_;
    std::string stream_;
};

}  // namespace

std::unique_ptr<Command> grant_credit(credit::GrantCredit cmd, credit::CreditPolicy policy) {
    return std::make_unique<GrantCreditCommand>(std::move(cmd), policy);
}

}  // namespace tally::commands
