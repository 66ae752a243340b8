#include "http/json_input.h"

#include <gtest/gtest.h>

#include "tally/v1/catalog.pb.h"

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
    auto unknown = parse_json_message(R"({"matrix":{"a":1}})", p);
    EXPECT_EQ(unknown->code, "unknown_field");
    EXPECT_EQ(unknown->field, "matrix.a");
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
