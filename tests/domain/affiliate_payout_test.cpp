// The payout schedule's calendar, the threshold, the payout account and what the
// providers' messages do to it; amounts as providers write them.
#include "domain/affiliate_payout.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "domain/ledger.h"
#include "events/registry.h"
#include "tally/v1/envelope.pb.h"

namespace tally::affiliate {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1000;

v1::AffiliatePayoutSchedule schedule(uint32_t weekday, uint32_t hour) {
    v1::AffiliatePayoutSchedule s;
    s.set_weekday(weekday);
    s.set_hour_utc(hour);
    s.set_holding_days(14);
    return s;
}

v1::AffiliateDefinition affiliate(const std::string& rail = "stripe") {
    v1::AffiliateDefinition d;
    d.set_affiliate_id("aff-1");
    d.set_currency("USD");
    d.set_status("active");
    if (rail == "stripe") d.set_stripe_account("acct_1");
    else d.set_paypal_email("a@example.com");
    return d;
}

std::vector<v1::PayoutItem> items(std::initializer_list<int64_t> amounts) {
    std::vector<v1::PayoutItem> out;
    int n = 0;
    for (int64_t a : amounts) {
        v1::PayoutItem i;
        i.set_order_id("ord-" + std::to_string(++n));
        i.set_amount_minor(a);
        out.push_back(i);
    }
    return out;
}

TEST(AffiliatePayoutCalendar, WeekdaysAndDatesAreUtc) {
    EXPECT_EQ(iso_weekday(0), 4);  // 1970-01-01, a Thursday
    EXPECT_EQ(utc_date(0), "1970-01-01");
    const int64_t t = 1796601600000;  // 2026-12-07 00:00 UTC, a Monday
    EXPECT_EQ(utc_date(t), "2026-12-07");
    EXPECT_EQ(iso_weekday(t), 1);
    EXPECT_EQ(iso_weekday(t - 1), 7);  // the Sunday before, one millisecond earlier
    EXPECT_EQ(utc_date(t - 1), "2026-12-06");
    EXPECT_EQ(utc_date(951782400000), "2000-02-29");  // a leap day
    EXPECT_EQ(iso_weekday(-kDay), 3);                 // 1969-12-31, a Wednesday
    EXPECT_EQ(utc_date(-kDay), "1969-12-31");
}

TEST(AffiliatePayoutCalendar, ThePayoutDayIsTheWeekdayFromItsHour) {
    const int64_t monday = 1796601600000;
    const auto s = schedule(1, 9);
    EXPECT_FALSE(payout_day(s, monday + 9 * 3600 * 1000 - 1));
    EXPECT_EQ(payout_day(s, monday + 9 * 3600 * 1000), "2026-12-07");
    EXPECT_EQ(payout_day(s, monday + kDay - 1), "2026-12-07");
    EXPECT_FALSE(payout_day(s, monday + kDay));            // Tuesday
    EXPECT_EQ(payout_day(s, monday + 7 * kDay + 10 * 3600 * 1000), "2026-12-14");
    EXPECT_FALSE(payout_day(v1::AffiliatePayoutSchedule(), monday));  // no schedule: never
}

TEST(AffiliatePayoutSchedule, FaultsNameTheFieldAndThresholdsDefaultTo100) {
    EXPECT_EQ(validate(schedule(0, 9))->field, "weekday");
    EXPECT_EQ(validate(schedule(8, 9))->field, "weekday");
    EXPECT_EQ(validate(schedule(1, 24))->field, "hour_utc");
    auto s = schedule(1, 9);
    s.set_holding_days(400);
    EXPECT_EQ(validate(s)->field, "holding_days");
    s = schedule(7, 23);
    EXPECT_FALSE(validate(s));
    (*s.mutable_thresholds_minor())["EUR"] = 0;
    EXPECT_EQ(validate(s)->field, "thresholds_minor.EUR");
    s.mutable_thresholds_minor()->clear();
    (*s.mutable_thresholds_minor())["ABC"] = 5;
    EXPECT_EQ(validate(s)->code, "unknown_currency");
    s.mutable_thresholds_minor()->clear();
    (*s.mutable_thresholds_minor())["EUR"] = 2500;
    EXPECT_EQ(threshold_minor(s, *Currency::parse("EUR")), 2500);
    EXPECT_EQ(threshold_minor(s, *Currency::parse("USD")), 10000);  // 100.00
    EXPECT_EQ(threshold_minor(s, *Currency::parse("JPY")), 100);    // 100 yen
    EXPECT_EQ(threshold_minor(s, *Currency::parse("KWD")), 100000); // 100.000
    EXPECT_EQ(holding_ms(s), 14 * kDay);
}

TEST(AffiliatePayoutIds, ThePayoutIdNamesTheAffiliateAndTheDay) {
    EXPECT_EQ(payout_id("aff-1", "2026-12-07"), "affiliate-payout-aff-1-2026-12-07");
    EXPECT_EQ(affiliate_of_payout("affiliate-payout-aff-1-2026-12-07"), "aff-1");
    EXPECT_EQ(affiliate_of_payout("affiliate-payout-a-b-c-2026-12-07"), "a-b-c");
    EXPECT_FALSE(affiliate_of_payout("affiliate-payout--2026-12-07"));
    EXPECT_FALSE(affiliate_of_payout("affiliate-payout-aff-1-2026-12-0x"));
    EXPECT_FALSE(affiliate_of_payout("payout-aff-1-2026-12-07"));
    EXPECT_FALSE(affiliate_of_payout("affiliate-payout-a b-2026-12-07"));
    EXPECT_FALSE(affiliate_of_payout(""));
}

TEST(AffiliatePayoutAccount, APayoutOncePerDayAtTheThresholdOnItsRail) {
    PayoutsState account;
    auto below = request_payout(account, affiliate(), "2026-12-07", items({400, 500}), 1000);
    ASSERT_FALSE(below);
    EXPECT_EQ(below.error().reason, PayoutRefusal::below_threshold);
    auto p = request_payout(account, affiliate(), "2026-12-07", items({400, 600}), 1000);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payout_id(), "affiliate-payout-aff-1-2026-12-07");
    EXPECT_EQ(p->amount().minor(), 1000);
    EXPECT_EQ(p->rail(), "stripe");
    EXPECT_EQ(p->destination(), "acct_1");
    EXPECT_EQ(p->items_size(), 2);
    account = evolve(account, *p);
    EXPECT_EQ(request_payout(account, affiliate(), "2026-12-07", items({5000}), 1000).error().reason,
              PayoutRefusal::payout_exists);
    auto suspended = affiliate();
    suspended.set_status("suspended");
    EXPECT_EQ(request_payout(account, suspended, "2026-12-14", items({5000}), 1000).error().reason,
              PayoutRefusal::not_payable);
    auto paypal = request_payout(PayoutsState(), affiliate("paypal"), "2026-12-14", items({5000}), 1000);
    ASSERT_TRUE(paypal);
    EXPECT_EQ(paypal->rail(), "paypal");
    EXPECT_EQ(paypal->destination(), "a@example.com");
}

