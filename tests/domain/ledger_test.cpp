#include "domain/ledger.h"

#include <gtest/gtest.h>

namespace tally::ledger {
namespace {

Money usd(int64_t minor) { return Money{minor, *Currency::parse("USD")}; }
Money eur(int64_t minor) { return Money{minor, *Currency::parse("EUR")}; }

v1::PostingSet set_of(std::initializer_list<v1::Posting> postings) {
    v1::PostingSet s;
    for (const auto& p : postings) *s.add_postings() = p;
    return s;
}

}  // namespace

TEST(Ledger, AccountNamesCarryTheParty) {
    EXPECT_EQ(store_credit_liability("c1"), "store_credit_liability:c1");
    EXPECT_EQ(vendor_payable("v9"), "vendor_payable:v9");
}

TEST(Ledger, BalancedSetPasses) {
    auto s = set_of({debit(kPromotionsExpense, usd(100)), credit(store_credit_liability("c"), usd(60)),
                     credit(store_credit_liability("d"), usd(40))});
    EXPECT_TRUE(check_balanced(s));
}

TEST(Ledger, UnbalancedSetIsRefused) {
    auto s = set_of({debit(kPromotionsExpense, usd(100)), credit(store_credit_liability("c"), usd(99))});
    EXPECT_EQ(check_balanced(s).error(), PostingError::unbalanced);
}

TEST(Ledger, BalancesPerCurrencyNotAcross) {
    // 100 USD debit against 100 EUR credit is two unbalanced currencies.
    auto s = set_of({debit(kPromotionsExpense, usd(100)), credit(store_credit_liability("c"), eur(100))});
    EXPECT_EQ(check_balanced(s).error(), PostingError::unbalanced);
}

TEST(Ledger, RejectsMalformedLegsInPrecedenceOrder) {
    EXPECT_EQ(check_balanced(v1::PostingSet{}).error(), PostingError::empty_set);
    auto s = set_of({debit(kPromotionsExpense, usd(100)), credit(store_credit_liability("c"), usd(100))});
    s.mutable_postings(0)->set_account("");
    EXPECT_EQ(check_balanced(s).error(), PostingError::account_missing);
    s.mutable_postings(0)->set_account("x");
    s.mutable_postings(0)->set_side(v1::POSTING_SIDE_UNSPECIFIED);
    EXPECT_EQ(check_balanced(s).error(), PostingError::side_missing);
    s.mutable_postings(0)->set_side(v1::DEBIT);
    s.mutable_postings(0)->mutable_amount()->set_minor(-100);
    EXPECT_EQ(check_balanced(s).error(), PostingError::amount_must_be_positive);
    s.mutable_postings(0)->mutable_amount()->set_minor(100);
    s.mutable_postings(0)->mutable_amount()->set_currency("ZZZ");
    EXPECT_EQ(check_balanced(s).error(), PostingError::unknown_currency);
}

TEST(Ledger, OverflowIsReportedNotWrapped) {
    auto s = set_of({debit("a", usd(INT64_MAX)), debit("b", usd(INT64_MAX)), credit("c", usd(1))});
    EXPECT_EQ(check_balanced(s).error(), PostingError::overflow);
}

TEST(Ledger, SignedMinorDebitPositive) {
    EXPECT_EQ(signed_minor(debit("a", usd(7))), 7);
    EXPECT_EQ(signed_minor(credit("a", usd(7))), -7);
}

}  // namespace tally::ledger
