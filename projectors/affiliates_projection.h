#pragma once
// Affiliates: `affiliates` (each definition as it stands) and `affiliate_conversions`
// (each attributed order that was paid: what it earned, and what refunds, lost disputes
// and paid cancellations took back, and how many disputes are open on it: while any is,
// its payout is held; what payouts paid of it), and `affiliate_payouts` (each payout and
// its status). Fed by AffiliateDefined, the conversion and payout events and the orders'
// DisputeOpened/DisputeClosed.

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> affiliates_projection();

}  // namespace tally::projectors
