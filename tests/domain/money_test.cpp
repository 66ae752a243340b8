#include "domain/money.h"

#include <gtest/gtest.h>

#include <climits>

namespace tally {

TEST(Currency, ParsesKnownCodesOnly) {
    EXPECT_TRUE(Currency::parse("USD"));
    EXPECT_TRUE(Currency::parse("JPY"));
    EXPECT_FALSE(Currency::parse("usd"));
    EXPECT_FALSE(Currency::parse("XXX"));
    EXPECT_FALSE(Currency::parse("US"));
    EXPECT_FALSE(Currency::parse("USDD"));
    EXPECT_FALSE(Currency::parse(""));
}

TEST(Currency, KnowsMinorDigitsAndMinimumCharges) {
    EXPECT_EQ(Currency::parse("USD")->minor_digits(), 2);
    EXPECT_EQ(Currency::parse("JPY")->minor_digits(), 0);
    EXPECT_EQ(Currency::parse("KWD")->minor_digits(), 3);
    EXPECT_EQ(Currency::parse("USD")->minimum_charge_minor(), 50);
    EXPECT_EQ(Currency::parse("EUR")->minimum_charge_minor(), 50);
    EXPECT_EQ(Currency::parse("CHF")->minimum_charge_minor(), 50);
    EXPECT_EQ(Currency::parse("CAD")->minimum_charge_minor(), 50);
    EXPECT_EQ(Currency::parse("GBP")->minimum_charge_minor(), 30);
}

TEST(Money, AddMinorDetectsOverflow) {
    EXPECT_EQ(add_minor(1, 2), 3);
    EXPECT_EQ(add_minor(-5, 2), -3);
    EXPECT_FALSE(add_minor(INT64_MAX, 1));
    EXPECT_FALSE(add_minor(INT64_MIN, -1));
}

TEST(Money, FormatsByMinorDigits) {
    EXPECT_EQ(format_money(12345, *Currency::parse("USD")), "123.45 USD");
    EXPECT_EQ(format_money(5, *Currency::parse("USD")), "0.05 USD");
    EXPECT_EQ(format_money(-105, *Currency::parse("EUR")), "-1.05 EUR");
    EXPECT_EQ(format_money(500, *Currency::parse("JPY")), "500 JPY");
    EXPECT_EQ(format_money(1234, *Currency::parse("KWD")), "1.234 KWD");
    EXPECT_EQ(format_money(INT64_MIN, *Currency::parse("USD")), "-92233720368547758.08 USD");
}

}  // namespace tally
