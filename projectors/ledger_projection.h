#pragma once
// ledger_accounts: debit and credit totals per (account, currency) from the posting sets
// events record (events::postings_of). The ledger itself is the journal; this is its cache.

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> ledger_projection();

}  // namespace tally::projectors
