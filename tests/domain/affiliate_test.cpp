// The attribution chain as a table: every combination of the four sources, each present
// (naming an eligible affiliate), absent or invalid, picks the documented winner; the
// self-referral block at every step; commission and its proportional reversal.
#include "domain/affiliate.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>

namespace tally::affiliate {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kRecent = 24 * 3600 * 1000;

v1::AffiliateDefinition def(const std::string& id, const std::string& status = "active", const std::string& currency = "USD",
                            uint32_t bps = 1000) {
    v1::AffiliateDefinition d;
    d.set_affiliate_id(id);
    d.set_status(status);
    d.set_currency(currency);
    d.set_commission_bps(bps);
    d.set_stripe_account("acct_" + id);
    return d;
}

v1::ReferralMark mark(const std::string& id, int64_t at = kNow - 1000) {
    v1::ReferralMark m;
    m.set_affiliate_id(id);
    m.set_code("CODE-" + id);
    m.set_at_unix_ms(at);
    return m;
}

// coupon-aff, profile-aff, recent-aff, cookie-aff are eligible; "suspended-aff" is
// suspended, "eur-aff" earns in EUR, "nobody" is not defined.
std::map<std::string, v1::AffiliateDefinition> directory() {
    std::map<std::string, v1::AffiliateDefinition> d;
    for (const char* id : {"coupon-aff", "profile-aff", "recent-aff", "cookie-aff", "buyer-1"}) d[id] = def(id);
    d["suspended-aff"] = def("suspended-aff", "suspended");
    d["eur-aff"] = def("eur-aff", "active", "EUR");
    return d;
}

Lookup lookup_in(const std::map<std::string, v1::AffiliateDefinition>& d) {
    return [&d](const std::string& id) -> std::optional<v1::AffiliateDefinition> {
        auto it = d.find(id);
        if (it == d.end()) return std::nullopt;
        return it->second;
    };
}

Context ctx(const std::string& buyer = "cus-1") { return {buyer, "USD", kNow, kRecent, 10000}; }

enum class Is { absent, present, invalid };

TEST(Attribution, EveryCombinationOfTheFourSourcesPicksTheFirstValidOne) {
    const auto dir = directory();
    const Is states[] = {Is::absent, Is::present, Is::invalid};
    int cases = 0;
    for (Is coupon : states)
        for (Is profile : states)
            for (Is recent : states)
                for (Is cookie : states) {
                    Sources s;
                    // Invalid: a suspended affiliate's coupon; a profile naming nobody defined;
                    // a visit older than the window; an expired cookie.
                    if (coupon == Is::present) s.coupons = {{"SAVE", "coupon-aff"}};
                    if (coupon == Is::invalid) s.coupons = {{"OLD", "suspended-aff"}};
                    if (profile == Is::present) s.profile = mark("profile-aff");
                    if (profile == Is::invalid) s.profile = mark("nobody");
                    if (recent == Is::present) s.latest = mark("recent-aff", kNow - kRecent + 1);
                    if (recent == Is::invalid) s.latest = mark("recent-aff", kNow - kRecent);
                    if (cookie == Is::present) s.cookie = CookieClaim{"cookie-aff", kNow / 1000 + 1};
                    if (cookie == Is::invalid) s.cookie = CookieClaim{"cookie-aff", kNow / 1000};
                    std::string want;
                    if (coupon == Is::present) want = "coupon";
                    else if (profile == Is::present) want = "profile";
                    else if (recent == Is::present) want = "recent";
                    else if (cookie == Is::present) want = "cookie";
                    const auto got = attribute(s, lookup_in(dir), ctx());
                    const std::string label = std::to_string(static_cast<int>(coupon)) + std::to_string(static_cast<int>(profile)) +
                                              std::to_string(static_cast<int>(recent)) + std::to_string(static_cast<int>(cookie));
                    ++cases;
                    if (want.empty()) {
                        EXPECT_FALSE(got.has_value()) << label;
                        continue;
                    }
                    ASSERT_TRUE(got.has_value()) << label;
                    EXPECT_EQ(got->step(), want) << label;
                    EXPECT_EQ(got->affiliate_id(), want + "-aff") << label;
                    EXPECT_EQ(got->outcome(), "attributed") << label;
                    EXPECT_EQ(got->commission_bps(), 1000u);
                    EXPECT_EQ(got->commission_minor(), 1000) << label;  // 10 % of 100.00
                    EXPECT_EQ(got->coupon_code(), want == "coupon" ? "SAVE" : "") << label;
                }
    EXPECT_EQ(cases, 81);
}

TEST(Attribution, AnAffiliatePaidInAnotherCurrencyOrSuspendedIsPassedOver) {
    const auto dir = directory();
    Sources s;
    s.coupons = {{"EURO", "eur-aff"}, {"OFF", "suspended-aff"}, {"LATER", "coupon-aff"}};
    auto got = attribute(s, lookup_in(dir), ctx());
    ASSERT_TRUE(got);
    EXPECT_EQ(got->affiliate_id(), "coupon-aff");
    EXPECT_EQ(got->coupon_code(), "LATER");
    s.coupons = {{"EURO", "eur-aff"}};
    s.cookie = CookieClaim{"suspended-aff", kNow / 1000 + 100};
    EXPECT_FALSE(attribute(s, lookup_in(dir), ctx()));
}

TEST(Attribution, AVisitFromTheFutureIsNotRecent) {
    const auto dir = directory();
    Sources s;
    s.latest = mark("recent-aff", kNow + 1);
    EXPECT_FALSE(attribute(s, lookup_in(dir), ctx()));
}

// The affiliate buying through its own coupon, cookie or profile attribution earns
// nothing, and the order says why; another buyer through the same coupon earns.
TEST(Attribution, SelfReferralIsBlockedAtEveryStep) {
    const auto dir = directory();
    Sources by_coupon, by_cookie, by_profile, by_visit;
    by_coupon.coupons = {{"MINE", "buyer-1"}};
    by_cookie.cookie = CookieClaim{"buyer-1", kNow / 1000 + 60};
    by_profile.profile = mark("buyer-1");
    by_visit.latest = mark("buyer-1");
    for (const auto* s : {&by_coupon, &by_cookie, &by_profile, &by_visit}) {
        auto got = attribute(*s, lookup_in(dir), ctx("buyer-1"));
        ASSERT_TRUE(got);
        EXPECT_EQ(got->affiliate_id(), "buyer-1");
        EXPECT_EQ(got->outcome(), "self_referral_blocked");
        EXPECT_EQ(got->commission_minor(), 0);
        EXPECT_EQ(got->commission_bps(), 0u);
    }
    // The block does not fall through to a later source.
    by_coupon.cookie = CookieClaim{"cookie-aff", kNow / 1000 + 60};
    EXPECT_EQ(attribute(by_coupon, lookup_in(dir), ctx("buyer-1"))->outcome(), "self_referral_blocked");
    auto other = attribute(by_coupon, lookup_in(dir), ctx("cus-2"));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->outcome(), "attributed");
    EXPECT_EQ(other->commission_minor(), 1000);
}

