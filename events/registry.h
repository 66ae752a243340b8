#pragma once
// The event type registry: which payload message each type name carries, its
// current schema version, how old versions are upcast, and the ledger postings
// it records (if any).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/v1/envelope.pb.h"
#include "tally/v1/money.pb.h"
#include "tally/v1/payment.pb.h"

namespace google::protobuf {
class Message;
}

namespace tally::events {

inline constexpr std::string_view kCreditGranted = "CreditGranted";
inline constexpr std::string_view kCreditReversed = "CreditReversed";
inline constexpr std::string_view kCreditPolicySet = "CreditPolicySet";
inline constexpr std::string_view kVendorDefined = "VendorDefined";
inline constexpr std::string_view kProductDefined = "ProductDefined";
inline constexpr std::string_view kStockAdjusted = "StockAdjusted";
inline constexpr std::string_view kStockReserved = "StockReserved";
inline constexpr std::string_view kStockReleased = "StockReleased";
inline constexpr std::string_view kCatalogSettingsChanged = "CatalogSettingsChanged";
inline constexpr std::string_view kCouponDefined = "CouponDefined";
inline constexpr std::string_view kOrderPlaced = "OrderPlaced";
inline constexpr std::string_view kCreditSpent = "CreditSpent";
inline constexpr std::string_view kCouponRedeemed = "CouponRedeemed";
inline constexpr std::string_view kCouponReleased = "CouponReleased";
inline constexpr std::string_view kCheckoutRecorded = "CheckoutRecorded";
inline constexpr std::string_view kGuestCheckedOut = "GuestCheckedOut";
inline constexpr std::string_view kGuestClaimed = "GuestClaimed";
inline constexpr std::string_view kOrderClaimed = "OrderClaimed";
inline constexpr std::string_view kCustomerProfileSet = "CustomerProfileSet";
inline constexpr std::string_view kWholesaleGranted = "WholesaleGranted";
inline constexpr std::string_view kLoyaltyProgramDefined = "LoyaltyProgramDefined";
inline constexpr std::string_view kSpendRecorded = "SpendRecorded";
inline constexpr std::string_view kTierChanged = "TierChanged";
inline constexpr std::string_view kTierHoldOpened = "TierHoldOpened";
inline constexpr std::string_view kTierHoldReleased = "TierHoldReleased";
// The order lifecycle (domain/lifecycle.h names them by the same strings).
inline constexpr std::string_view kPaymentSucceeded = "PaymentSucceeded";
inline constexpr std::string_view kPaymentFailed = "PaymentFailed";
inline constexpr std::string_view kSubOrderAdvanced = "SubOrderAdvanced";
inline constexpr std::string_view kOrderCancelled = "OrderCancelled";
inline constexpr std::string_view kRefundIssued = "RefundIssued";
inline constexpr std::string_view kExternalRefundRecorded = "ExternalRefundRecorded";
inline constexpr std::string_view kRefundConfirmed = "RefundConfirmed";
inline constexpr std::string_view kDisputeOpened = "DisputeOpened";
inline constexpr std::string_view kDisputeClosed = "DisputeClosed";
inline constexpr std::string_view kPayoutRequested = "PayoutRequested";
inline constexpr std::string_view kPayoutSettled = "PayoutSettled";
inline constexpr std::string_view kPayoutReversed = "PayoutReversed";
inline constexpr std::string_view kProviderSignalFlagged = "ProviderSignalFlagged";
inline constexpr std::string_view kProviderSignalDeferred = "ProviderSignalDeferred";
inline constexpr std::string_view kProviderEventRecorded = "ProviderEventRecorded";
inline constexpr std::string_view kCreditReturned = "CreditReturned";
inline constexpr std::string_view kProviderRequestCompleted = "ProviderRequestCompleted";
// Affiliates.
inline constexpr std::string_view kAffiliateDefined = "AffiliateDefined";
inline constexpr std::string_view kReferralCodeAssigned = "ReferralCodeAssigned";
inline constexpr std::string_view kReferralVisitRecorded = "ReferralVisitRecorded";
inline constexpr std::string_view kAffiliateConversionRecorded = "AffiliateConversionRecorded";
inline constexpr std::string_view kAffiliateConversionReversed = "AffiliateConversionReversed";
inline constexpr std::string_view kAffiliateConversionPaidOut = "AffiliateConversionPaidOut";
inline constexpr std::string_view kAffiliatePayoutScheduleSet = "AffiliatePayoutScheduleSet";
inline constexpr std::string_view kAffiliatePayoutRequested = "AffiliatePayoutRequested";
inline constexpr std::string_view kAffiliatePayoutSettled = "AffiliatePayoutSettled";
inline constexpr std::string_view kAffiliatePayoutFailed = "AffiliatePayoutFailed";
inline constexpr std::string_view kAffiliatePayoutReversed = "AffiliatePayoutReversed";
// Subscriptions (domain/subscription.h).
inline constexpr std::string_view kSubscriptionStarted = "SubscriptionStarted";
inline constexpr std::string_view kSubscriptionChanged = "SubscriptionChanged";
inline constexpr std::string_view kSubscriptionPaused = "SubscriptionPaused";
inline constexpr std::string_view kSubscriptionSkipRequested = "SubscriptionSkipRequested";
inline constexpr std::string_view kSubscriptionCancelRequested = "SubscriptionCancelRequested";
inline constexpr std::string_view kSubscriptionCancelled = "SubscriptionCancelled";
inline constexpr std::string_view kRenewalPlaced = "RenewalPlaced";
inline constexpr std::string_view kRenewalSkipped = "RenewalSkipped";
inline constexpr std::string_view kRenewalLineSkipped = "RenewalLineSkipped";
inline constexpr std::string_view kRenewalPaymentFailed = "RenewalPaymentFailed";
inline constexpr std::string_view kRenewalRetryRequested = "RenewalRetryRequested";
inline constexpr std::string_view kRenewalPaid = "RenewalPaid";
inline constexpr std::string_view kSubscriptionPastDue = "SubscriptionPastDue";
// Audit.
inline constexpr std::string_view kChainCheckpoint = "ChainCheckpoint";
inline constexpr std::string_view kProjectionRebuilt = "ProjectionRebuilt";
inline constexpr std::string_view kDeadLetterRetried = "DeadLetterRetried";
// Identity.
inline constexpr std::string_view kPrincipalDefined = "PrincipalDefined";
inline constexpr std::string_view kPrincipalSessionsRevoked = "PrincipalSessionsRevoked";

// Decodes the payload into its message (upcast to the current version); nothing
// when the type is unknown or the bytes do not parse.
std::unique_ptr<google::protobuf::Message> decode_payload(const v1::EventEnvelope& e);

// Provider signals written before they carried a kind (SIGNAL_UNSPECIFIED with the
// provider's type, which was then always Stripe's) get the kind that type had. A
// signal with a kind, or of a type nobody acted on, is left as it is. decode_payload
// applies it to every payload's signal; callers reading signals out of a snapshot
// state apply it themselves.
void upcast_signal(v1::ProviderSignal& signal);

// Every event type's name, in the registry's order.
std::vector<std::string_view> known_types();

// The current schema version of a type; 0 for unknown types.
int current_schema_version(std::string_view type);

// The posting set an event records on the ledger, if it records one.
std::optional<v1::PostingSet> postings_of(const v1::EventEnvelope& e);

// The order status an order lifecycle event leaves behind, if it is one.
std::optional<v1::OrderStatusAfter> status_after(const v1::EventEnvelope& e);

// Both of the above from one decode (for a reader that wants both of every event): the
// pointers point into `payload`; each is null when the event records none.
struct LedgerFacts {
    std::unique_ptr<google::protobuf::Message> payload;
    const v1::PostingSet* postings = nullptr;
    const v1::OrderStatusAfter* after = nullptr;
};
LedgerFacts ledger_facts(const v1::EventEnvelope& e);

// The payload as M: the message `facts` already decoded when it is one, else parsed into
// `own`; null when it does not parse. (For a reader that wants more of an event than its
// ledger facts, without decoding it twice.)
template <typename M>
const M* payload_as(const LedgerFacts& facts, const v1::EventEnvelope& e, M& own) {
    if (facts.payload && facts.payload->GetDescriptor() == M::descriptor()) return static_cast<const M*>(facts.payload.get());
    return own.ParseFromString(e.payload()) ? &own : nullptr;
}

// JSON for auditors and the stream API: envelope fields, hashes in hex, payload decoded.
std::string envelope_to_json(const v1::EventEnvelope& e);

}  // namespace tally::events