TEST(AffiliatePayoutAccount, SettledFailedAndReturnedPayoutsMoveThePayableAndRepeatsChangeNothing) {
    PayoutsState account;
    const std::string id = payout_id("aff-1", "2026-12-07");
    account = evolve(account, *request_payout(account, affiliate("paypal"), "2026-12-07", items({1200}), 1000));
    auto sig = [&](PayoutOutcome o, int64_t amount = 0) {
        v1::ProviderSignal s;
        s.set_amount_minor(amount);
        s.set_object_id("PB1");
        return on_payout_signal(account, {id, o, s, "why"});
    };
    EXPECT_EQ(sig(PayoutOutcome::paid, 999).ignored, "amount_mismatch");
    EXPECT_EQ(on_payout_signal(account, {"affiliate-payout-aff-1-2026-12-08", PayoutOutcome::paid, {}, ""}).ignored,
              "no_payout_requested");
    auto paid = sig(PayoutOutcome::paid, 1200);
    ASSERT_TRUE(paid.event);
    const auto& settled = std::get<v1::AffiliatePayoutSettled>(*paid.event);
    ASSERT_TRUE(ledger::check_balanced(settled.postings()));
    EXPECT_EQ(settled.postings().postings(0).account(), "affiliate_payable:aff-1");
    EXPECT_EQ(settled.postings().postings(1).account(), "paypal_clearing");
    account = evolve(account, *paid.event);
    EXPECT_EQ(find_payout(account, id)->status(), "paid");
    EXPECT_EQ(find_payout(account, id)->object_id(), "PB1");
    EXPECT_EQ(sig(PayoutOutcome::paid).ignored, "payout_already_paid");
    EXPECT_EQ(sig(PayoutOutcome::failed).ignored, "payout_already_paid");
    auto back = sig(PayoutOutcome::returned);
    ASSERT_TRUE(back.event);
    ASSERT_TRUE(std::holds_alternative<v1::AffiliatePayoutReversed>(*back.event));
    account = evolve(account, *back.event);
    EXPECT_EQ(account.returned_minor(), 1200);
    EXPECT_EQ(sig(PayoutOutcome::returned).ignored, "payout_not_paid");
    // The next payout pays the returned money again, with or without new conversions.
    auto again = request_payout(account, affiliate("paypal"), "2026-12-14", {}, 1000);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->amount().minor(), 1200);
    EXPECT_EQ(again->returned_minor(), 1200);
    account = evolve(account, *again);
    EXPECT_EQ(account.returned_minor(), 0);
    // Returned before it was paid: a failure, nothing had been posted.
    const std::string second = payout_id("aff-1", "2026-12-14");
    auto failed = on_payout_signal(account, {second, PayoutOutcome::returned, {}, ""});
    ASSERT_TRUE(failed.event);
    ASSERT_TRUE(std::holds_alternative<v1::AffiliatePayoutFailed>(*failed.event));
    account = evolve(account, *failed.event);
    EXPECT_EQ(account.returned_minor(), 1200);
}

