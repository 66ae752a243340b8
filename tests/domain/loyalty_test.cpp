// Loyalty: tier evaluation (table cases at the exact thresholds, per currency), the
// aggregate's decide/evolve, and properties over random sequences of payments,
// redeliveries, refunds, disputes and program changes.
#include "domain/loyalty.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

namespace tally::loyalty {
namespace {

v1::CurrencyProgram currency_program(const std::string& currency, std::vector<int64_t> thresholds,
                                     std::vector<uint32_t> discounts = {0, 100, 200, 300, 400, 500}) {
    v1::CurrencyProgram cp;
    cp.set_currency(currency);
    for (size_t i = 0; i < kTiers.size(); ++i) {
        auto* t = cp.add_tiers();
        t->set_name(std::string(kTiers[i]));
        t->set_threshold_minor(thresholds[i]);
        t->set_discount_bps(discounts[i]);
    }
    return cp;
}

v1::LoyaltyProgram usd_eur() {
    v1::LoyaltyProgram p;
    *p.add_currencies() = currency_program("USD", {0, 10000, 50000, 100000, 250000, 500000});
    *p.add_currencies() = currency_program("EUR", {0, 20000, 40000, 80000, 160000, 320000});
    return p;
}

v1::LoyaltyState play(v1::LoyaltyState s, const std::vector<Event>& events) {
    for (const auto& e : events) s = evolve(std::move(s), e);
    return s;
}

v1::LoyaltyState fresh(const std::string& customer) {
    v1::LoyaltyState s;
    s.set_customer_id(customer);
    return s;
}

int64_t spend(const v1::LoyaltyState& s, const std::string& currency) {
    for (const auto& a : s.accounts())
        if (a.currency() == currency) return a.spend_minor();
    return 0;
}

std::string tier(const v1::LoyaltyState& s, const std::string& currency) {
    for (const auto& a : s.accounts())
        if (a.currency() == currency) return a.tier();
    return "";
}

}  // namespace

TEST(Loyalty, TiersAtTheExactThresholdsPerCurrency) {
    const auto p = usd_eur();
    struct Case {
        const char* currency;
        int64_t spend;
        const char* tier;
    } cases[] = {{"USD", 0, "bronze"},        {"USD", 9999, "bronze"},    {"USD", 10000, "silver"},
                 {"USD", 49999, "silver"},    {"USD", 50000, "gold"},     {"USD", 99999, "gold"},
                 {"USD", 100000, "platinum"}, {"USD", 249999, "platinum"}, {"USD", 250000, "diamond"},
                 {"USD", 499999, "diamond"},  {"USD", 500000, "elite"},   {"USD", 1 << 30, "elite"},
                 {"EUR", 19999, "bronze"},    {"EUR", 20000, "silver"},   {"EUR", 319999, "diamond"},
                 {"EUR", 320000, "elite"},    {"USD", -5, "bronze"}};
    for (const auto& c : cases)
        EXPECT_EQ(tier_for(*program_for(p, c.currency), c.spend), c.tier) << c.currency << " " << c.spend;
    EXPECT_EQ(program_for(p, "GBP"), nullptr);
    EXPECT_EQ(discount_for(*program_for(p, "USD"), "gold"), 200u);
    EXPECT_EQ(discount_for(*program_for(p, "USD"), ""), 0u);
}

TEST(Loyalty, AProgramIsSixIncreasingTiersFromZeroPerCurrency) {
    EXPECT_TRUE(validate(usd_eur()).has_value());
    auto broken = [](auto change) {
        auto p = usd_eur();
        change(*p.mutable_currencies(0));
        auto r = validate(p);
        return r ? std::string("ok") : std::string(to_string(r.error().code));
    };
    EXPECT_EQ(broken([](auto& cp) { cp.set_currency("XXX"); }), "currency_unknown");
    EXPECT_EQ(broken([](auto& cp) { cp.set_currency("EUR"); }), "currency_repeated");
    EXPECT_EQ(broken([](auto& cp) { cp.mutable_tiers()->RemoveLast(); }), "six_tiers_required");
    EXPECT_EQ(broken([](auto& cp) { cp.mutable_tiers(2)->set_name("golden"); }), "six_tiers_required");
    EXPECT_EQ(broken([](auto& cp) { cp.mutable_tiers(0)->set_threshold_minor(1); }), "bronze_starts_at_zero");
    EXPECT_EQ(broken([](auto& cp) { cp.mutable_tiers(3)->set_threshold_minor(50000); }), "thresholds_must_increase");
    EXPECT_EQ(broken([](auto& cp) { cp.mutable_tiers(3)->set_discount_bps(10001); }), "discount_out_of_range");
}

TEST(Loyalty, PaymentsPromoteRefundsDemoteAndAPaymentCountsOnce) {
    const auto p = usd_eur();
    const Program program{&p, 1};
    auto s = fresh("cus-1");
    auto e = decide(s, program, OrderPaid{"o1", "USD", 10000});
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(type_of(e[0]), "SpendRecorded");
    EXPECT_EQ(std::get<v1::TierChanged>(e[1]).to_tier(), "silver");
    s = play(s, e);
    EXPECT_TRUE(decide(s, program, OrderPaid{"o1", "USD", 10000}).empty()) << "a redelivery counted again";
    // A refund of one minor unit drops below the threshold: demoted.
    e = decide(s, program, GivenBack{"o1", "USD", 1, "refund"});
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(std::get<v1::TierChanged>(e[1]).to_tier(), "bronze");
    s = play(s, e);
    EXPECT_EQ(spend(s, "USD"), 9999);
    // A give-back never takes more than its order counted, nor anything for an unknown order.
    s = play(s, decide(s, program, GivenBack{"o1", "USD", 50000, "refund"}));
    EXPECT_EQ(spend(s, "USD"), 0);
    EXPECT_TRUE(decide(s, program, GivenBack{"o2", "USD", 500, "refund"}).empty());
    // Currencies are separate accounts.
    s = play(s, decide(s, program, OrderPaid{"o3", "EUR", 20000}));
    EXPECT_EQ(tier(s, "EUR"), "silver");
    EXPECT_EQ(tier(s, "USD"), "bronze");
}

TEST(Loyalty, ADisputeHoldsEveryChangeUntilItClosesThenApplies) {
    const auto p = usd_eur();
    const Program program{&p, 1};
    auto s = play(fresh("cus-1"), decide(fresh("cus-1"), program, OrderPaid{"o1", "USD", 5000}));
    s = play(s, decide(s, program, DisputeOpened{"o1", "dp_1"}));
    ASSERT_EQ(s.holds_size(), 1);
    // Spend counts while held; the tier waits.
    auto e = decide(s, program, OrderPaid{"o2", "USD", 60000});
    ASSERT_EQ(e.size(), 1u);
    s = play(s, e);
    EXPECT_EQ(spend(s, "USD"), 65000);
    EXPECT_EQ(tier(s, "USD"), "bronze");
    EXPECT_EQ(effective_tier(s, p, "USD"), "bronze");
    // Won: the promotion applies, with the reason.
    e = decide(s, program, DisputeClosed{"o1", "dp_1", false, "USD", 0});
    ASSERT_EQ(e.size(), 2u);
    EXPECT_EQ(std::get<v1::TierChanged>(e[1]).to_tier(), "gold");
    EXPECT_EQ(std::get<v1::TierChanged>(e[1]).reason(), "hold_released");
    s = play(s, e);
    // Lost: the spend goes down and the tier with it.
    s = play(s, decide(s, program, DisputeOpened{"o2", "dp_2"}));
    e = decide(s, program, DisputeClosed{"o2", "dp_2", true, "USD", 60000});
    s = play(s, e);
    EXPECT_EQ(spend(s, "USD"), 5000);
    EXPECT_EQ(tier(s, "USD"), "bronze");
    EXPECT_EQ(s.holds_size(), 0);
}

TEST(Loyalty, AProgramChangeReTiersOnlyWhoItAffects) {
    auto p = usd_eur();
    auto s = play(fresh("cus-1"), decide(fresh("cus-1"), Program{&p, 1}, OrderPaid{"o1", "USD", 30000}));
    EXPECT_EQ(tier(s, "USD"), "silver");
    EXPECT_TRUE(decide(s, Program{&p, 1}, ProgramChanged{}).empty());
    p.mutable_currencies(0)->mutable_tiers(2)->set_threshold_minor(30000);  // gold from 300.00
    auto e = decide(s, Program{&p, 2}, ProgramChanged{});
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(std::get<v1::TierChanged>(e[0]).to_tier(), "gold");
    EXPECT_EQ(std::get<v1::TierChanged>(e[0]).reason(), "program_changed");
    EXPECT_EQ(std::get<v1::TierChanged>(e[0]).program_version(), 2);
    s = play(s, e);
    EXPECT_TRUE(decide(s, Program{&p, 2}, ProgramChanged{}).empty()) << "re-tiered twice";
}

// Over random sequences of payments (some redelivered), refunds, disputes won and lost,
// and program changes: the tier is the program's for the spend unless a hold is open;
// the spend is what was paid less what was given back, each payment counted once; a
// hold freezes the tier and its release applies the program again.
RC_GTEST_PROP(LoyaltyProperties, SpendAndTierNeverDisagree, ()) {
    v1::LoyaltyProgram p;
    *p.add_currencies() = currency_program("USD", {0, 1000, 2000, 4000, 8000, 16000});
    int64_t version = 1;
    auto s = fresh("c");
    std::map<std::string, int64_t> paid_left;  // order -> what it still counts for, by the model
    std::map<std::string, int64_t> totals;     // an order's total never changes
    std::set<std::string> open_disputes;
    int orders = 0;
    const int steps = *rc::gen::inRange(1, 60);
    for (int i = 0; i < steps; ++i) {
        const int kind = *rc::gen::inRange(0, 6);
        const std::string frozen = tier(s, "USD");
        const bool held = s.holds_size() > 0;
        Fact fact = ProgramChanged{};
        if (kind == 0 || orders == 0) {
            const std::string id = "o" + std::to_string(orders++);
            const int64_t total = *rc::gen::inRange<int64_t>(0, 5000);
            fact = OrderPaid{id, "USD", total};
            totals[id] = total;
            if (total > 0) paid_left[id] = total;
        } else if (kind == 1) {  // a redelivered payment
            const std::string id = "o" + std::to_string(*rc::gen::inRange(0, orders));
            fact = OrderPaid{id, "USD", totals[id]};
        } else if (kind == 2) {
            const std::string id = "o" + std::to_string(*rc::gen::inRange(0, orders));
            const int64_t amount = *rc::gen::inRange<int64_t>(1, 3000);
            fact = GivenBack{id, "USD", amount, "refund"};
            if (paid_left.contains(id)) paid_left[id] -= std::min(amount, paid_left[id]);
        } else if (kind == 3) {
            const std::string id = "o" + std::to_string(*rc::gen::inRange(0, orders));
            fact = DisputeOpened{id, "dp_" + id};
            open_disputes.insert("dp_" + id);
        } else if (kind == 4 && !open_disputes.empty()) {
            const std::string dp = *rc::gen::elementOf(open_disputes);
            const std::string id = dp.substr(3);
            const bool lost = *rc::gen::arbitrary<bool>();
            const int64_t amount = *rc::gen::inRange<int64_t>(1, 3000);
            fact = DisputeClosed{id, dp, lost, "USD", amount};
            if (lost && paid_left.contains(id)) paid_left[id] -= std::min(amount, paid_left[id]);
            open_disputes.erase(dp);
        } else {
            auto* t = p.mutable_currencies(0)->mutable_tiers();
            for (int k = 1; k < t->size(); ++k)
                t->Mutable(k)->set_threshold_minor(t->Get(k - 1).threshold_minor() + *rc::gen::inRange<int64_t>(1, 5000));
            ++version;
        }
        s = play(s, decide(s, Program{&p, version}, fact));
        int64_t expected = 0;
        for (const auto& [id, left] : paid_left) expected += left;
        RC_ASSERT(spend(s, "USD") == expected);
        RC_ASSERT(static_cast<size_t>(s.holds_size()) == open_disputes.size());
        if (s.holds_size() > 0) {
            if (held) RC_ASSERT(tier(s, "USD") == frozen);  // held all along: frozen
        } else if (!s.accounts().empty()) {
            RC_ASSERT(tier(s, "USD") == tier_for(p.currencies(0), spend(s, "USD")));
        }
    }
}

}  // namespace tally::loyalty
