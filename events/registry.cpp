#include "events/registry.h"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "events/envelope.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/checkpoint.pb.h"
#include "tally/v1/credit.pb.h"
#include "tally/v1/customer.pb.h"
#include "tally/v1/loyalty.pb.h"
#include "tally/v1/operator.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"
#include "tally/v1/principal.pb.h"
#include "tally/v1/stock.pb.h"
#include "tally/v1/subscription.pb.h"

namespace tally::events {

namespace {

// One row per event type: its payload message, current schema version and, for
// money movements, where its posting set is.
struct EventType {
    std::string_view name;
    int schema_version;
    std::unique_ptr<google::protobuf::Message> (*make)();
    const v1::PostingSet* (*postings)(const google::protobuf::Message&);
    const v1::OrderStatusAfter* (*after)(const google::protobuf::Message&) = nullptr;
};

template <typename T>
std::unique_ptr<google::protobuf::Message> make() {
    return std::make_unique<T>();
}

template <typename T>
const v1::PostingSet* postings_field(const google::protobuf::Message& m) {
    return &static_cast<const T&>(m).postings();
}

template <typename T>
const v1::OrderStatusAfter* after_field(const google::protobuf::Message& m) {
    return &static_cast<const T&>(m).after();
}

template <typename T>
constexpr EventType lifecycle(std::string_view name) {
    if constexpr (requires(const T& t) { t.postings(); })
        return {name, 1, make<T>, postings_field<T>, after_field<T>};
    else
        return {name, 1, make<T>, nullptr, after_field<T>};
}

constexpr EventType kTypes[] = {
    {kCreditGranted, 1, make<v1::CreditGranted>, postings_field<v1::CreditGranted>},
    {kCreditReversed, 1, make<v1::CreditReversed>, postings_field<v1::CreditReversed>},
    {kCreditPolicySet, 1, make<v1::CreditPolicySet>, nullptr},
    {kCreditSpent, 1, make<v1::CreditSpent>, postings_field<v1::CreditSpent>},
    {kOrderPlaced, 1, make<v1::OrderPlaced>, postings_field<v1::OrderPlaced>},
    {kVendorDefined, 1, make<v1::VendorDefined>, nullptr},
    {kProductDefined, 1, make<v1::ProductDefined>, nullptr},
    {kStockAdjusted, 1, make<v1::StockAdjusted>, nullptr},
    {kStockReserved, 1, make<v1::StockReserved>, nullptr},
    {kStockReleased, 1, make<v1::StockReleased>, nullptr},
    {kCatalogSettingsChanged, 1, make<v1::CatalogSettingsChanged>, nullptr},
    {kCouponDefined, 1, make<v1::CouponDefined>, nullptr},
    {kCouponRedeemed, 1, make<v1::CouponRedeemed>, nullptr},
    {kCouponReleased, 1, make<v1::CouponReleased>, nullptr},
    {kCheckoutRecorded, 1, make<v1::CheckoutRecorded>, nullptr},
    {kGuestCheckedOut, 1, make<v1::GuestCheckedOut>, nullptr},
    {kGuestClaimed, 1, make<v1::GuestClaimed>, nullptr},
    {kOrderClaimed, 1, make<v1::OrderClaimed>, nullptr},
    {kCustomerProfileSet, 1, make<v1::CustomerProfileSet>, nullptr},
    {kWholesaleGranted, 1, make<v1::WholesaleGranted>, nullptr},
    {kLoyaltyProgramDefined, 1, make<v1::LoyaltyProgramDefined>, nullptr},
    {kSpendRecorded, 1, make<v1::SpendRecorded>, nullptr},
    {kTierChanged, 1, make<v1::TierChanged>, nullptr},
    {kTierHoldOpened, 1, make<v1::TierHoldOpened>, nullptr},
    {kTierHoldReleased, 1, make<v1::TierHoldReleased>, nullptr},
    lifecycle<v1::PaymentSucceeded>(kPaymentSucceeded),
    lifecycle<v1::PaymentFailed>(kPaymentFailed),
    lifecycle<v1::SubOrderAdvanced>(kSubOrderAdvanced),
    lifecycle<v1::OrderCancelled>(kOrderCancelled),
    lifecycle<v1::RefundIssued>(kRefundIssued),
    lifecycle<v1::ExternalRefundRecorded>(kExternalRefundRecorded),
    lifecycle<v1::RefundConfirmed>(kRefundConfirmed),
    lifecycle<v1::DisputeOpened>(kDisputeOpened),
    lifecycle<v1::DisputeClosed>(kDisputeClosed),
    lifecycle<v1::PayoutRequested>(kPayoutRequested),
    lifecycle<v1::PayoutSettled>(kPayoutSettled),
    lifecycle<v1::PayoutReversed>(kPayoutReversed),
    lifecycle<v1::ProviderSignalFlagged>(kProviderSignalFlagged),
    lifecycle<v1::ProviderSignalDeferred>(kProviderSignalDeferred),
    {kProviderEventRecorded, 1, make<v1::ProviderEventRecorded>, nullptr},
    {kCreditReturned, 1, make<v1::CreditReturned>, nullptr},
    {kProviderRequestCompleted, 1, make<v1::ProviderRequestCompleted>, nullptr},
    {kAffiliateDefined, 1, make<v1::AffiliateDefined>, nullptr},
    {kReferralCodeAssigned, 1, make<v1::ReferralCodeAssigned>, nullptr},
    {kReferralVisitRecorded, 1, make<v1::ReferralVisitRecorded>, nullptr},
    lifecycle<v1::AffiliateConversionRecorded>(kAffiliateConversionRecorded),
    lifecycle<v1::AffiliateConversionReversed>(kAffiliateConversionReversed),
    lifecycle<v1::AffiliateConversionPaidOut>(kAffiliateConversionPaidOut),
    {kAffiliatePayoutScheduleSet, 1, make<v1::AffiliatePayoutScheduleSet>, nullptr},
    {kAffiliatePayoutRequested, 1, make<v1::AffiliatePayoutRequested>, nullptr},
    {kAffiliatePayoutSettled, 1, make<v1::AffiliatePayoutSettled>, postings_field<v1::AffiliatePayoutSettled>},
    {kAffiliatePayoutFailed, 1, make<v1::AffiliatePayoutFailed>, nullptr},
    {kAffiliatePayoutReversed, 1, make<v1::AffiliatePayoutReversed>, postings_field<v1::AffiliatePayoutReversed>},
    {kSubscriptionStarted, 1, make<v1::SubscriptionStarted>, nullptr},
    {kSubscriptionChanged, 1, make<v1::SubscriptionChanged>, nullptr},
    {kSubscriptionPaused, 1, make<v1::SubscriptionPaused>, nullptr},
    {kSubscriptionSkipRequested, 1, make<v1::SubscriptionSkipRequested>, nullptr},
    {kSubscriptionCancelRequested, 1, make<v1::SubscriptionCancelRequested>, nullptr},
    {kSubscriptionCancelled, 1, make<v1::SubscriptionCancelled>, nullptr},
    {kRenewalPlaced, 1, make<v1::RenewalPlaced>, nullptr},
    {kRenewalSkipped, 1, make<v1::RenewalSkipped>, nullptr},
    {kRenewalLineSkipped, 1, make<v1::RenewalLineSkipped>, nullptr},
    {kRenewalPaymentFailed, 1, make<v1::RenewalPaymentFailed>, nullptr},
    {kRenewalRetryRequested, 1, make<v1::RenewalRetryRequested>, nullptr},
    {kRenewalPaid, 1, make<v1::RenewalPaid>, nullptr},
    {kSubscriptionPastDue, 1, make<v1::SubscriptionPastDue>, nullptr},
    {kChainCheckpoint, 1, make<v1::ChainCheckpoint>, nullptr},
    {kProjectionRebuilt, 1, make<v1::ProjectionRebuilt>, nullptr},
    {kDeadLetterRetried, 1, make<v1::DeadLetterRetried>, nullptr},
    {kPrincipalDefined, 1, make<v1::PrincipalDefined>, nullptr},
    {kPrincipalSessionsRevoked, 1, make<v1::PrincipalSessionsRevoked>, nullptr},
};

const EventType* find_type(std::string_view name) {
    for (const auto& t : kTypes)
        if (t.name == name) return &t;
    return nullptr;
}

}  // namespace

std::vector<std::string_view> known_types() {
    std::vector<std::string_view> out;
    for (const auto& t : kTypes) out.push_back(t.name);
    return out;
}

void upcast_signal(v1::ProviderSignal& signal) {
    if (signal.kind() != v1::SIGNAL_UNSPECIFIED) return;
    // The provider's types as the journal held them before kinds: frozen, like the
    // payloads they describe (the live mapping is the adapter's, http/stripe.cpp).
    static constexpr std::pair<std::string_view, v1::SignalKind> kWritten[] = {
        {"payment_intent.succeeded", v1::SIGNAL_PAYMENT_SUCCEEDED},
        {"payment_intent.payment_failed", v1::SIGNAL_PAYMENT_FAILED},
        {"charge.refunded", v1::SIGNAL_CHARGE_REFUNDED},
        {"charge.dispute.created", v1::SIGNAL_DISPUTE_OPENED},
        {"charge.dispute.closed", v1::SIGNAL_DISPUTE_CLOSED},
        {"transfer.created", v1::SIGNAL_TRANSFER_CREATED},
        {"transfer.reversed", v1::SIGNAL_TRANSFER_REVERSED}};
    for (const auto& [type, kind] : kWritten)
        if (signal.type() == type) return signal.set_kind(kind);
}

std::unique_ptr<google::protobuf::Message> decode_payload(const v1::EventEnvelope& e) {
    const EventType* t = find_type(e.type());
    if (!t) return nullptr;
    auto msg = t->make();
    // Every type is at version 1; fields added since are filled in here for payloads
    // written before them (a provider signal's kind).
    if (!msg->ParseFromString(e.payload())) return nullptr;
    const auto* field = msg->GetDescriptor()->FindFieldByName("signal");
    if (field && field->message_type() == v1::ProviderSignal::descriptor() && msg->GetReflection()->HasField(*msg, field))
        upcast_signal(*static_cast<v1::ProviderSignal*>(msg->GetReflection()->MutableMessage(msg.get(), field)));
    return msg;
}

int current_schema_version(std::string_view type) {
    const EventType* t = find_type(type);
    return t ? t->schema_version : 0;
}

std::optional<v1::OrderStatusAfter> status_after(const v1::EventEnvelope& e) {
    const EventType* t = find_type(e.type());
    if (!t || !t->after) return std::nullopt;
    auto msg = decode_payload(e);
    if (!msg) return std::nullopt;
    return *t->after(*msg);
}

LedgerFacts ledger_facts(const v1::EventEnvelope& e) {
    LedgerFacts out;
    const EventType* t = find_type(e.type());
    if (!t || (!t->postings && !t->after)) return out;
    out.payload = decode_payload(e);
    if (!out.payload) return out;
    if (t->postings) out.postings = t->postings(*out.payload);
    if (t->after) out.after = t->after(*out.payload);
    return out;
}

std::optional<v1::PostingSet> postings_of(const v1::EventEnvelope& e) {
    const EventType* t = find_type(e.type());
    if (!t || !t->postings) return std::nullopt;
    auto msg = decode_payload(e);
    if (!msg) return std::nullopt;
    return *t->postings(*msg);
}

std::string envelope_to_json(const v1::EventEnvelope& e) {
    nlohmann::json payload = nullptr;
    if (auto msg = decode_payload(e)) {
        google::protobuf::util::JsonPrintOptions options;
        options.preserve_proto_field_names = true;
        std::string text;
        if (google::protobuf::util::MessageToJsonString(*msg, &text, options).ok())
            payload = nlohmann::json::parse(text, nullptr, false);
    }
    nlohmann::json out = {
        {"event_id", e.event_id()},
        {"stream_id", e.stream_id()},
        {"stream_version", e.stream_version()},
        {"position", e.position()},
        {"type", e.type()},
        {"schema_version", e.schema_version()},
        {"occurred_at_unix_ms", e.occurred_at_unix_ms()},
        {"causation_id", e.causation_id()},
        {"correlation_id", e.correlation_id()},
        {"actor", e.actor()},
        {"prev_hash", to_hex(e.prev_hash())},
        {"hash", to_hex(e.hash())},
        {"payload", payload},
    };
    // Text that is not UTF-8 (only a damaged envelope has any) prints as U+FFFD rather
    // than throwing out of an auditor's read (found by fuzz_envelope).
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tally::events
