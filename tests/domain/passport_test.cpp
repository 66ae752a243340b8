// Passports: the country-to-continent table, badges at each count, and a property over
// random paid orders, line refunds, amount refunds, cancellations and lost disputes: a
// stamp exists iff an unrefunded paid purchase supports it.
#include "domain/passport.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

namespace tally::passport {
namespace {

TEST(Passport, TheContinentTableCoversIso3166) {
    EXPECT_EQ(continent_of("DK"), "EU");
    EXPECT_EQ(continent_of("ET"), "AF");
    EXPECT_EQ(continent_of("CO"), "SA");
    EXPECT_EQ(continent_of("GT"), "NA");
    EXPECT_EQ(continent_of("PG"), "OC");
    EXPECT_EQ(continent_of("ID"), "AS");
    EXPECT_EQ(continent_of("AQ"), "AN");
    EXPECT_EQ(continent_of("ZZ"), "");
    EXPECT_EQ(continent_of("dk"), "");
    EXPECT_EQ(inhabited_continents().size(), 6u);
}

Order paid_order(const std::string& id, std::vector<Line> lines, int64_t total = 1000, int64_t at = 1) {
    return evolve(evolve(Order{}, Placed{id, "c", total, std::move(lines), 0}), Paid{at});
}

TEST(Passport, BadgesAtOneFiveTenTwentyFiveAndFiftyCountriesAndEveryContinent) {
    const std::vector<std::string> countries = {"DK", "ET", "CO", "GT", "PG", "ID", "KE", "BR", "MX", "VN",
                                                "FR", "DE", "IT", "ES", "PT", "NL", "BE", "AT", "CH", "SE",
                                                "NO", "FI", "IE", "GB", "PL", "CZ", "SK", "HU", "RO", "BG",
                                                "GR", "TR", "JP", "KR", "CN", "IN", "TH", "LA", "KH", "MY",
                                                "SG", "PH", "AU", "NZ", "FJ", "PE", "EC", "BO", "CL", "AR"};
    std::vector<Order> orders;
    auto have = [&](const std::string& badge) {
        const auto b = badges(stamps(orders));
        return std::find(b.begin(), b.end(), badge) != b.end();
    };
    for (size_t i = 0; i < countries.size(); ++i) {
        orders.push_back(paid_order("o" + std::to_string(i), {{"sku" + std::to_string(i), countries[i], 1, 0}}));
        const size_t n = i + 1;
        for (size_t at : {1u, 5u, 10u, 25u, 50u}) EXPECT_EQ(have("countries_" + std::to_string(at)), n >= at) << n;
    }
    EXPECT_TRUE(have("every_inhabited_continent"));
    EXPECT_TRUE(have("continent_OC"));
    // Antarctica earns nothing: only inhabited continents have badges.
    orders = {paid_order("a", {{"ice", "AQ", 1, 0}})};
    EXPECT_EQ(badges(stamps(orders)), (std::vector<std::string>{"countries_1"}));
}

TEST(Passport, AFullRefundOfEverySupportingPurchaseRemovesTheStampAPartialOneKeepsIt) {
    Order a = paid_order("a", {{"beans", "ET", 2, 0}, {"mug", "DK", 1, 0}}, 3000, 5);
    Order b = paid_order("b", {{"beans", "ET", 1, 0}}, 1000, 9);
    auto countries = [](const std::vector<Order>& os) {
        std::set<std::string> out;
        for (const auto& s : stamps(os)) out.insert(s.country);
        return out;
    };
    EXPECT_EQ(countries({a, b}), (std::set<std::string>{"DK", "ET"}));
    const auto et = stamps({a, b})[1];
    EXPECT_EQ(et.first_purchase_unix_ms, 5);
    EXPECT_EQ(et.units, 3);
    EXPECT_EQ(et.orders, (std::set<std::string>{"a", "b"}));
    // One unit of two back: kept. Then the other: ET stays on order b.
    a = evolve(a, GivenBack{500, {{"beans", 1}}});
    EXPECT_EQ(countries({a, b}), (std::set<std::string>{"DK", "ET"}));
    a = evolve(a, GivenBack{500, {{"beans", 1}}});
    EXPECT_EQ(stamps({a, b})[1].orders, (std::set<std::string>{"b"}));
    // Order b refunded in full (by amount): ET goes; a partial amount refund keeps DK.
    b = evolve(b, GivenBack{1000, {}});
    a = evolve(a, GivenBack{100, {}});
    EXPECT_EQ(countries({a, b}), (std::set<std::string>{"DK"}));
    // Cancelled after payment: nothing of it counts.
    a = evolve(a, Voided{});
    EXPECT_TRUE(stamps({a, b}).empty());
    // A payment that lands after the cancellation stamps nothing.
    Order late = evolve(evolve(Order{}, Placed{"l", "c", 1000, {{"tea", "KE", 1, 0}}, 0}), Voided{});
    EXPECT_TRUE(stamps({evolve(late, Paid{3})}).empty());
}

// The model: per order, paid or not, voided or not, amount given back, units refunded per line.
RC_GTEST_PROP(PassportProperties, AStampExistsIffAnUnrefundedPaidPurchaseSupportsIt, ()) {
    const std::vector<std::string> countries = {"DK", "ET", "CO", "KE", "BR"};
    const int n_orders = *rc::gen::inRange(1, 6);
    std::vector<Order> orders(static_cast<size_t>(n_orders));
    struct Model {
        bool placed = false, paid = false, voided = false;
        int64_t total = 0, back = 0;
        std::vector<std::pair<std::string, int64_t>> lines;  // country, units left
    };
    std::vector<Model> model(static_cast<size_t>(n_orders));
    const int steps = *rc::gen::inRange(1, 40);
    for (int s = 0; s < steps; ++s) {
        const auto i = static_cast<size_t>(*rc::gen::inRange(0, n_orders));
        auto& m = model[i];
        auto& o = orders[i];
        const std::string id = "o" + std::to_string(i);
        if (!m.placed) {
            Placed p{id, "c", 0, {}, 0};
            const int lines = *rc::gen::inRange(1, 4);
            for (int l = 0; l < lines; ++l) {
                const auto country = countries[static_cast<size_t>(*rc::gen::inRange(0, 5))];
                const int64_t units = *rc::gen::inRange(1, 4);
                p.lines.push_back({"sku" + std::to_string(l), country, units, 0});
                m.lines.emplace_back(country, units);
                p.total_minor += units * 100;
            }
            m.total = p.total_minor;
            m.placed = true;
            o = evolve(std::move(o), p);
            continue;
        }
        switch (*rc::gen::inRange(0, 5)) {
            case 0:  // paid (redelivered any number of times)
                if (!m.voided) m.paid = true;
                o = evolve(std::move(o), Paid{s + 1});
                break;
            case 1: {  // a refund by line
                if (!m.paid) break;
                const auto l = static_cast<size_t>(*rc::gen::inRange(0, static_cast<int>(m.lines.size())));
                const int64_t units = *rc::gen::inRange(1, 3);
                const int64_t taken = std::min(units, m.lines[l].second);
                m.lines[l].second -= taken;
                m.back += taken * 100;
                o = evolve(std::move(o), GivenBack{taken * 100, {{"sku" + std::to_string(l), units}}});
                break;
            }
            case 2: {  // an amount refund or a lost dispute
                if (!m.paid) break;
                const int64_t amount = *rc::gen::inRange<int64_t>(1, m.total + 1);
                m.back += amount;
                o = evolve(std::move(o), GivenBack{amount, {}});
                break;
            }
            case 3:  // cancelled
                m.voided = true;
                o = evolve(std::move(o), Voided{});
                break;
            default: break;
        }
    }
    std::set<std::string> want;
    for (const auto& m : model)
        if (m.placed && m.paid && !m.voided && m.back < m.total)
            for (const auto& [country, left] : m.lines)
                if (left > 0) want.insert(country);
    std::set<std::string> got;
    for (const auto& s : stamps(orders)) {
        got.insert(s.country);
        RC_ASSERT(s.units > 0);
        RC_ASSERT(!s.orders.empty());
    }
    RC_ASSERT(got == want);
}

// Upkeep by deltas: after every fact (placed, paid twice, refunds by line and by amount,
// cancellations, an order claimed by another customer), the stamps kept by applying
// stamp_changes alone equal the stamps recomputed from every order, field by field.
RC_GTEST_PROP(PassportProperties, StampsKeptByChangesEqualStampsRecomputedFromEveryOrder, ()) {
    const std::vector<std::string> countries = {"DK", "ET", "CO"};
    const std::vector<std::string> customers = {"c1", "c2"};
    const int n_orders = *rc::gen::inRange(1, 6);
    std::vector<Order> orders(static_cast<size_t>(n_orders));
    struct Kept {
        std::map<std::string, int64_t> orders;  // order -> paid at
        int64_t units = 0;
        std::map<std::string, int64_t> products;
    };
    std::map<std::pair<std::string, std::string>, Kept> kept;
    const int steps = *rc::gen::inRange(1, 40);
    for (int s = 0; s < steps; ++s) {
        const auto i = static_cast<size_t>(*rc::gen::inRange(0, n_orders));
        const Order before = orders[i];
        Order& o = orders[i];
        if (o.order_id.empty()) {
            Placed p{"o" + std::to_string(i), customers[static_cast<size_t>(*rc::gen::inRange(0, 2))], 0, {}, 0};
            const int lines = *rc::gen::inRange(1, 4);
            for (int l = 0; l < lines; ++l) {
                // Two lines may share a SKU (and so a product) in different countries.
                p.lines.push_back({"sku" + std::to_string(*rc::gen::inRange(0, 3)),
                                   countries[static_cast<size_t>(*rc::gen::inRange(0, 3))], *rc::gen::inRange(1, 4), 0});
                p.total_minor += p.lines.back().units * 100;
            }
            if (*rc::gen::inRange(0, 4) == 0) p.paid_at_unix_ms = s + 1;  // a zero-payment order
            o = evolve(std::move(o), p);
        } else {
            switch (*rc::gen::inRange(0, 5)) {
                case 0: o = evolve(std::move(o), Paid{s + 1}); break;
                case 1:
                    o = evolve(std::move(o), GivenBack{100, {{"sku" + std::to_string(*rc::gen::inRange(0, 3)),
                                                              *rc::gen::inRange(1, 3)}}});
                    break;
                case 2: o = evolve(std::move(o), GivenBack{*rc::gen::inRange<int64_t>(1, o.total_minor + 1), {}}); break;
                case 3: o = evolve(std::move(o), Voided{}); break;
                default: o = evolve(std::move(o), Claimed{customers[static_cast<size_t>(*rc::gen::inRange(0, 2))]}); break;
            }
        }
        for (const auto& c : stamp_changes(before, o)) {
            auto& k = kept[{c.customer_id, c.country}];
            if (c.removed) RC_ASSERT(k.orders.erase(c.order_id) == 1u);
            if (c.added) RC_ASSERT(k.orders.emplace(c.order_id, c.paid_at_unix_ms).second);
            k.units += c.units;
            for (const auto& [sku, n] : c.products)
                if ((k.products[sku] += n) == 0) k.products.erase(sku);
                else RC_ASSERT(k.products[sku] > 0);
        }
        std::erase_if(kept, [](const auto& e) { return e.second.orders.empty(); });
        for (const auto& customer : customers) {
            std::vector<Order> theirs;
            for (const auto& x : orders)
                if (x.customer_id == customer) theirs.push_back(x);
            const auto want = stamps(theirs);
            size_t have = 0;
            for (const auto& [key, k] : kept)
                if (key.first == customer) ++have;
            RC_ASSERT(have == want.size());
            for (const auto& w : want) {
                const auto it = kept.find({customer, w.country});
                RC_ASSERT(it != kept.end());
                const Kept& k = it->second;
                RC_ASSERT(k.units == w.units);
                std::set<std::string> ids, skus;
                int64_t first = INT64_MAX;
                for (const auto& [id, at] : k.orders) {
                    ids.insert(id);
                    first = std::min(first, at);
                }
                for (const auto& [sku, n] : k.products) skus.insert(sku);
                RC_ASSERT(ids == w.orders);
                RC_ASSERT(skus == w.products);
                RC_ASSERT(first == w.first_purchase_unix_ms);
            }
        }
    }
}

}  // namespace
}  // namespace tally::passport