TEST(AffiliatePayoutAccount, EveryEventTypeIsKnownToTheRegistryByTheSameName) {
    [&]<size_t... I>(std::index_sequence<I...>) {
        (([&] {
             const PayoutEvent alt{std::in_place_index<I>};
             EXPECT_EQ(events::current_schema_version(type_of(alt)), 1) << type_of(alt);
             v1::EventEnvelope env;
             env.set_type(std::string(type_of(alt)));
             env.set_payload(serialize(alt));
             EXPECT_NE(events::decode_payload(env), nullptr) << type_of(alt);
         }()),
         ...);
    }(std::make_index_sequence<std::variant_size_v<PayoutEvent>>{});
}

TEST(Money, DecimalAmountsAsProvidersWriteThem) {
    const auto usd = *Currency::parse("USD"), jpy = *Currency::parse("JPY"), kwd = *Currency::parse("KWD");
    EXPECT_EQ(decimal_amount(1234, usd), "12.34");
    EXPECT_EQ(decimal_amount(5, usd), "0.05");
    EXPECT_EQ(decimal_amount(1234, jpy), "1234");
    EXPECT_EQ(decimal_amount(1234, kwd), "1.234");
    EXPECT_EQ(parse_decimal_amount("12.34", usd), 1234);
    EXPECT_EQ(parse_decimal_amount("0.05", usd), 5);
    EXPECT_EQ(parse_decimal_amount("1234", jpy), 1234);
    for (const char* bad : {"12.3", "12", "12.345", "-1.00", "1,00", "", ".50", "1.0a", "1234567890123456.00"})
        EXPECT_FALSE(parse_decimal_amount(bad, usd)) << bad;
    EXPECT_FALSE(parse_decimal_amount("12.00", jpy));
}

RC_GTEST_PROP(Money, DecimalAmountsRoundTrip, (int64_t minor)) {
    const int64_t m = minor < 0 ? -(minor + 1) : minor;  // non-negative
    const auto usd = *Currency::parse("USD");
    if (m >= 100'000'000'000'000'000) return;  // beyond 15 whole digits
    RC_ASSERT(parse_decimal_amount(decimal_amount(m, usd), usd) == std::optional<int64_t>(m));
}

}  // namespace
}  // namespace tally::affiliate
