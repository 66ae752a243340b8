#include "domain/stock.h"

#include <gtest/gtest.h>

#include <map>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace tally::stock {
namespace {

StockLevel apply_all(StockLevel s, const std::vector<StockEvent>& events) {
    for (const auto& e : events) s = evolve(s, e);
    return s;
}

StockLevel with(int64_t available) { return apply_all({"sku", 0}, *decide({"sku", 0}, AdjustStock{"sku", available, "count"})); }

}  // namespace

TEST(Stock, ReserveThenRelease) {
    auto s = with(10);
    s = apply_all(s, *decide(s, ReserveStock{"sku", "o1", 4}));
    EXPECT_EQ(s.available, 6);
    s = apply_all(s, *decide(s, ReleaseStock{"sku", "o1", 4}));
    EXPECT_EQ(s.available, 10);
}

TEST(Stock, RejectionsInPrecedenceOrder) {
    auto s = with(3);
    EXPECT_EQ(decide(s, ReserveStock{"sku", "o1", 0}).error(), StockRejection::quantity_must_be_positive);
    EXPECT_EQ(decide(s, ReserveStock{"sku", "o1", 4}).error(), StockRejection::out_of_stock);
    s = apply_all(s, *decide(s, ReserveStock{"sku", "o1", 3}));
    EXPECT_EQ(decide(s, ReserveStock{"sku", "o2", 1}).error(), StockRejection::out_of_stock);
    EXPECT_EQ(decide(s, ReleaseStock{"sku", "o1", 0}).error(), StockRejection::quantity_must_be_positive);
    EXPECT_EQ(decide(s, AdjustStock{"sku", -1, "loss"}).error(), StockRejection::would_go_negative);
    EXPECT_EQ(decide(s, AdjustStock{"sku", 0, "noop"}).error(), StockRejection::delta_out_of_range);
}

TEST(Stock, SnapshotRoundTrips) {
    auto s = with(7);
    s = apply_all(s, *decide(s, ReserveStock{"sku", "o1", 2}));
    auto back = from_snapshot("sku", to_snapshot(s));
    EXPECT_EQ(back.available, 5);
}

// Any sequence of commands, accepted or not, keeps stock non-negative and
// conserves units: available + held by orders == adjustments so far. Orders hold
// their reservation (as the order aggregate does) and release it at most once.
RC_GTEST_PROP(StockProperties, NeverOversellsAndConservesUnits, ()) {
    StockLevel s{"sku", 0};
    int64_t adjusted = 0;
    std::map<std::string, int64_t> held;
    const auto ops = *rc::gen::container<std::vector<std::tuple<int, int, int64_t>>>(rc::gen::tuple(
        rc::gen::inRange(0, 3), rc::gen::inRange(0, 5), rc::gen::inRange<int64_t>(-20, 21)));
    for (const auto& [kind, order, amount] : ops) {
        std::expected<std::vector<StockEvent>, StockRejection> d;
        const std::string id = "o" + std::to_string(order);
        if (kind == 0) d = decide(s, AdjustStock{"sku", amount, "r"});
        else if (kind == 1 && !held.contains(id)) d = decide(s, ReserveStock{"sku", id, amount});
        else if (kind == 2 && held.contains(id)) d = decide(s, ReleaseStock{"sku", id, held[id]});
        else continue;
        if (!d) continue;
        if (kind == 0) adjusted += amount;
        if (kind == 1) held[id] = amount;
        if (kind == 2) held.erase(id);
        s = apply_all(s, *d);
        RC_ASSERT(s.available >= 0);
        int64_t reserved = 0;
        for (const auto& [o, q] : held) reserved += q;
        RC_ASSERT(s.available + reserved == adjusted);
    }
}

}  // namespace tally::stock
