#pragma once
// "provider_calls": the provider calls the log asks for, planned from Kafka like any
// projection (rows and checkpoint in one transaction, each call once by its key):
//   OrderPlaced with an amount due      -> payment_intent  "intent-{order}"; a subscription's renewal
//                                          (period > 0): charged off-session, "renewal-{subscription}-{period}"
//   RenewalRetryRequested               -> renewal_retry   its payment_key (the period's intent confirmed again)
//   OrderCancelled, card part > 0       -> refund          "refund-cancel-{order}"
//   OrderCancelled, nothing captured    -> cancel_intent   "intent-cancel-{order}" (when an intent was planned)
//   RefundIssued to the card            -> refund          its refund_id
//   a payment after the cancellation    -> refund          "refund-late-{provider event}" (ProviderSignalFlagged
//                                                          succeeded_after_cancel: the whole amount back)
//   PayoutRequested                     -> transfer        its idempotency_key
//   SubOrderAdvanced to delivered       -> request_payout  "payout-request-{order}-{vendor}", due after the delay
//   AffiliatePayoutRequested            -> affiliate_transfer (Stripe) or paypal_payout, keyed by its payout id
// A closed dispute makes the order's held payout requests due again; DeadLetterRetried (an
// operator's) makes its parked call pending again, attempts from zero.
// commands/provider_worker.h works them. Not rebuildable: the rows carry the calls' outcomes.

#include <cstdint>
#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> provider_calls_projection(int64_t payout_delay_ms);

}  // namespace tally::projectors
