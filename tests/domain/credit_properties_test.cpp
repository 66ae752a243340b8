// Invariants of the credit aggregate, over random command sequences.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "domain/credit.h"
#include "domain/ledger.h"

namespace tally::credit {
namespace {

struct Step {
    int64_t minor;
    int currency;  // index into kCodes
};

constexpr const char* kCodes[] = {"USD", "EUR", "JPY"};

CreditAccount run(const std::vector<Step>& steps, const CreditPolicy& policy, std::vector<v1::CreditGranted>* log) {
    CreditAccount s{"c", std::nullopt, 0, 0};
    for (size_t i = 0; i < steps.size(); ++i) {
        GrantCredit cmd{"cmd-" + std::to_string(i), "c", Money{steps[i].minor, *Currency::parse(kCodes[steps[i].currency])},
                        "r", "admin"};
        auto d = decide(s, cmd, policy);
        if (!d) continue;
        for (const auto& e : *d) {
            if (log) log->push_back(e);
            s = evolve(s, e);
        }
    }
    return s;
}

}  // namespace

RC_GTEST_PROP(CreditProperties, EveryAcceptedGrantPostsABalancedSet, ()) {
    const CreditPolicy policy{*rc::gen::inRange<int64_t>(1, 1'000'000), *rc::gen::inRange<int64_t>(1, 5'000'000)};
    const auto steps = *rc::gen::container<std::vector<Step>>(rc::gen::build<Step>(
        rc::gen::set(&Step::minor, rc::gen::inRange<int64_t>(-1000, 2'000'000)),
        rc::gen::set(&Step::currency, rc::gen::inRange(0, 3))));
    std::vector<v1::CreditGranted> log;
    run(steps, policy, &log);
    for (const auto& e : log) {
        RC_ASSERT(ledger::check_balanced(e.postings()).has_value());
        RC_ASSERT(e.amount().minor() > 0);
    }
}

RC_GTEST_PROP(CreditProperties, BalanceNeverExceedsCapOrGoesNegative, ()) {
    const CreditPolicy policy{*rc::gen::inRange<int64_t>(1, 100'000), *rc::gen::inRange<int64_t>(1, 300'000)};
    const auto steps = *rc::gen::container<std::vector<Step>>(rc::gen::build<Step>(
        rc::gen::set(&Step::minor, rc::gen::inRange<int64_t>(-100, 200'000)),
        rc::gen::set(&Step::currency, rc::gen::inRange(0, 3))));
    const auto s = run(steps, policy, nullptr);
    RC_ASSERT(s.balance_minor >= 0);
    RC_ASSERT(s.balance_minor <= policy.balance_max_minor);
}

RC_GTEST_PROP(CreditProperties, ReplayingTheEventsIsDeterministic, ()) {
    const CreditPolicy policy{50'000, 500'000};
    const auto steps = *rc::gen::container<std::vector<Step>>(rc::gen::build<Step>(
        rc::gen::set(&Step::minor, rc::gen::inRange<int64_t>(-10, 60'000)),
        rc::gen::set(&Step::currency, rc::gen::inRange(0, 3))));
    std::vector<v1::CreditGranted> log;
    const auto live = run(steps, policy, &log);
    // Rebuild from the log alone, twice, through snapshot bytes: the same state.
    CreditAccount a{"c", std::nullopt, 0, 0}, b{"c", std::nullopt, 0, 0};
    for (const auto& e : log) a = evolve(a, e);
    for (const auto& e : log) b = from_snapshot("c", to_snapshot(evolve(b, e)));
    RC_ASSERT(a.balance_minor == live.balance_minor);
    RC_ASSERT(b.balance_minor == live.balance_minor);
    RC_ASSERT(a.grants_count == live.grants_count);
    RC_ASSERT(a.currency == live.currency);
    // The sum of the liability legs equals the balance: the ledger agrees with the cache.
    int64_t liability = 0;
    for (const auto& e : log)
        for (const auto& p : e.postings().postings())
            if (p.account() == ledger::store_credit_liability("c")) liability -= ledger::signed_minor(p);
    RC_ASSERT(liability == live.balance_minor);
}

}  // namespace tally::credit
