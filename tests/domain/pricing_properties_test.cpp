// Invariants of the pricing engine over random marketplaces and carts.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "domain/ledger.h"
#include "domain/order.h"
#include "domain/pricing.h"
#include "tests/domain/pricing_invariants.h"

namespace tally::pricing {
namespace {

const Currency kUsd = *Currency::parse("USD");
constexpr int64_t kNow = 1'800'000'000'000;

struct World {
    Catalog catalog;
    Customer customer;
    Cart cart;
};

template <typename T>
std::optional<T> maybe_of(const rc::Gen<T>& gen) {
    if (*rc::gen::arbitrary<bool>()) return *gen;
    return std::nullopt;
}

World gen_world() {
    World w{Catalog{}, Customer{}, Cart{kUsd, {}, {}, "US", true}};
    const int vendors = *rc::gen::inRange(1, 4);
    for (int v = 0; v < vendors; ++v) {
        const std::string id = "v" + std::to_string(v);
        ShippingRule ship{*rc::gen::inRange<int64_t>(0, 2000), {{"CA", *rc::gen::inRange<int64_t>(0, 3000)}},
                          maybe_of(rc::gen::inRange<int64_t>(0, 20000))};
        w.catalog.vendors.insert_or_assign(id, Vendor{id, kUsd, maybe_of(rc::gen::inRange<uint32_t>(0, 10001)), ship, {}});
    }
    const int products = *rc::gen::inRange(1, 7);
    for (int p = 0; p < products; ++p) {
        Product pr;
        pr.sku = "p" + std::to_string(p);
        pr.vendor_id = "v" + std::to_string(*rc::gen::inRange(0, vendors));
        pr.base_minor = *rc::gen::inRange<int64_t>(0, 100000);
        if (*rc::gen::arbitrary<bool>())
            pr.bulk_tiers = {{*rc::gen::inRange<int64_t>(1, 50), *rc::gen::inRange<int64_t>(0, 100000)}};
        if (*rc::gen::arbitrary<bool>()) pr.wholesale_minor = *rc::gen::inRange<int64_t>(0, 100000);
        if (*rc::gen::arbitrary<bool>())
            pr.matrix[{"coated", "", ""}] = {{*rc::gen::inRange<int64_t>(1, 100), *rc::gen::inRange<int64_t>(0, 5000)}};
        pr.commission_bps = maybe_of(rc::gen::inRange<uint32_t>(0, 10001));
        w.catalog.products[pr.sku] = pr;
    }
    w.catalog.site_commission_bps = *rc::gen::inRange<uint32_t>(0, 10001);
    w.catalog.service_fee = {*rc::gen::inRange<uint32_t>(0, 1000), *rc::gen::inRange<int64_t>(0, 500)};
    if (products >= 2 && *rc::gen::arbitrary<bool>())
        w.catalog.bundles.push_back(Bundle{"b", {"p0", "p1"}, *rc::gen::inRange<uint32_t>(1, 10001)});
    const int coupons = *rc::gen::inRange(0, 4);
    for (int c = 0; c < coupons; ++c) {
        Coupon cp;
        cp.code = "C" + std::to_string(c);
        cp.kind = *rc::gen::arbitrary<bool>() ? CouponKind::percent : CouponKind::fixed;
        cp.percent_bps = *rc::gen::inRange<uint32_t>(0, 10001);
        cp.fixed_minor = *rc::gen::inRange<int64_t>(0, 50000);
        cp.priority = *rc::gen::inRange(0, 3);
        // Some are a vendor's own, scoped to it and funded from its payable.
        if (*rc::gen::arbitrary<bool>()) {
            cp.funded_by_vendor = "v" + std::to_string(*rc::gen::inRange(0, vendors));
            cp.scope = CouponScope::vendor;
            cp.scope_id = cp.funded_by_vendor;
        }
        w.catalog.coupons[cp.code] = cp;
        w.cart.coupon_codes.push_back(cp.code);
    }
    w.customer = Customer{"c", *rc::gen::arbitrary<bool>(), *rc::gen::inRange<uint32_t>(0, 3001),
                          *rc::gen::inRange<int64_t>(0, 2'000'000), {}, {}};
    const int lines = *rc::gen::inRange(1, 9);
    for (int l = 0; l < lines; ++l) {
        CartLine line{"p" + std::to_string(*rc::gen::inRange(0, products)), *rc::gen::inRange<int64_t>(1, 1000), {}, ""};
        if (*rc::gen::arbitrary<bool>()) line.options.material = "coated";
        w.cart.lines.push_back(line);
    }
    w.cart.ship_to_country = *rc::gen::arbitrary<bool>() ? "CA" : "US";
    w.cart.apply_credit = *rc::gen::arbitrary<bool>();
    return w;
}

}  // namespace

RC_GTEST_PROP(PricingProperties, SplitsSumToTotalsAndNothingIsNegative, ()) {
    const World w = gen_world();
    auto r = price(w.cart, w.catalog, w.customer, kNow);
    RC_TAG(r ? "priced" : std::string(to_string(r.error().code)));  // shows how often each path runs
    if (!r) {
        // Only the rules that random worlds can break may refuse.
        RC_ASSERT(r.error().code == PricingRejection::coupon_min_spend_not_met ||
                  r.error().code == PricingRejection::amount_too_small_after_credit);
        return;
    }
    const auto broken = breakdown_violation(*r, w.catalog, w.customer);
    if (broken) RC_FAIL("broken: " + *broken);
}

// Every order placed from any priced cart posts a balanced set, and its sub-orders
// add up to the order: the customer's receivable equals what vendors and the platform are owed.
RC_GTEST_PROP(PricingProperties, PlacedOrdersPostBalancedSets, ()) {
    const World w = gen_world();
    auto r = price(w.cart, w.catalog, w.customer, kNow);
    if (!r) return;
    const auto placed = order::place("ord-1", "c", w.cart, w.catalog, *r, "key");
    if (r->total_minor + r->promotions_minor > 0) RC_ASSERT(ledger::check_balanced(placed.postings()).has_value());
    int64_t debits = 0, owed = 0, promotions = 0;
    for (const auto& p : placed.postings().postings()) {
        (p.side() == v1::DEBIT ? debits : owed) += p.amount().minor();
        if (p.account() == ledger::kPromotionsExpense) promotions += p.amount().minor();
    }
    // The receivable and the promotions the platform funds pay what vendors and the platform are owed.
    RC_ASSERT(debits == r->total_minor + r->promotions_minor);
    RC_ASSERT(promotions == r->promotions_minor);
    RC_ASSERT(owed == r->total_minor + r->promotions_minor);
    int64_t sub_total = 0;
    for (const auto& so : placed.sub_orders()) sub_total += so.goods_net_minor() + so.shipping_minor();
    RC_ASSERT(sub_total + r->service_fee_minor == r->total_minor);
    RC_ASSERT(placed.zero_payment() == (r->amount_due_minor == 0));
    RC_ASSERT(placed.status() == (r->amount_due_minor == 0 ? "paid" : "awaiting_payment"));
}

RC_GTEST_PROP(PricingProperties, QuotingTwiceGivesTheSameAnswer, ()) {
    const World w = gen_world();
    auto a = price(w.cart, w.catalog, w.customer, kNow);
    auto b = price(w.cart, w.catalog, w.customer, kNow);
    RC_ASSERT(a.has_value() == b.has_value());
    if (!a) {
        RC_ASSERT(a.error().code == b.error().code);
        return;
    }
    RC_ASSERT(a->total_minor == b->total_minor);
    RC_ASSERT(a->amount_due_minor == b->amount_due_minor);
    for (size_t i = 0; i < a->lines.size(); ++i) RC_ASSERT(a->lines[i].net_minor == b->lines[i].net_minor);
}

RC_GTEST_PROP(PricingProperties, AllocationSumsToTheAmount, ()) {
    const auto weights = *rc::gen::container<std::vector<int64_t>>(rc::gen::inRange<int64_t>(0, 1'000'000'000));
    int64_t total = 0;
    for (auto w : weights) total += w;
    const int64_t amount = total == 0 ? 0 : *rc::gen::inRange<int64_t>(0, total + 1);
    const auto parts = allocate(amount, weights);
    int64_t sum = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
        RC_ASSERT(parts[i] >= 0);
        RC_ASSERT(parts[i] <= weights[i]);
        sum += parts[i];
    }
    RC_ASSERT(sum == amount);
}

}  // namespace tally::pricing
