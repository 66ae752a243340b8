#include "events/registry.h"

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "events/envelope.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/credit.pb.h"
#include "tally/v1/customer.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/stock.pb.h"

namespace tally::events {

std::unique_ptr<google::protobuf::Message> decode_payload(const v1::EventEnvelope& e) {
    std::unique_ptr<google::protobuf::Message> msg;
    if (e.type() == kCreditGranted) msg = std::make_unique<v1::CreditGranted>();
    else if (e.type() == kVendorDefined) msg = std::make_unique<v1::VendorDefined>();
    else if (e.type() == kProductDefined) msg = std::make_unique<v1::ProductDefined>();
    else if (e.type() == kStockAdjusted) msg = std::make_unique<v1::StockAdjusted>();
    else if (e.type() == kStockReserved) msg = std::make_unique<v1::StockReserved>();
    else if (e.type() == kStockReleased) msg = std::make_unique<v1::StockReleased>();
    else if (e.type() == kCatalogSettingsChanged) msg = std::make_unique<v1::CatalogSettingsChanged>();
    else if (e.type() == kCouponDefined) msg = std::make_unique<v1::CouponDefined>();
    else if (e.type() == kOrderPlaced) msg = std::make_unique<v1::OrderPlaced>();
    else if (e.type() == kCreditSpent) msg = std::make_unique<v1::CreditSpent>();
    else if (e.type() == kCouponRedeemed) msg = std::make_unique<v1::CouponRedeemed>();
    else if (e.type() == kCustomerProfileSet) msg = std::make_unique<v1::CustomerProfileSet>();
    // Version 1 is the only version so far; an upcaster would rewrite older payloads here.
    if (!msg || !msg->ParseFromString(e.payload())) return nullptr;
    return msg;
}

int current_schema_version(std::string_view type) {
    for (auto known : {kCreditGranted, kVendorDefined, kProductDefined, kStockAdjusted, kStockReserved, kStockReleased,
                       kCatalogSettingsChanged, kCouponDefined, kOrderPlaced, kCreditSpent, kCouponRedeemed, kCustomerProfileSet})
        if (type == known) return 1;
    return 0;
}

std::optional<v1::PostingSet> postings_of(const v1::EventEnvelope& e) {
    if (e.type() == kCreditGranted) {
        v1::CreditGranted granted;
        if (!granted.ParseFromString(e.payload())) return std::nullopt;
        return granted.postings();
    }
    if (e.type() == kOrderPlaced) {
        v1::OrderPlaced placed;
        if (!placed.ParseFromString(e.payload())) return std::nullopt;
        return placed.postings();
    }
    if (e.type() == kCreditSpent) {
        v1::CreditSpent spent;
        if (!spent.ParseFromString(e.payload())) return std::nullopt;
        return spent.postings();
    }
    return std::nullopt;
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
    return out.dump();
}

}  // namespace tally::events
