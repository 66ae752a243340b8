#include "http/json_input.h"

#include <gtest/gtest.h>

#include "tally/v1/catalog.pb.h"
#include "tally/v1/customer.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::http {
namespace {

std::optional<FieldError> read(const std::string& body) {
    ObjectReader in(body);
    in.int64("amount_minor");
    in.string("currency", 3, 3);
    return in.finish();
}

}  // namespace

TEST(ObjectReader, AcceptsAWellFormedBody) {
    ObjectReader in(R"({"amount_minor": 250, "currency": "USD"})");
    EXPECT_EQ(in.int64("amount_minor"), 250);
    EXPECT_EQ(in.string("currency", 3, 3), "USD");
    EXPECT_FALSE(in.finish());
}

TEST(ObjectReader, NamesTheProblem) {
    EXPECT_EQ(read("{not json")->code, "malformed_json");
    EXPECT_EQ(read("[1,2]")->code, "malformed_json");
    EXPECT_EQ(read(R"({"currency":"USD"})")->field, "amount_minor");
    EXPECT_EQ(read(R"({"currency":"USD"})")->code, "missing_field");
    EXPECT_EQ(read(R"({"amount_minor":"12","currency":"USD"})")->code, "wrong_type");
    EXPECT_EQ(read(R"({"amount_minor":12.5,"currency":"USD"})")->code, "wrong_type");
    EXPECT_EQ(read(R"({"amount_minor":null,"currency":"USD"})")->code, "missing_field");
    EXPECT_EQ(read(R"({"amount_minor":1,"currency":7})")->field, "currency");
    EXPECT_EQ(read(R"({"amount_minor":1,"currency":"US"})")->code, "invalid_value");
    EXPECT_EQ(read(R"({"amount_minor":1,"currency":"USD","extra":true})")->code, "unknown_field");
    EXPECT_EQ(read(R"({"amount_minor":1,"currency":"USD","extra":true})")->field, "extra");
    EXPECT_EQ(read(R"({"amount_minor":18446744073709551615,"currency":"USD"})")->code, "invalid_value");
}

TEST(ObjectReader, RefusesNulAndInvalidUtf8) {
    auto nul = read(R"({"amount_minor":1,"currency":"US\u0000"})");
    EXPECT_EQ(nul->code, "invalid_value");
    EXPECT_EQ(nul->field, "currency");
    EXPECT_EQ(read("{\"amount_minor\":1,\"currency\":\"\xff\xfe\x41\"}")->code, "malformed_json");
}

TEST(ParseJsonMessage, NamesNestedFields) {
    v1::ProductDefinition p;
    EXPECT_FALSE(parse_json_message(R"({"sku":"a","base_minor":5,"matrix":[{"material":"m"}]})", p));
    EXPECT_EQ(p.matrix(0).material(), "m");
    auto unknown = parse_json_message(R"({"matrix":[{"a":1}]})", p);
    EXPECT_EQ(unknown->code, "unknown_field");
    EXPECT_EQ(unknown->field, "matrix[0].a");
    auto not_a_list = parse_json_message(R"({"matrix":{"a":1}})", p);
    EXPECT_EQ(not_a_list->code, "wrong_type");
    EXPECT_EQ(not_a_list->field, "matrix");
    auto top = parse_json_message(R"({"colour":"red"})", p);
    EXPECT_EQ(top->field, "colour");
    auto deep = parse_json_message(R"({"matrix":[{"breaks":[{"min_quantity":"x"}]}]})", p);
    EXPECT_EQ(deep->code, "wrong_type");
    EXPECT_EQ(deep->field, "matrix[0].breaks[0].min_quantity");
    EXPECT_EQ(parse_json_message("[]", p)->code, "malformed_json");
    EXPECT_EQ(parse_json_message(R"({"sku":"\u0000"})", p)->code, "invalid_value");
}

TEST(ObjectReader, FirstErrorWins) {
    auto e = read(R"({"amount_minor":"x","currency":5,"zzz":1})");
    EXPECT_EQ(e->field, "amount_minor");
    EXPECT_EQ(e->status, 400);
}

}  // namespace tally::http

