#include "domain/credit.h"

#include "domain/assert.h"
#include "domain/ledger.h"

namespace tally::credit {

std::string_view to_string(GrantRejection r) {
    switch (r) {
        case GrantRejection::amount_must_be_positive: return "amount_must_be_positive";
        case GrantRejection::currency_must_match: return "currency_must_match";
        case GrantRejection::grant_exceeds_cap: return "grant_exceeds_cap";
        case GrantRejection::balance_would_exceed_cap: return "balance_would_exceed_cap";
    }
    return "unknown";
}

std::string stream_id(std::string_view customer_id) {
    return "credit-" + std::string(customer_id);
}

std::expected<std::vector<v1::CreditGranted>, GrantRejection> decide(const CreditAccount& state,
                                                                      const GrantCredit& cmd,
                                                                      const CreditPolicy& policy) {
    TALLY_ASSERT(cmd.customer_id == state.customer_id, "misrouted {}", cmd.command_id);
    if (cmd.amount.minor <= 0) return std::unexpected(GrantRejection::amount_must_be_positive);
    if (state.currency && cmd.amount.currency != *state.currency)
        return std::unexpected(GrantRejection::currency_must_match);
    if (cmd.amount.minor > policy.grant_max_minor)
        return std::unexpected(GrantRejection::grant_exceeds_cap);
    // Both sides are bounded by the caps, so this sum cannot overflow.
    if (state.balance_minor + cmd.amount.minor > policy.balance_max_minor)
        return std::unexpected(GrantRejection::balance_would_exceed_cap);

    v1::CreditGranted event;
    event.set_customer_id(cmd.customer_id);
    event.mutable_amount()->set_minor(cmd.amount.minor);
    event.mutable_amount()->set_currency(std::string(cmd.amount.currency.code()));
    event.set_reason(cmd.reason);
    event.set_granted_by(cmd.actor);
    event.mutable_balance_after()->set_minor(state.balance_minor + cmd.amount.minor);
    event.mutable_balance_after()->set_currency(std::string(cmd.amount.currency.code()));
    // The platform funds the credit: an expense now, a liability to the customer until spent.
    *event.mutable_postings()->add_postings() = ledger::debit(ledger::kPromotionsExpense, cmd.amount);
    *event.mutable_postings()->add_postings() =
        ledger::credit(ledger::store_credit_liability(cmd.customer_id), cmd.amount);
    return std::vector<v1::CreditGranted>{std::move(event)};
}

CreditAccount evolve(CreditAccount state, const v1::CreditGranted& event) {
    auto currency = Currency::parse(event.amount().currency());
    TALLY_ASSERT(currency.has_value(), "event carries unknown currency {}", event.amount().currency());
    state.currency = currency;
    state.balance_minor += event.amount().minor();
    state.grants_count += 1;
    return state;
}

std::string_view to_string(SpendRejection r) {
    switch (r) {
        case SpendRejection::amount_must_be_positive: return "amount_must_be_positive";
        case SpendRejection::currency_must_match: return "currency_must_match";
        case SpendRejection::insufficient_credit: return "insufficient_credit";
    }
    return "unknown";
}

std::expected<std::vector<v1::CreditSpent>, SpendRejection> decide(const CreditAccount& state, const SpendCredit& cmd) {
    TALLY_ASSERT(cmd.customer_id == state.customer_id, "misrouted spend for order {}", cmd.order_id);
    if (cmd.amount.minor <= 0) return std::unexpected(SpendRejection::amount_must_be_positive);
    if (!state.currency || *state.currency != cmd.amount.currency)
        return std::unexpected(SpendRejection::currency_must_match);
    if (cmd.amount.minor > state.balance_minor) return std::unexpected(SpendRejection::insufficient_credit);
    v1::CreditSpent e;
    e.set_customer_id(cmd.customer_id);
    e.set_order_id(cmd.order_id);
    e.mutable_amount()->set_minor(cmd.amount.minor);
    e.mutable_amount()->set_currency(std::string(cmd.amount.currency.code()));
    e.mutable_balance_after()->set_minor(state.balance_minor - cmd.amount.minor);
    e.mutable_balance_after()->set_currency(std::string(cmd.amount.currency.code()));
    // The liability shrinks; the customer's receivable for the order is settled by that much.
    *e.mutable_postings()->add_postings() = ledger::debit(ledger::store_credit_liability(cmd.customer_id), cmd.amount);
    *e.mutable_postings()->add_postings() = ledger::credit(ledger::customer_receivable(cmd.customer_id), cmd.amount);
    return std::vector<v1::CreditSpent>{std::move(e)};
}

CreditAccount evolve(CreditAccount state, const v1::CreditSpent& event) {
    state.balance_minor -= event.amount().minor();
    TALLY_ASSERT(state.balance_minor >= 0, "credit of {} below zero", state.customer_id);
    return state;
}

v1::CreditReturned return_credit(const CreditAccount& state, const std::string& order_id, const Money& amount,
                                 const std::string& reason) {
    TALLY_ASSERT(amount.minor > 0, "credit returned must be positive, got {}", amount.minor);
    TALLY_ASSERT(!state.currency || *state.currency == amount.currency, "credit of {} is in another currency",
                 state.customer_id);
    v1::CreditReturned e;
    e.set_customer_id(state.customer_id);
    e.set_order_id(order_id);
    e.mutable_amount()->set_minor(amount.minor);
    e.mutable_amount()->set_currency(std::string(amount.currency.code()));
    e.mutable_balance_after()->set_minor(state.balance_minor + amount.minor);
    e.mutable_balance_after()->set_currency(std::string(amount.currency.code()));
    e.set_reason(reason);
    return e;
}

CreditAccount evolve(CreditAccount state, const v1::CreditReturned& event) {
    if (!state.currency) state.currency = Currency::parse(event.amount().currency());
    state.balance_minor += event.amount().minor();
    return state;
}

CreditAccount from_snapshot(std::string_view customer_id, const std::string& bytes) {
    CreditAccount state;
    state.customer_id = std::string(customer_id);
    if (bytes.empty()) return state;
    v1::CreditAccountState proto;
    TALLY_ASSERT(proto.ParseFromString(bytes), "corrupt credit snapshot for {}", customer_id);
    if (!proto.currency().empty()) state.currency = Currency::parse(proto.currency());
    state.balance_minor = proto.balance_minor();
    state.grants_count = proto.grants_count();
    return state;
}

std::string to_snapshot(const CreditAccount& state) {
    v1::CreditAccountState proto;
    proto.set_customer_id(state.customer_id);
    if (state.currency) proto.set_currency(std::string(state.currency->code()));
    proto.set_balance_minor(state.balance_minor);
    proto.set_grants_count(state.grants_count);
    return proto.SerializeAsString();
}

CreditPolicy policy_of(const std::string& state_bytes) {
    v1::CreditPolicySet set;
    if (state_bytes.empty() || !set.ParseFromString(state_bytes) || set.version() <= 0) return kDefaultPolicy;
    return CreditPolicy{set.grant_max_minor(), set.balance_max_minor(), set.version()};
}

std::optional<std::string> check_policy(int64_t grant_max_minor, int64_t balance_max_minor) {
    constexpr int64_t kMax = 1'000'000'000'000'000;
    if (grant_max_minor <= 0 || balance_max_minor <= 0) return "both caps must be greater than zero";
    if (grant_max_minor > kMax || balance_max_minor > kMax) return "a cap may not exceed 10^15 minor units";
    if (grant_max_minor > balance_max_minor) return "a single grant may not exceed the balance cap";
    return std::nullopt;
}

std::optional<std::string> beyond_caps(const CreditAccount& state, int64_t amount_minor, const CreditPolicy& policy) {
    if (amount_minor > policy.grant_max_minor) return "grant";
    if (state.balance_minor > policy.balance_max_minor - amount_minor) return "balance";
    return std::nullopt;
}

std::string_view to_string(ReverseRejection r) {
    switch (r) {
        case ReverseRejection::amount_must_be_positive: return "amount_must_be_positive";
        case ReverseRejection::currency_must_match: return "currency_must_match";
        case ReverseRejection::reversal_exceeds_balance: return "reversal_exceeds_balance";
    }
    return "unknown";
}

std::expected<v1::CreditReversed, ReverseRejection> decide(const CreditAccount& state, const ReverseCredit& cmd) {
    TALLY_ASSERT(cmd.customer_id == state.customer_id, "misrouted reversal for {}", cmd.customer_id);
    if (cmd.amount.minor <= 0) return std::unexpected(ReverseRejection::amount_must_be_positive);
    if (!state.currency || *state.currency != cmd.amount.currency)
        return std::unexpected(ReverseRejection::currency_must_match);
    if (cmd.amount.minor > state.balance_minor) return std::unexpected(ReverseRejection::reversal_exceeds_balance);
    v1::CreditReversed e;
    e.set_customer_id(cmd.customer_id);
    e.mutable_amount()->set_minor(cmd.amount.minor);
    e.mutable_amount()->set_currency(std::string(cmd.amount.currency.code()));
    e.set_reason(cmd.reason);
    e.set_reversed_by(cmd.actor);
    e.mutable_balance_after()->set_minor(state.balance_minor - cmd.amount.minor);
    e.mutable_balance_after()->set_currency(std::string(cmd.amount.currency.code()));
    // The grant's mirror: the liability to the customer goes, and with it the expense.
    *e.mutable_postings()->add_postings() = ledger::debit(ledger::store_credit_liability(cmd.customer_id), cmd.amount);
    *e.mutable_postings()->add_postings() = ledger::credit(ledger::kPromotionsExpense, cmd.amount);
    return e;
}

CreditAccount evolve(CreditAccount state, const v1::CreditReversed& event) {
    state.balance_minor -= event.amount().minor();
    TALLY_ASSERT(state.balance_minor >= 0, "credit of {} below zero", state.customer_id);
    return state;
}

}  // namespace tally::credit
