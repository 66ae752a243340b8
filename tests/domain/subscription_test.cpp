// The subscription rules: periods, the customer's acts, what falls due, dunning; and, over
// random years of acts and payment outcomes, the scheduler's invariants.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "domain/subscription.h"

namespace tally::subscription {
namespace {

// 2027-01-31 10:00:00 UTC.
constexpr int64_t kJan31 = 1'801'389'600'000;
constexpr int64_t kHour = 3'600'000;

int64_t utc(int y, int m, int d, int h = 10) {
    // Days from civil, independently of the code under test: count days month by month.
    static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;
    for (int year = 1970; year < y; ++year) days += (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 366 : 365;
    for (int month = 1; month < m; ++month)
        days += kDays[month - 1] + (month == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 1 : 0);
    days += d - 1;
    return days * kDayMs + h * kHour;
}

v1::SubscriptionPlan plan_of(std::string sku, int64_t qty) {
    v1::SubscriptionPlan p;
    auto* l = p.add_lines();
    l->set_sku(std::move(sku));
    l->set_quantity(qty);
    p.set_ship_to_country("DK");
    return p;
}

v1::SubscriptionState started(std::string interval = "month", int64_t anchor = kJan31) {
    v1::SubscriptionStarted e;
    e.set_subscription_id("sub-1");
    e.set_customer_id("cus-1");
    e.set_interval(std::move(interval));
    e.set_currency("EUR");
    *e.mutable_plan() = plan_of("beans", 2);
    e.set_payment_method("pm_card_visa");
    e.set_anchor_unix_ms(anchor);
    e.set_first_order_id("ord-first");
    return evolve(v1::SubscriptionState{}, e);
}

// What the scheduler does with a Due: the events a renewal job records (the order itself
// is the command layer's).
v1::SubscriptionState act(v1::SubscriptionState s, const Due& d, int64_t now) {
    switch (d.kind) {
        case Due::Kind::none: break;
        case Due::Kind::cancel: {
            v1::SubscriptionCancelled e;
            e.set_subscription_id(s.subscription_id());
            e.set_mode(d.reason);
            e.set_at_unix_ms(now);
            return evolve(std::move(s), e);
        }
        case Due::Kind::retry: {
            v1::RenewalRetryRequested e;
            e.set_subscription_id(s.subscription_id());
            e.set_period(d.period);
            e.set_attempt(d.attempt);
            e.set_payment_key(retry_payment_key(s.subscription_id(), d.period, d.attempt));
            return evolve(std::move(s), e);
        }
        case Due::Kind::renew: {
            v1::RenewalPlaced e;
            e.set_subscription_id(s.subscription_id());
            e.set_period(d.period);
            e.set_order_id(renewal_order_id(s.subscription_id(), d.period));
            e.set_payment_key(renewal_payment_key(s.subscription_id(), d.period));
            return evolve(std::move(s), e);
        }
        case Due::Kind::skip: {
            v1::RenewalSkipped e;
            e.set_subscription_id(s.subscription_id());
            e.set_period(d.period);
            e.set_reason(d.reason);
            return evolve(std::move(s), e);
        }
    }
    return s;
}

v1::SubscriptionState fail(v1::SubscriptionState s, const DunningPolicy& policy, int64_t period, int attempt, int64_t now) {
    auto f = payment_failed(s, policy, period, attempt, "card_declined", now);
    if (!f) return s;
    s = evolve(std::move(s), f->failed);
    if (f->past_due) s = evolve(std::move(s), *f->past_due);
    return s;
}

TEST(SubscriptionPeriods, MonthsClampToShortMonthsAndReturnToTheAnchorDay) {
    EXPECT_EQ(period_start_ms(kJan31, Interval::month, 0), utc(2027, 1, 31));
    EXPECT_EQ(period_start_ms(kJan31, Interval::month, 1), utc(2027, 2, 28));
    EXPECT_EQ(period_start_ms(kJan31, Interval::month, 2), utc(2027, 3, 31));
    EXPECT_EQ(period_start_ms(kJan31, Interval::month, 3), utc(2027, 4, 30));
    EXPECT_EQ(period_start_ms(kJan31, Interval::month, 13), utc(2028, 2, 29));  // a leap year
    EXPECT_EQ(period_start_ms(kJan31, Interval::month, 23), utc(2028, 12, 31));
}

TEST(SubscriptionPeriods, QuartersAreThreeCalendarMonthsAndWeeksSevenDays) {
    const int64_t nov30 = utc(2026, 11, 30, 23);
    EXPECT_EQ(period_start_ms(nov30, Interval::quarter, 1), utc(2027, 2, 28, 23));
    EXPECT_EQ(period_start_ms(nov30, Interval::quarter, 2), utc(2027, 5, 30, 23));
    EXPECT_EQ(period_start_ms(nov30, Interval::quarter, 5), utc(2028, 2, 29, 23));
    EXPECT_EQ(period_start_ms(nov30, Interval::week, 3), nov30 + 21 * kDayMs);
}

TEST(SubscriptionPeriods, IntervalsAndCancelModesParseOnlyTheirNames) {
    EXPECT_EQ(parse_interval("month"), Interval::month);
    EXPECT_EQ(parse_interval("week"), Interval::week);
    EXPECT_EQ(parse_interval("quarter"), Interval::quarter);
    EXPECT_FALSE(parse_interval("monthly"));
    EXPECT_FALSE(parse_interval(""));
    EXPECT_EQ(parse_cancel_mode("period_end"), CancelMode::period_end);
    EXPECT_FALSE(parse_cancel_mode("now"));
}

TEST(SubscriptionDue, NothingBeforeThePeriodStartsThenTheRenewalOnce) {
    auto s = started();
    const DunningPolicy policy;
    EXPECT_EQ(due(s, policy, utc(2027, 2, 28) - 1).kind, Due::Kind::none);
    EXPECT_EQ(next_due_ms(s), utc(2027, 2, 28));
    auto d = due(s, policy, utc(2027, 2, 28));
    ASSERT_EQ(d.kind, Due::Kind::renew);
    EXPECT_EQ(d.period, 1);
    s = act(s, d, utc(2027, 2, 28));
    EXPECT_EQ(due(s, policy, utc(2027, 3, 1)).kind, Due::Kind::none);
    EXPECT_EQ(next_due_ms(s), utc(2027, 3, 31));
    EXPECT_EQ(s.renewals_size(), 2);
    EXPECT_EQ(s.renewals(1).order_id(), "ord-sub-1-1");
}

TEST(SubscriptionDue, ASkipRequestSkipsTheNextPeriodOnly) {
    auto s = started();
    const DunningPolicy policy;
    auto skip = skip_next(s);
    ASSERT_TRUE(skip);
    EXPECT_EQ(skip->period(), 1);
    s = evolve(s, *skip);
    s = evolve(s, *skip_next(s));  // twice is once
    EXPECT_EQ(s.skip_periods_size(), 1);
    auto d = due(s, policy, utc(2027, 2, 28));
    ASSERT_EQ(d.kind, Due::Kind::skip);
    EXPECT_EQ(d.reason, "skipped");
    s = act(s, d, utc(2027, 2, 28));
    EXPECT_EQ(due(s, policy, utc(2027, 3, 31)).kind, Due::Kind::renew);
}

TEST(SubscriptionDue, APauseSkipsThePeriodsThatStartBeforeItEnds) {
    auto s = started();
    const DunningPolicy policy;
    EXPECT_EQ(pause(s, utc(2027, 2, 1), utc(2027, 2, 1)).error(), SubscriptionRejection::pause_not_in_future);
    EXPECT_EQ(pause(s, utc(2028, 3, 1), utc(2027, 2, 1)).error(), SubscriptionRejection::pause_too_long);
    s = evolve(s, *pause(s, utc(2027, 4, 15), utc(2027, 2, 1)));
    EXPECT_EQ(s.status(), "paused");
    int64_t t = utc(2027, 2, 28);
    for (int period = 1; period <= 2; ++period, t = utc(2027, 3, 31)) {
        auto d = due(s, policy, t);
        ASSERT_EQ(d.kind, Due::Kind::skip) << period;
        EXPECT_EQ(d.reason, "paused");
        s = act(s, d, t);
        EXPECT_EQ(s.status(), "paused");
    }
    auto d = due(s, policy, utc(2027, 4, 30));
    ASSERT_EQ(d.kind, Due::Kind::renew);
    EXPECT_EQ(d.period, 3);
    s = act(s, d, utc(2027, 4, 30));
    EXPECT_EQ(s.status(), "active");
}

TEST(SubscriptionDue, AChangedPlanAppliesFromTheNextRenewal) {
    auto s = started();
    auto c = change(s, plan_of("decaf", 1));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->from_period(), 1);
    s = evolve(s, *c);
    EXPECT_EQ(s.plan().lines(0).sku(), "decaf");  // what the next renewal orders
    EXPECT_EQ(s.renewals(0).order_id(), "ord-first");  // the current period's order stands
    v1::SubscriptionPlan bad = plan_of("decaf", 0);
    EXPECT_EQ(change(s, bad).error(), SubscriptionRejection::plan_invalid);
    EXPECT_TRUE(check_plan(bad).has_value());
}

TEST(SubscriptionDue, CancellingAtThePeriodEndRenewsNothingMore) {
    auto s = started();
    const DunningPolicy policy;
    auto c = cancel(s, CancelMode::period_end, "moving", utc(2027, 2, 10));
    ASSERT_TRUE(c && c->requested);
    EXPECT_EQ(c->requested->effective_unix_ms(), utc(2027, 2, 28));
    s = evolve(s, *c->requested);
    EXPECT_EQ(s.status(), "active");  // until the period ends
    EXPECT_EQ(cancel(s, CancelMode::period_end, "", utc(2027, 2, 11)).error(), SubscriptionRejection::cancellation_scheduled);
    EXPECT_EQ(skip_next(s).error(), SubscriptionRejection::cancellation_scheduled);
    auto d = due(s, policy, utc(2027, 2, 28));
    ASSERT_EQ(d.kind, Due::Kind::cancel);
    EXPECT_EQ(d.reason, "period_end");
    s = act(s, d, utc(2027, 2, 28));
    EXPECT_EQ(s.status(), "cancelled");
    EXPECT_EQ(due(s, policy, utc(2030, 1, 1)).kind, Due::Kind::none);
    EXPECT_EQ(next_due_ms(s), INT64_MAX);
    EXPECT_EQ(change(s, plan_of("x", 1)).error(), SubscriptionRejection::cancelled);
}

TEST(SubscriptionDue, CancellingImmediatelyNamesTheLatestOrder) {
    auto s = started();
    s = act(s, due(s, DunningPolicy{}, utc(2027, 2, 28)), utc(2027, 2, 28));
    auto c = cancel(s, CancelMode::immediately, "changed my mind", utc(2027, 3, 2));
    ASSERT_TRUE(c && c->cancelled);
    EXPECT_EQ(c->cancelled->order_to_cancel(), "ord-sub-1-1");
    EXPECT_EQ(c->cancelled->mode(), "immediately");
    s = evolve(s, *c->cancelled);
    EXPECT_EQ(s.status(), "cancelled");
    EXPECT_EQ(cancel(s, CancelMode::immediately, "", utc(2027, 3, 3)).error(), SubscriptionRejection::cancelled);
}

TEST(SubscriptionDunning, RetriesOneThreeAndSevenDaysAfterTheFirstFailureThenPastDueThenCancelled) {
    auto s = started();
    const DunningPolicy policy;
    const int64_t t0 = utc(2027, 2, 28);
    s = act(s, due(s, policy, t0), t0);
    s = fail(s, policy, 1, 0, t0 + kHour);
    ASSERT_TRUE(s.has_dunning());
    EXPECT_EQ(s.dunning().next_retry_unix_ms(), t0 + kHour + 1 * kDayMs);
    // Nothing else falls due while the period is unpaid, not even the next period.
    EXPECT_EQ(due(s, policy, t0 + kHour + kDayMs - 1).kind, Due::Kind::none);
    const int64_t offsets[] = {1, 3, 7};
    for (int attempt = 1; attempt <= 3; ++attempt) {
        const int64_t at = t0 + kHour + offsets[attempt - 1] * kDayMs;
        auto d = due(s, policy, at);
        ASSERT_EQ(d.kind, Due::Kind::retry) << attempt;
        EXPECT_EQ(d.attempt, attempt);
        s = act(s, d, at);
        EXPECT_EQ(due(s, policy, at + 10 * kDayMs).kind, s.status() == "past_due" ? Due::Kind::cancel : Due::Kind::none);
        EXPECT_FALSE(payment_failed(s, policy, 1, attempt + 1, "card_declined", at)) << "only the retry asked for";
        s = fail(s, policy, 1, attempt, at + 1000);
    }
    EXPECT_EQ(s.status(), "past_due");
    EXPECT_EQ(s.cancel_at_unix_ms(), t0 + kHour + 7 * kDayMs + 1000 + policy.grace_ms);
    EXPECT_EQ(pause(s, t0 + 20 * kDayMs, t0 + 8 * kDayMs).error(), SubscriptionRejection::past_due);
    auto d = due(s, policy, s.cancel_at_unix_ms());
    ASSERT_EQ(d.kind, Due::Kind::cancel);
    EXPECT_EQ(d.reason, "dunning");
}

TEST(SubscriptionDunning, APaymentDuringDunningRecoversAndRenewalsCatchUp) {
    auto s = started("week", utc(2027, 1, 4));
    const DunningPolicy policy;
    const int64_t t1 = utc(2027, 1, 11);
    s = act(s, due(s, policy, t1), t1);
    s = fail(s, policy, 1, 0, t1);
    EXPECT_FALSE(payment_failed(s, policy, 1, 0, "card_declined", t1)) << "a repeated report of the first charge";
    s = act(s, due(s, policy, t1 + 3 * kDayMs), t1 + 3 * kDayMs);  // retry 1 requested
    s = fail(s, policy, 1, 1, t1 + 3 * kDayMs);
    s = act(s, due(s, policy, t1 + 8 * kDayMs), t1 + 8 * kDayMs);  // retry 2 (at +3 days) requested
    auto paid = payment_succeeded(s, 1);
    ASSERT_TRUE(paid);
    s = evolve(s, *paid);
    EXPECT_FALSE(s.has_dunning());
    EXPECT_EQ(s.status(), "active");
    EXPECT_FALSE(payment_succeeded(s, 1)) << "paid once";
    // Period 2 started on the 18th, while period 1 was unpaid: it is renewed now, late.
    auto d = due(s, policy, t1 + 8 * kDayMs);
    ASSERT_EQ(d.kind, Due::Kind::renew);
    EXPECT_EQ(d.period, 2);
}

// A random year: the customer's acts, payment outcomes and a scheduler that wakes at
// random times. Every period is renewed or skipped exactly once, in order, never before
// it starts, never while an earlier one is unpaid; every charge key is used once; a
// cancelled subscription stays cancelled; dunning keeps to its schedule.
RC_GTEST_PROP(SubscriptionProperties, ARandomYearRenewsEachPeriodOnceInOrder, ()) {
    const auto interval = *rc::gen::element(std::string("week"), std::string("month"), std::string("quarter"));
    const int64_t anchor = *rc::gen::inRange<int64_t>(utc(2026, 1, 1), utc(2030, 1, 1));
    auto s = started(interval, anchor);
    const DunningPolicy policy;
    std::set<std::string> keys = {renewal_payment_key("sub-1", 0)};
    std::map<int64_t, int64_t> started_at;  // period -> when renewed or skipped
    int64_t now = anchor;
    bool was_cancelled = false;
    const int steps = *rc::gen::inRange(20, 200);
    for (int i = 0; i < steps && now < anchor + 400 * kDayMs; ++i) {
        now += *rc::gen::inRange<int64_t>(0, 10 * kDayMs);
        switch (*rc::gen::inRange(0, 10)) {
            case 0:
                if (auto e = skip_next(s)) s = evolve(s, *e);
                break;
            case 1:
                if (auto e = pause(s, now + *rc::gen::inRange<int64_t>(1, 90 * kDayMs), now)) s = evolve(s, *e);
                break;
            case 2:
                if (auto e = change(s, plan_of("other", *rc::gen::inRange<int64_t>(1, 5)))) s = evolve(s, *e);
                break;
            case 3:
                if (*rc::gen::inRange(0, 4) == 0)
                    if (auto c = cancel(s, *rc::gen::element(CancelMode::period_end, CancelMode::immediately), "", now)) {
                        if (c->requested) s = evolve(s, *c->requested);
                        if (c->cancelled) s = evolve(s, *c->cancelled);
                    }
                break;
            default: break;
        }
        // The scheduler catches up on everything due, and payments answer at once.
        for (int guard = 0; guard < 1000; ++guard) {
            const Due d = due(s, policy, now);
            if (d.kind == Due::Kind::none) break;
            RC_ASSERT(d.kind == Due::Kind::cancel || d.kind == Due::Kind::retry ||
                      period_start_ms(anchor, *parse_interval(interval), d.period) <= now);
            if (d.kind == Due::Kind::renew || d.kind == Due::Kind::skip) {
                RC_ASSERT(d.period == s.next_period());
                RC_ASSERT(!s.has_dunning());
                RC_ASSERT(started_at.emplace(d.period, now).second);
            }
            if (d.kind == Due::Kind::retry) {
                RC_ASSERT(now >= *retry_due_ms(policy, s.dunning().first_failed_unix_ms(), d.attempt));
                RC_ASSERT(keys.insert(retry_payment_key("sub-1", d.period, d.attempt)).second);
            }
            s = act(s, d, now);
            if (d.kind == Due::Kind::renew) RC_ASSERT(keys.insert(renewal_payment_key("sub-1", d.period)).second);
            if (d.kind == Due::Kind::renew || d.kind == Due::Kind::retry) {
                if (*rc::gen::inRange(0, 3) == 0) s = fail(s, policy, d.period, d.attempt, now);
                else if (auto paid = payment_succeeded(s, d.period)) s = evolve(s, *paid);
            }
        }
        RC_ASSERT(!(was_cancelled && s.status() != "cancelled"));
        was_cancelled = s.status() == "cancelled";
    }
    // Periods renewed or skipped are 1..n without a gap.
    int64_t expect = 1;
    for (const auto& [period, at] : started_at) RC_ASSERT(period == expect++);
    RC_ASSERT(s.renewals_size() <= kRenewalsKept);
}

RC_GTEST_PROP(SubscriptionProperties, MonthlyPeriodsKeepTheAnchorDayWhereTheMonthHasIt, ()) {
    const int64_t anchor = *rc::gen::inRange<int64_t>(0, kAnchorMaxMs - 200 * 366 * kDayMs);
    int64_t previous = anchor;
    for (int64_t n = 1; n <= 60; ++n) {
        const int64_t start = period_start_ms(anchor, Interval::month, n);
        RC_ASSERT(start - previous >= 28 * kDayMs);
        RC_ASSERT(start - previous <= 31 * kDayMs);
        RC_ASSERT(start % kDayMs == anchor % kDayMs);
        RC_ASSERT(period_start_ms(anchor, Interval::quarter, n) == period_start_ms(anchor, Interval::month, 3 * n));
        previous = start;
    }
}

}  // namespace
}  // namespace tally::subscription
