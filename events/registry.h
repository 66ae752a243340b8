#pragma once
// The event type registry: which payload message each type name carries, its
// current schema version, how old versions are upcast, and the ledger postings
// it records (if any).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tally/v1/envelope.pb.h"
#include "tally/v1/money.pb.h"

namespace google::protobuf {
class Message;
}

namespace tally::events {

inline constexpr std::string_view kCreditGranted = "CreditGranted";
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
inline constexpr std::string_view kCustomerProfileSet = "CustomerProfileSet";

// Decodes the payload into its message (upcast to the current version); nothing
// when the type is unknown or the bytes do not parse.
std::unique_ptr<google::protobuf::Message> decode_payload(const v1::EventEnvelope& e);

// The current schema version of a type; 0 for unknown types.
int current_schema_version(std::string_view type);

// The posting set an event records on the ledger, if it records one.
std::optional<v1::PostingSet> postings_of(const v1::EventEnvelope& e);

// JSON for auditors and the stream API: envelope fields, hashes in hex, payload decoded.
std::string envelope_to_json(const v1::EventEnvelope& e);

}  // namespace tally::events
