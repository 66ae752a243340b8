// Fuzz target: the strict JSON input reader (http/json_input.h) with every request body
// tally reads. The first byte picks the reader (a protobuf request DTO, or one of the
// field-by-field ObjectReader shapes); the rest is the body. Properties, on every input:
//  - an error is 400 (malformed, wrong type, unknown or missing field) or 422 (a bad
//    value), with one of the documented codes and a detail;
//  - reading is deterministic: the same body gives the same outcome twice;
//  - a document that parses prints back to JSON that parses to the same document.

#include <google/protobuf/message.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "http/json_input.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/checkout.pb.h"
#include "tally/v1/customer.pb.h"
#include "tally/v1/loyalty.pb.h"
#include "tally/v1/operator.pb.h"
#include "tally/v1/payment.pb.h"
#include "tally/v1/principal.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using tally::http::FieldError;
using Make = std::function<std::unique_ptr<google::protobuf::Message>()>;

template <typename M>
Make make() {
    return [] { return std::make_unique<M>(); };
}

// Every DTO a route parses with parse_json_message.
const std::vector<Make>& dtos() {
    static const std::vector<Make> all = {
        make<tally::v1::AffiliateDefinition>(), make<tally::v1::AffiliatePayoutSchedule>(), make<tally::v1::CancelRequest>(),
        make<tally::v1::CartRequest>(),         make<tally::v1::CatalogSettings>(),         make<tally::v1::CouponDefinition>(),
        make<tally::v1::CustomerProfile>(),     make<tally::v1::FulfilmentRequest>(),       make<tally::v1::GuestClaimRequest>(),
        make<tally::v1::GuestRequest>(),        make<tally::v1::LoyaltyProgram>(),          make<tally::v1::OperatorActRequest>(),
        make<tally::v1::PayoutRequest>(),       make<tally::v1::PrincipalRequest>(),        make<tally::v1::ProductDefinition>(),
        make<tally::v1::RefundRequest>(),       make<tally::v1::RevokeRequest>(),           make<tally::v1::VendorDefinition>()};
    return all;
}

void check_error(const FieldError& e) {
    static const std::set<std::string> codes = {"malformed_json", "duplicate_key", "wrong_type", "missing_field", "unknown_field",
                                                "invalid_value"};
    TALLY_FUZZ_CHECK(e.status == 400 || e.status == 422);
    if (!codes.contains(e.code)) std::fprintf(stderr, "code %s (field %s: %s)\n", e.code.c_str(), e.field.c_str(), e.detail.c_str());
    TALLY_FUZZ_CHECK(codes.contains(e.code));
    TALLY_FUZZ_CHECK(!e.detail.empty());
}

std::string outcome(const std::optional<FieldError>& e, const google::protobuf::Message& m) {
    return e ? e->code + "|" + e->field + "|" + e->detail : "ok|" + m.SerializeAsString();
}

// The ObjectReader shapes: a credit grant, a credit policy, a stock adjustment, a referral visit.
std::optional<FieldError> read_shape(int shape, std::string_view body, std::string& got) {
    tally::http::ObjectReader in(body);
    auto keep = [&](const auto& v) {
        if (v) got += "[" + std::to_string(v->size()) + "]";
        else got += "-";
    };
    auto keep_int = [&](const std::optional<int64_t>& v) { got += v ? std::to_string(*v) : std::string("-"); };
    switch (shape) {
        case 0:
            keep_int(in.int64("amount_minor"));
            keep(in.string("currency", 3, 3));
            keep(in.string("reason", 1, 500));
            break;
        case 1:
            keep_int(in.int64("grant_max_minor"));
            keep_int(in.int64("balance_max_minor"));
            keep(in.string("reason", 1, 500));
            break;
        case 2:
            keep_int(in.int64("delta"));
            keep(in.string("reason", 1, 500));
            break;
        default:
            keep(in.string("ref", 1, 64));
            break;
    }
    return in.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const size_t pick = data[0] % (dtos().size() + 5);

    if (pick < dtos().size()) {
        auto first = dtos()[pick]();
        auto second = dtos()[pick]();
        auto a = tally::http::parse_json_message(body, *first);
        auto b = tally::http::parse_json_message(body, *second);
        if (a) check_error(*a);
        TALLY_FUZZ_CHECK(outcome(a, *first) == outcome(b, *second));
        return 0;
    }
    if (pick < dtos().size() + 4) {
        std::string got_a, got_b;
        auto a = read_shape(static_cast<int>(pick - dtos().size()), body, got_a);
        auto b = read_shape(static_cast<int>(pick - dtos().size()), body, got_b);
        if (a) check_error(*a);
        TALLY_FUZZ_CHECK(got_a == got_b && a.has_value() == b.has_value());
        return 0;
    }
    auto doc = tally::http::parse_document(body);
    if (!doc) {
        check_error(doc.error());
        return 0;
    }
    const std::string printed = doc->dump();
    auto again = tally::http::parse_document(printed);
    TALLY_FUZZ_CHECK(again.has_value());
    TALLY_FUZZ_CHECK(*again == *doc);
    return 0;
}
