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
    explicit GrantCreditCommand(credit::GrantCredit cmd) : cmd_(std::move(cmd)), stream_(credit::stream_id(cmd_.customer_id)) {}

    std::vector<std::string> streams() const override { return {stream_}; }
    // The caps as finance set them, read in the batch (a change serializes after it).
    std::vector<std::string> read_streams() const override { return {std::string(credit::kPolicyStream)}; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        const credit::CreditPolicy policy = credit::policy_of(states.at(std::string(credit::kPolicyStream)).state);
        const StreamState& st = states.at(stream_);
        const credit::CreditAccount account = credit::from_snapshot(cmd_.customer_id, st.state);
        credit::GrantCredit cmd = cmd_;
        cmd.command_id = ctx.command_id;
        cmd.actor = ctx.actor;
        auto decided = credit::decide(account, cmd, policy);
        if (!decided)
            return Rejection{kind_of(decided.error()), std::string(credit::to_string(decided.error())),
                             detail_of(decided.error(), account, cmd, policy)};
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
    std::string stream_;
};

class SetCreditPolicy final : public Command {
public:
    SetCreditPolicy(int64_t grant_max_minor, int64_t balance_max_minor, std::string reason)
        : grant_max_(grant_max_minor), balance_max_(balance_max_minor), reason_(std::move(reason)) {}
    std::vector<std::string> streams() const override { return {std::string(credit::kPolicyStream)}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!manages_finance(ctx))
            return Rejection{RejectionKind::forbidden, "forbidden",
                             "credit caps are financial policy: admins and finance.manage set them"};
        if (auto bad = credit::check_policy(grant_max_, balance_max_))
            return Rejection{RejectionKind::fix_request, "invalid_value", *bad, "", "grant_max_minor"};
        const std::string stream(credit::kPolicyStream);
        v1::CreditPolicySet e;
        e.set_grant_max_minor(grant_max_);
        e.set_balance_max_minor(balance_max_);
        e.set_version(credit::policy_of(states.at(stream).state).version + 1);
        e.set_reason(reason_);
        Accepted a;
        a.events.push_back({stream, std::string(events::kCreditPolicySet), 1, e.SerializeAsString()});
        a.new_states[stream] = e.SerializeAsString();
        a.reply = [e](const std::vector<v1::EventEnvelope>& written) {
            return Reply{200, nlohmann::json{{"grant_max_minor", e.grant_max_minor()},
                                             {"balance_max_minor", e.balance_max_minor()},
                                             {"version", e.version()},
                                             {"position", written.front().position()}}
                                  .dump()};
        };
        return a;
    }

private:
    int64_t grant_max_, balance_max_;
    std::string reason_;
};

class ReverseCreditCommand final : public Command {
public:
    explicit ReverseCreditCommand(credit::ReverseCredit cmd) : cmd_(std::move(cmd)), stream_(credit::stream_id(cmd_.customer_id)) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (!manages_finance(ctx))
            return Rejection{RejectionKind::forbidden, "forbidden", "only admins and finance.manage reverse store credit"};
        const credit::CreditAccount account = credit::from_snapshot(cmd_.customer_id, states.at(stream_).state);
        credit::ReverseCredit cmd = cmd_;
        cmd.actor = ctx.actor;
        auto decided = credit::decide(account, cmd);
        if (!decided) {
            const auto r = decided.error();
            const std::string balance = account.currency ? format_money(account.balance_minor, *account.currency) : "none";
            return Rejection{r == credit::ReverseRejection::amount_must_be_positive ? RejectionKind::fix_request
                                                                                      : RejectionKind::state_forbids,
                             std::string(credit::to_string(r)),
                             std::string(credit::to_string(r)) + " (the balance is " + balance + ")",
                             nlohmann::json{{"balance_minor", account.balance_minor}}.dump(), "amount_minor"};
        }
        Accepted a;
        a.events.push_back({stream_, std::string(events::kCreditReversed), 1, decided->SerializeAsString()});
        a.new_states[stream_] = credit::to_snapshot(credit::evolve(account, *decided));
        a.reply = [e = *decided](const std::vector<v1::EventEnvelope>& written) {
            return Reply{201, nlohmann::json{{"reversal_id", written.front().event_id()},
                                             {"customer_id", e.customer_id()},
                                             {"amount_minor", e.amount().minor()},
                                             {"currency", e.amount().currency()},
                                             {"balance_minor", e.balance_after().minor()},
                                             {"reason", e.reason()},
                                             {"position", written.front().position()}}
                                  .dump()};
        };
        return a;
    }

private:
    credit::ReverseCredit cmd_;
    std::string stream_;
};

}  // namespace

std::unique_ptr<Command> grant_credit(credit::GrantCredit cmd) { return std::make_unique<GrantCreditCommand>(std::move(cmd)); }

std::unique_ptr<Command> set_credit_policy(int64_t grant_max_minor, int64_t balance_max_minor, std::string reason) {
    return std::make_unique<SetCreditPolicy>(grant_max_minor, balance_max_minor, std::move(reason));
}

std::unique_ptr<Command> reverse_credit(credit::ReverseCredit cmd) {
    return std::make_unique<ReverseCreditCommand>(std::move(cmd));
}

}  // namespace tally::commands
