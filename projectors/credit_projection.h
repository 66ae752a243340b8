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

// orders and sub_orders: one row per order (with its OrderPlaced payload) and per
// vendor sub-order, indexed for customer, vendor and status listings; and
// order_payment_intents, each order's PaymentIntent once the provider created it; and
// provider_flags, the provider messages orders could not take, for operators.
std::unique_ptr<Projection> orders_projection();

}  // namespace tally::projectors
