#pragma once
// The order read models (projector "orders"): orders (one row per order with its
// OrderPlaced payload, its payment status and its fulfilment status, which follows its
// sub-orders) and sub_orders (per vendor, with carrier and tracking), indexed for
// customer, vendor, status and fulfilment listings; order_payment_intents, each
// order's PaymentIntent once the provider created it; provider_flags, the provider
// messages orders could not take; and external_refunds, refunds made at the provider,
// for operators.

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> orders_projection();

}  // namespace tally::projectors
