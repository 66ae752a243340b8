#pragma once
// Store-credit read models: credit_balances (one row per customer, a cache the
// ledger must agree with) and credit_entries (every movement, newest first).

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> credit_projection();

// ledger_accounts: debit and credit totals per (account, currency) from the
// posting sets events record.
std::unique_ptr<Projection> ledger_projection();

}  // namespace tally::projectors
