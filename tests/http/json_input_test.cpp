#include "http/json_input.h"

#include <gtest/gtest.h>

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

TEST(ObjectReader, FirstErrorWins) {
    auto e = read(R"({"amount_minor":"x","currency":5,"zzz":1})");
    EXPECT_EQ(e->field, "amount_minor");
    EXPECT_EQ(e->status, 400);
}

}  // namespace tally::http