TEST(Attribution, NamedListsEachAffiliateOnce) {
    Sources s;
    s.coupons = {{"A", "x"}, {"B", "y"}};
    s.profile = mark("x");
    s.latest = mark("z");
    s.cookie = CookieClaim{"y", 0};
    EXPECT_EQ(named(s), (std::vector<std::string>{"x", "y", "z"}));
}

TEST(AffiliateDefinition, ValidationNamesTheField) {
    auto d = def("aff-1");
    d.add_referral_codes("SPRING-24");
    EXPECT_FALSE(validate(d));
    auto bad = d;
    bad.set_commission_bps(10001);
    EXPECT_EQ(validate(bad)->field, "commission_bps");
    bad = d;
    bad.set_currency("XXX");
    EXPECT_EQ(validate(bad)->code, "unknown_currency");
    bad = d;
    bad.set_status("paused");
    EXPECT_EQ(validate(bad)->field, "status");
    bad = d;
    bad.set_paypal_email("a@b.co");
    EXPECT_EQ(validate(bad)->field, "paypal_email");  // two rails
    bad = d;
    bad.clear_stripe_account();
    EXPECT_EQ(validate(bad)->field, "stripe_account");  // none
    bad.set_paypal_email("not-an-address");
    EXPECT_EQ(validate(bad)->field, "paypal_email");
    bad = d;
    bad.set_stripe_account("ba_123");
    EXPECT_EQ(validate(bad)->field, "stripe_account");
    bad = d;
    bad.add_referral_codes("spring-24");  // the same code, another case
    EXPECT_EQ(validate(bad)->field, "referral_codes[1]");
    bad = d;
    bad.add_referral_codes("no spaces");
    EXPECT_EQ(validate(bad)->field, "referral_codes[1]");
    EXPECT_EQ(normal_code("spring-24"), "SPRING-24");
}

TEST(Commission, RoundsDownAndAFullReversalTakesAllOfIt) {
    EXPECT_EQ(commission(9999, 1000), 999);
    EXPECT_EQ(commission(0, 1000), 0);
    EXPECT_EQ(commission(10000, 0), 0);
    EXPECT_EQ(reversed_at(999, 9999, 0), 0);
    EXPECT_EQ(reversed_at(999, 9999, 5000), 499);
    EXPECT_EQ(reversed_at(999, 9999, 9999), 999);
    EXPECT_EQ(reversed_at(999, 9999, 20000), 999);
}

// Over any sequence of partial refunds, what is reversed only grows, never exceeds the
// commission, and is all of it once every good is back.
RC_GTEST_PROP(Commission, ReversalsGrowToTheWholeAndNeverBeyond, ()) {
    const int64_t base = *rc::gen::inRange<int64_t>(1, 10'000'000);
    const auto bps = *rc::gen::inRange<uint32_t>(0, 10001);
    const int64_t earned = commission(base, bps);
    RC_ASSERT(earned >= 0);
    RC_ASSERT(earned <= base);
    int64_t back = 0, reversed = 0;
    const auto steps = *rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(0, base + 1));
    for (auto step : steps) {
        back = std::min(base, back + step);
        const int64_t now = reversed_at(earned, base, back);
        RC_ASSERT(now >= reversed);
        RC_ASSERT(now <= earned);
        reversed = now;
    }
    RC_ASSERT(reversed_at(earned, base, base) == earned);
}

}  // namespace
}  // namespace tally::affiliate
