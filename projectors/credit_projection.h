#pragma once
// Store-credit read models: credit_balances (one row per customer, a cache the
// ledger must agree with) and credit_entries (every movement, newest first).

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> credit_projection();

}  // namespace tally::projectors
