#pragma once
// Subscriptions: `subscriptions` (each subscription's state as its stream's events fold it
// through domain/subscription.h, with status, customer and when the scheduler next has
// something to do beside it, indexed for the customer's list, the staff's list by status
// and due time, and the scheduler) and `subscription_renewals` (every period: its order,
// or why it was skipped; failures and payment). Fed by the subscription streams' events.

#include <memory>

#include "projectors/projection.h"
#include "tally/v1/envelope.pb.h"
#include "tally/v1/subscription.pb.h"

namespace tally::projectors {

std::unique_ptr<Projection> subscriptions_projection();

// Folds one subscription event into the state; false when it is not one (or does not parse).
bool fold_subscription(v1::SubscriptionState& state, const v1::EventEnvelope& e);

}  // namespace tally::projectors
