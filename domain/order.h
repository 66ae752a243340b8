#pragma once
// Orders: placing one from a priced cart. Pure: ids, keys and time are arguments.

#include <string>
#include <string_view>

#include "domain/pricing.h"
#include "tally/v1/order.pb.h"

namespace tally::order {

std::string stream_id(std::string_view order_id);

// The OrderPlaced event: the full pricing snapshot, one sub-order per vendor, and a
// balanced posting set (the customer's receivable against vendor payables, platform
// commission and fees). Paid at once when credit covers everything (zero_payment).
v1::OrderPlaced place(const std::string& order_id, const std::string& customer_id, const pricing::Cart& cart,
                      const pricing::Catalog& catalog, const pricing::Breakdown& priced,
                      const std::string& payment_idempotency_key);

}  // namespace tally::order
