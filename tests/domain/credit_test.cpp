#include "domain/credit.h"

#include <gtest/gtest.h>

#include "domain/ledger.h"

namespace tally::credit {
namespace {

const CreditPolicy kPolicy{10000, 25000};

GrantCredit grant(int64_t minor, const char* currency = "USD") {
    return GrantCredit{"cmd-1", "c1", Money{minor, *Currency::parse(currency)}, "goodwill", "admin-1"};
}

CreditAccount empty() { return CreditAccount{"c1", std::nullopt, 0, 0}; }

}  // namespace

TEST(CreditDecide, GrantPostsBalancedLiabilityAndExpense) {
    auto events = decide(empty(), grant(2500), kPolicy);
    ASSERT_TRUE(events);
    ASSERT_EQ(events->size(), 1u);
    const auto& e = events->front();
    EXPECT_EQ(e.customer_id(), "c1");
    EXPECT_EQ(e.amount().minor(), 2500);
    EXPECT_EQ(e.balance_after().minor(), 2500);
    EXPECT_EQ(e.granted_by(), "admin-1");
    EXPECT_TRUE(ledger::check_balanced(e.postings()));
    ASSERT_EQ(e.postings().postings_size(), 2);
    EXPECT_EQ(e.postings().postings(1).account(), "store_credit_liability:c1");
    EXPECT_EQ(e.postings().postings(1).side(), v1::CREDIT);
}

TEST(CreditDecide, RejectionsInPrecedenceOrder) {
    auto state = evolve(empty(), decide(empty(), grant(20000 / 2), kPolicy)->front());
    // Zero amount in the wrong currency beyond the cap: the first rule wins.
    EXPECT_EQ(decide(state, grant(0, "EUR"), kPolicy).error(), GrantRejection::amount_must_be_positive);
    EXPECT_EQ(decide(state, grant(-1), kPolicy).error(), GrantRejection::amount_must_be_positive);
    EXPECT_EQ(decide(state, grant(999999, "EUR"), kPolicy).error(), GrantRejection::currency_must_match);
    EXPECT_EQ(decide(state, grant(10001), kPolicy).error(), GrantRejection::grant_exceeds_cap);
    state = evolve(state, decide(state, grant(10000), kPolicy)->front());  // balance 20000
    EXPECT_EQ(decide(state, grant(5001), kPolicy).error(), GrantRejection::balance_would_exceed_cap);
    EXPECT_TRUE(decide(state, grant(5000), kPolicy));  // exactly at the cap is allowed
}

TEST(CreditDecide, GrantAtExactlyTheGrantCapIsAllowed) {
    EXPECT_TRUE(decide(empty(), grant(10000), kPolicy));
}

TEST(CreditEvolve, FixesCurrencyAndAccumulates) {
    auto s = evolve(empty(), decide(empty(), grant(100), kPolicy)->front());
    EXPECT_EQ(s.currency->code(), "USD");
    s = evolve(s, decide(s, grant(50), kPolicy)->front());
    EXPECT_EQ(s.balance_minor, 150);
    EXPECT_EQ(s.grants_count, 2);
}

TEST(CreditSnapshot, RoundTrips) {
    auto s = evolve(empty(), decide(empty(), grant(123), kPolicy)->front());
    auto back = from_snapshot("c1", to_snapshot(s));
    EXPECT_EQ(back.customer_id, "c1");
    EXPECT_EQ(back.currency, s.currency);
    EXPECT_EQ(back.balance_minor, 123);
    EXPECT_EQ(back.grants_count, 1);
    auto fresh = from_snapshot("c2", "");
    EXPECT_EQ(fresh.customer_id, "c2");
    EXPECT_FALSE(fresh.currency);
}

TEST(CreditStream, IdIsPrefixed) { EXPECT_EQ(stream_id("c1"), "credit-c1"); }

}  // namespace tally::credit
