#pragma once
// Orders: placing one from a priced cart. Pure: ids, keys and time are arguments.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// Whom the order belongs to now: the registered customer a guest order was claimed by,
// else the customer it was placed for. Store credit given back goes to the owner; the
// receivable stays with the customer it was placed for.
std::string owner(const v1::OrderState& state);

// Guest checkout: a storefront checks out for an e-mail address. The guest is one
// customer per storefront and address (case and surrounding spaces do not matter).
std::string guest_stream(std::string_view guest_id);

// The order's fulfilment status from its sub-orders' statuses: "delivered" once every
// live sub-order is (cancelled and refunded ones do not count), "shipped" once every
// live one has shipped, "partially_shipped" once any has, else "unfulfilled". Pure.
std::string fulfilment_status(const std::vector<std::string>& sub_order_statuses);

// The double-click rule (a second checkout of the same cart by the same customer within
// five minutes, while the first order still awaits payment, returns the first order).
inline constexpr int64_t kDoubleClickWindowMs = 5 * 60 * 1000;

std::string checkout_guard_stream(std::string_view customer_id);

// The order an identical checkout placed within the window, if any. Pure.
std::optional<std::string> double_click_candidate(const v1::CheckoutGuardState& guard, std::string_view cart_hash,
                                                  int64_t now_unix_ms);

// True when that order may stand for the new checkout: it still awaits payment.
bool stands_for_duplicate(const v1::OrderState& first);

// The guard after a checkout: the new one recorded, those older than the window dropped.
v1::CheckoutGuardState record_checkout(const v1::CheckoutGuardState& guard, const v1::CheckoutRecorded& placed);

}  // namespace tally::order
