#pragma once
// Store credit: a customer's credit account (stream "credit-{customer_id}").
// Pure rules: decide() and evolve(); no I/O, no clock.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/money.h"
#include "tally/v1/credit.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::credit {

struct CreditAccount {
    std::string customer_id;
    std::optional<Currency> currency;  // fixed by the first grant
    int64_t balance_minor = 0;
    int64_t grants_count = 0;
};

struct GrantCredit {
    std::string command_id;
    std::string customer_id;
    Money amount;
    std::string reason;
    std::string actor;  // the admin granting it
};

// Caps on store credit: financial policy, set by finance as events (stream
// "policy-credit", CreditPolicySet); the defaults until the first.
struct CreditPolicy {
    int64_t grant_max_minor = 0;
    int64_t balance_max_minor = 0;
    int64_t version = 0;  // 0: the defaults
};
inline constexpr std::string_view kPolicyStream = "policy-credit";
inline constexpr CreditPolicy kDefaultPolicy{100000, 1000000, 0};  // 1,000.00 and 10,000.00 in a 2-digit currency
// The policy a "policy-credit" state holds; the defaults when it holds none.
CreditPolicy policy_of(const std::string& state_bytes);
// What is wrong with caps someone wants to set: both positive, the grant cap no larger than
// the balance cap, neither beyond 10^15 minor units. Nothing: they may stand.
std::optional<std::string> check_policy(int64_t grant_max_minor, int64_t balance_max_minor);
// Whether crediting `amount_minor` (a refund to store credit) stays within the caps:
// nothing when it does, else the cap it would break ("grant" or "balance").
std::optional<std::string> beyond_caps(const CreditAccount& state, int64_t amount_minor, const CreditPolicy& policy);

enum class GrantRejection : uint16_t {  // precedence order; numbers are permanent
    amount_must_be_positive = 1,
    currency_must_match = 2,
    grant_exceeds_cap = 3,
    balance_would_exceed_cap = 4,
};

std::string_view to_string(GrantRejection r);

std::string stream_id(std::string_view customer_id);

// Pure. REQUIRES: cmd.customer_id == state.customer_id.
std::expected<std::vector<v1::CreditGranted>, GrantRejection> decide(const CreditAccount& state,
                                                                      const GrantCredit& cmd,
                                                                      const CreditPolicy& policy);

CreditAccount evolve(CreditAccount state, const v1::CreditGranted& event);

// Checkout spends credit last; the ledger moves it off the liability.
struct SpendCredit {
    std::string customer_id;
    std::string order_id;
    Money amount;
};

enum class SpendRejection : uint16_t {  // precedence order; numbers are permanent
    amount_must_be_positive = 1,
    currency_must_match = 2,
    insufficient_credit = 3,
};

std::string_view to_string(SpendRejection r);

// Pure. REQUIRES: cmd.customer_id == state.customer_id.
std::expected<std::vector<v1::CreditSpent>, SpendRejection> decide(const CreditAccount& state, const SpendCredit& cmd);
CreditAccount evolve(CreditAccount state, const v1::CreditSpent& event);

// Credit given back by a refund or a cancellation of `order_id` (the order's event
// moves the money on the ledger). Never refused: caps do not apply to money returned.
// REQUIRES: amount.minor > 0.
v1::CreditReturned return_credit(const CreditAccount& state, const std::string& order_id, const Money& amount,
                                 const std::string& reason);
CreditAccount evolve(CreditAccount state, const v1::CreditReturned& event);

// Finance takes store credit back (a claw-back), never below zero: the grant's mirror on
// the ledger (debit the customer's liability, credit promotions expense).
struct ReverseCredit {
    std::string customer_id;
    Money amount;
    std::string reason;
    std::string actor;
};
enum class ReverseRejection : uint16_t {  // precedence order; numbers are permanent
    amount_must_be_positive = 1,
    currency_must_match = 2,
    reversal_exceeds_balance = 3,
};
std::string_view to_string(ReverseRejection r);
std::expected<v1::CreditReversed, ReverseRejection> decide(const CreditAccount& state, const ReverseCredit& cmd);
CreditAccount evolve(CreditAccount state, const v1::CreditReversed& event);

// Snapshot (de)serialization; an empty string is the empty account.
CreditAccount from_snapshot(std::string_view customer_id, const std::string& bytes);
std::string to_snapshot(const CreditAccount& state);

}  // namespace tally::credit
