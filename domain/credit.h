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

// Caps from configuration; changeable without a deploy.
struct CreditPolicy {
    int64_t grant_max_minor = 0;
    int64_t balance_max_minor = 0;
};

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

// Snapshot (de)serialization; an empty string is the empty account.
CreditAccount from_snapshot(std::string_view customer_id, const std::string& bytes);
std::string to_snapshot(const CreditAccount& state);

}  // namespace tally::credit