namespace tally::http {

// Finding 9 of the hostile-input review: protobuf's JSON parser took "100", 1.0, 1e2 for
// integers and "yes" for true, and its refusals named parser internals.
TEST(ParseJsonMessage, NumbersAndBooleansAreStrictJson) {
    v1::ProductDefinition p;
    for (const char* body : {R"({"base_minor":"100"})", R"({"base_minor":1.0})", R"({"base_minor":1e2})",
                             R"({"base_minor":true})", R"({"base_minor":{}})", R"({"base_minor":[]})",
                             R"({"base_minor":null})", R"({"base_minor":99999999999999999999999})"}) {
        auto e = parse_json_message(body, p);
        ASSERT_TRUE(e) << body;
        EXPECT_EQ(e->status, 400) << body;
        EXPECT_EQ(e->code, "wrong_type") << body;
        EXPECT_EQ(e->field, "base_minor") << body;
        EXPECT_EQ(e->detail.find("TYPE_"), std::string::npos) << e->detail;
    }
    auto overflow = parse_json_message(R"({"base_minor":9223372036854775808})", p);
    EXPECT_EQ(overflow->code, "invalid_value");
    EXPECT_EQ(overflow->field, "base_minor");
    v1::CustomerProfile profile;
    for (const char* body : {R"({"wholesale_eligible":"yes"})", R"({"wholesale_eligible":"true"})",
                             R"({"wholesale_eligible":1})"}) {
        auto e = parse_json_message(body, profile);
        ASSERT_TRUE(e) << body;
        EXPECT_EQ(e->code, "wrong_type");
        EXPECT_EQ(e->field, "wholesale_eligible");
    }
    EXPECT_FALSE(parse_json_message(R"({"wholesale_eligible":true})", profile));
    EXPECT_TRUE(profile.wholesale_eligible());
}

TEST(ParseJsonMessage, OnlyProtoNamesEnumsByNameAndNoControlCharacters) {
    v1::CouponDefinition c;
    auto camel = parse_json_message(R"({"percentBps":10})", c);
    EXPECT_EQ(camel->code, "unknown_field");
    EXPECT_EQ(camel->field, "percentBps");
    auto number = parse_json_message(R"({"kind":1})", c);
    EXPECT_EQ(number->code, "wrong_type");
    auto unknown = parse_json_message(R"({"kind":"HALF"})", c);
    EXPECT_EQ(unknown->code, "invalid_value");
    EXPECT_NE(unknown->detail.find("PERCENT"), std::string::npos);
    EXPECT_FALSE(parse_json_message(R"({"kind":"PERCENT","percent_bps":1000})", c));
    v1::ProductDefinition p;
    auto control = parse_json_message(R"({"vendor_id":"a\u0001b"})", p);
    EXPECT_EQ(control->code, "invalid_value");
    EXPECT_EQ(control->field, "vendor_id");
    auto nul = parse_json_message(R"({"matrix":[{"material":"a\u0000"}]})", p);
    EXPECT_EQ(nul->field, "matrix[0].material");
    EXPECT_FALSE(parse_json_message(R"({"vendor_id":"tabs\tand\nlines are text"})", p));
}

// Found by fuzz_json_input: a number beyond a double's range threw out of the parser,
// and a request carrying one was answered 500.
TEST(ParseDocument, ANumberOutOfRangeIsMalformedNotAnException) {
    for (const char* body : {"1e999", R"({"amount_minor": -1e400})", "[8888888888888888e8888888888883554910301864665]"}) {
        auto doc = parse_document(body);
        ASSERT_FALSE(doc) << body;
        EXPECT_EQ(doc.error().code, "malformed_json") << body;
        EXPECT_EQ(doc.error().status, 400) << body;
        ObjectReader in(body);
        EXPECT_FALSE(in.int64("amount_minor"));
        ASSERT_TRUE(in.finish());
    }
    v1::RefundRequest r;
    auto e = parse_json_message(R"({"amount_minor": 1e999})", r);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code, "malformed_json");
}

TEST(ParseDocument, DuplicateKeysAndDeepNestingAreRefused) {
    auto dup = parse_document(R"({"a":1,"a":2})");
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code, "duplicate_key");
    EXPECT_EQ(dup.error().field, "a");
    auto nested = parse_document(R"({"lines":[{"sku":"x","sku":"y"}]})");
    ASSERT_FALSE(nested);
    EXPECT_EQ(nested.error().field, "lines[0].sku");
    EXPECT_TRUE(parse_document(R"({"lines":[{"sku":"x"},{"sku":"y"}]})"));
    std::string deep(kJsonDepthMax + 1, '[');
    deep += std::string(kJsonDepthMax + 1, ']');
    auto too_deep = parse_document(deep);
    ASSERT_FALSE(too_deep);
    EXPECT_EQ(too_deep.error().code, "malformed_json");
    std::string ok(kJsonDepthMax, '[');
    ok += std::string(kJsonDepthMax, ']');
    EXPECT_TRUE(parse_document(ok));
    std::string huge(100000, '[');  // never recursed into
    EXPECT_FALSE(parse_document(huge));
    auto bad_utf8 = parse_document("{\"a\":\"\xed\xa0\x80\"}");  // a UTF-16 surrogate in UTF-8
    ASSERT_FALSE(bad_utf8);
    EXPECT_EQ(bad_utf8.error().code, "malformed_json");
    ObjectReader reader(R"({"amount_minor":1,"amount_minor":2})");
    reader.int64("amount_minor");
    EXPECT_EQ(reader.finish()->code, "duplicate_key");
}

}  // namespace tally::http
