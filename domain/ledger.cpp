#include "domain/ledger.h"

#include <map>

#include "domain/assert.h"

namespace tally::ledger {
namespace {

v1::Posting make(std::string_view account, v1::PostingSide side, const Money& amount) {
    TALLY_ASSERT(amount.minor > 0, "posting amount {} must be positive", amount.minor);
    TALLY_ASSERT(!account.empty(), "posting account must be named");
    v1::Posting p;
    p.set_account(std::string(account));
    p.set_side(side);
    p.mutable_amount()->set_minor(amount.minor);
    p.mutable_amount()->set_currency(std::string(amount.currency.code()));
    return p;
}

std::string party(std::string_view prefix, std::string_view id) {
    std::string out(prefix);
    out += ':';
    out += id;
    return out;
}

}  // namespace

std::string store_credit_liability(std::string_view customer_id) {
    return party("store_credit_liability", customer_id);
}
std::string customer_receivable(std::string_view customer_id) {
    return party("customer_receivable", customer_id);
}
std::string vendor_payable(std::string_view vendor_id) { return party("vendor_payable", vendor_id); }
std::string affiliate_payable(std::string_view affiliate_id) {
    return party("affiliate_payable", affiliate_id);
}

std::string_view to_string(PostingError e) {
    switch (e) {
        case PostingError::empty_set: return "empty_set";
        case PostingError::account_missing: return "account_missing";
        case PostingError::side_missing: return "side_missing";
        case PostingError::amount_must_be_positive: return "amount_must_be_positive";
        case PostingError::unknown_currency: return "unknown_currency";
        case PostingError::unbalanced: return "unbalanced";
        case PostingError::overflow: return "overflow";
    }
    return "unknown";
}

v1::Posting debit(std::string_view account, const Money& amount) {
    return make(account, v1::DEBIT, amount);
}

v1::Posting credit(std::string_view account, const Money& amount) {
    return make(account, v1::CREDIT, amount);
}

std::expected<void, PostingError> check_balanced(const v1::PostingSet& set) {
    if (set.postings().empty()) return std::unexpected(PostingError::empty_set);
    std::map<std::string, int64_t> net_by_currency;
    for (const auto& p : set.postings()) {
        if (p.account().empty()) return std::unexpected(PostingError::account_missing);
        if (p.side() != v1::DEBIT && p.side() != v1::CREDIT)
            return std::unexpected(PostingError::side_missing);
        if (p.amount().minor() <= 0) return std::unexpected(PostingError::amount_must_be_positive);
        if (!Currency::parse(p.amount().currency()))
            return std::unexpected(PostingError::unknown_currency);
        auto next = add_minor(net_by_currency[p.amount().currency()], signed_minor(p));
        if (!next) return std::unexpected(PostingError::overflow);
        net_by_currency[p.amount().currency()] = *next;
    }
    for (const auto& [currency, net] : net_by_currency)
        if (net != 0) return std::unexpected(PostingError::unbalanced);
    return {};
}

int64_t signed_minor(const v1::Posting& posting) {
    return posting.side() == v1::DEBIT ? posting.amount().minor() : -posting.amount().minor();
}

}  // namespace tally::ledger
