#include "projectors/passport_projection.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "domain/passport.h"
#include "events/passport_facts.h"
#include "events/registry.h"
#include "tally/v1/customer.pb.h"

namespace tally::projectors {
namespace {

// The orders of `ids` with their lines.
std::map<std::string, passport::Order> load(sql::Tx& tx, const TableMap& t, const std::vector<std::string>& ids) {
    std::map<std::string, passport::Order> out;
    if (ids.empty()) return out;
    for (const auto& r : tx.exec("SELECT order_id, customer_id, total_minor, paid_at_unix_ms, given_back_minor, voided FROM " +
                                     t.at("passport_orders") + " WHERE order_id = ANY($1::text[])",
                                 {sql::text_array(ids)})) {
        auto& o = out[r.str(0)];
        o.order_id = r.str(0);
        o.customer_id = r.str(1);
        o.total_minor = r.i64(2);
        o.paid_at_unix_ms = r.i64(3);
        o.given_back_minor = r.i64(4);
        o.voided = r.boolean(5);
    }
    std::vector<std::string> orders;
    for (const auto& [id, o] : out) orders.push_back(id);
    if (orders.empty()) return out;
    for (const auto& r : tx.exec("SELECT order_id, sku, country, units, units_refunded FROM " + t.at("passport_lines") +
                                     " WHERE order_id = ANY($1::text[]) ORDER BY order_id, line_no",
                                 {sql::text_array(orders)}))
        out[r.str(0)].lines.push_back({r.str(1), r.str(2), r.i64(3), r.i64(4)});
    return out;
}

class PassportProjection final : public Projection {
public:
    std::string name() const override { return "passport"; }
    std::vector<std::string> tables() const override {
        return {"passport_orders",       "passport_lines",         "passport_stamps", "passport_stamp_orders",
                "passport_stamp_products", "passport_counts", "passport_profiles"};
    }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        std::vector<std::pair<std::string, passport::Fact>> facts;
        std::map<std::string, std::pair<std::string, bool>> profiles;
        for (const auto& e : events) {
            for (auto& f : events::passport_facts(e)) facts.push_back(std::move(f));
            if (e.type() == events::kCustomerProfileSet) {
                v1::CustomerProfileSet p;
                if (p.ParseFromString(e.payload()))
                    profiles[p.profile().customer_id()] = {p.profile().display_name(), p.profile().leaderboard_opt_in()};
            }
        }
        if (!profiles.empty()) write_profiles(tx, t, profiles);
        if (facts.empty()) return;

        std::vector<std::string> ids;
        for (const auto& [order, fact] : facts) ids.push_back(order);
        auto orders = load(tx, t, ids);
        const auto before = orders;
        std::set<std::string> touched;
        for (const auto& [order, fact] : facts) {
            if (!orders.contains(order) && !std::holds_alternative<passport::Placed>(fact)) continue;  // never placed
            auto& o = orders[order];
            o = passport::evolve(std::move(o), fact);
            touched.insert(order);
        }
        std::vector<passport::StampChange> changes;
        for (const auto& id : touched) {
            const auto b = before.find(id);
            for (auto& c : passport::stamp_changes(b == before.end() ? passport::Order{} : b->second, orders.at(id)))
                changes.push_back(std::move(c));
        }
        write_orders(tx, t, orders, touched);
        write_stamps(tx, t, changes);
    }

private:
    static void write_profiles(sql::Tx& tx, const TableMap& t, const std::map<std::string, std::pair<std::string, bool>>& p) {
        std::vector<std::string> ids, names;
        std::vector<int64_t> opt_in;
        for (const auto& [id, v] : p) {
            ids.push_back(id);
            names.push_back(v.first);
            opt_in.push_back(v.second ? 1 : 0);
        }
        tx.exec("INSERT INTO " + t.at("passport_profiles") + " (customer_id, display_name, leaderboard_opt_in)"
                    " SELECT id, name, flag <> 0 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, name, flag)"
                    " ON CONFLICT (customer_id) DO UPDATE SET display_name = EXCLUDED.display_name,"
                    " leaderboard_opt_in = EXCLUDED.leaderboard_opt_in",
                {sql::text_array(ids), sql::text_array(names), sql::int_array(opt_in)});
    }

    static void write_orders(sql::Tx& tx, const TableMap& t, const std::map<std::string, passport::Order>& orders,
                             const std::set<std::string>& touched) {
        std::vector<std::string> ids, customers, l_orders, l_skus, l_countries;
        std::vector<int64_t> totals, paid, back, voided, l_no, l_units, l_refunded;
        for (const auto& id : touched) {
            const auto& o = orders.at(id);
            ids.push_back(id);
            customers.push_back(o.customer_id);
            totals.push_back(o.total_minor);
            paid.push_back(o.paid_at_unix_ms);
            back.push_back(o.given_back_minor);
            voided.push_back(o.voided ? 1 : 0);
            for (size_t i = 0; i < o.lines.size(); ++i) {
                l_orders.push_back(id);
                l_no.push_back(static_cast<int64_t>(i));
                l_skus.push_back(o.lines[i].sku);
                l_countries.push_back(o.lines[i].country);
                l_units.push_back(o.lines[i].units);
                l_refunded.push_back(o.lines[i].units_refunded);
            }
        }
        tx.exec("INSERT INTO " + t.at("passport_orders") +
                    " (order_id, customer_id, total_minor, paid_at_unix_ms, given_back_minor, voided)"
                    " SELECT o, c, t, p, b, v <> 0 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[],"
                    " $5::bigint[], $6::bigint[]) AS u(o, c, t, p, b, v)"
                    " ON CONFLICT (order_id) DO UPDATE SET customer_id = EXCLUDED.customer_id,"
                    " total_minor = EXCLUDED.total_minor, paid_at_unix_ms = EXCLUDED.paid_at_unix_ms,"
                    " given_back_minor = EXCLUDED.given_back_minor, voided = EXCLUDED.voided",
                {sql::text_array(ids), sql::text_array(customers), sql::int_array(totals), sql::int_array(paid),
                 sql::int_array(back), sql::int_array(voided)});
        tx.exec("DELETE FROM " + t.at("passport_lines") + " WHERE order_id = ANY($1::text[])", {sql::text_array(ids)});
        if (!l_orders.empty())
            tx.exec("INSERT INTO " + t.at("passport_lines") + " (order_id, line_no, sku, country, units, units_refunded)"
                        " SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])",
                    {sql::text_array(l_orders), sql::int_array(l_no), sql::text_array(l_skus), sql::text_array(l_countries),
                     sql::int_array(l_units), sql::int_array(l_refunded)});
    }

    // Stamps moved by the batch's changes: a stamp's supporting orders and products are rows
    // of their own, its units a sum kept by deltas, its first purchase the least date among
    // its orders (looked up again only when an order stops supporting it). Then the counts
    // and badges of each customer whose stamps moved, from their stamps (at most one per
    // country). Nothing here reads a customer's history.
    static void write_stamps(sql::Tx& tx, const TableMap& t, const std::vector<passport::StampChange>& changes) {
        if (changes.empty()) return;
        move_stamp_orders(tx, t.at("passport_stamp_orders"), changes);
        move_stamp_products(tx, t.at("passport_stamp_products"), changes);
        write_counts(tx, t, move_stamps(tx, t, changes));
    }

    // The orders supporting each stamp: those that stopped, out; those that started, in.
    static void move_stamp_orders(sql::Tx& tx, const std::string& stamp_orders,
                                  const std::vector<passport::StampChange>& changes) {
        std::vector<std::string> r_c, r_n, r_o, a_c, a_n, a_o;
        std::vector<int64_t> a_at;
        for (const auto& c : changes) {
            if (c.removed) {
                r_c.push_back(c.customer_id);
                r_n.push_back(c.country);
                r_o.push_back(c.order_id);
            }
            if (c.added) {
                a_c.push_back(c.customer_id);
                a_n.push_back(c.country);
                a_o.push_back(c.order_id);
                a_at.push_back(c.paid_at_unix_ms);
            }
        }
        if (!r_c.empty())
            tx.exec("DELETE FROM " + stamp_orders + " s USING unnest($1::text[], $2::text[], $3::text[]) AS x(c, n, o)"
                    " WHERE s.customer_id = x.c AND s.country = x.n AND s.order_id = x.o",
                    {sql::text_array(r_c), sql::text_array(r_n), sql::text_array(r_o)});
        if (!a_c.empty())
            tx.exec("INSERT INTO " + stamp_orders + " (customer_id, country, order_id, paid_at_unix_ms)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])",
                    {sql::text_array(a_c), sql::text_array(a_n), sql::text_array(a_o), sql::int_array(a_at)});
    }

    // Each stamp's products, by the purchases (lines) supporting them; none left, gone.
    static void move_stamp_products(sql::Tx& tx, const std::string& stamp_products,
                                    const std::vector<passport::StampChange>& changes) {
        std::map<std::tuple<std::string, std::string, std::string>, int64_t> by_product;
        for (const auto& c : changes)
            for (const auto& [sku, n] : c.products) by_product[{c.customer_id, c.country, sku}] += n;
        std::vector<std::string> p_c, p_n, p_s;
        std::vector<int64_t> p_d;
        for (const auto& [key, n] : by_product) {
            if (n == 0) continue;
            p_c.push_back(std::get<0>(key));
            p_n.push_back(std::get<1>(key));
            p_s.push_back(std::get<2>(key));
            p_d.push_back(n);
        }
        if (!p_c.empty()) {
            const std::vector<sql::Param> keys = {sql::text_array(p_c), sql::text_array(p_n), sql::text_array(p_s),
                                                  sql::int_array(p_d)};
            tx.exec("INSERT INTO " + stamp_products + " AS p (customer_id, country, sku, purchases)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                    " ON CONFLICT (customer_id, country, sku) DO UPDATE SET purchases = p.purchases + EXCLUDED.purchases",
                    keys);
            tx.exec("DELETE FROM " + stamp_products + " p USING unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                    " AS x(c, n, s, d) WHERE x.d < 0 AND p.customer_id = x.c AND p.country = x.n AND p.sku = x.s"
                    " AND p.purchases <= 0",
                    keys);
        }
    }

    // Each moved stamp's units and first purchase; a stamp with no order left is gone.
    // Returns the customers whose stamps moved.
    static std::vector<std::string> move_stamps(sql::Tx& tx, const TableMap& t,
                                                const std::vector<passport::StampChange>& changes) {
        const std::string& stamps = t.at("passport_stamps");
        const std::string& stamp_orders = t.at("passport_stamp_orders");
        struct Sum {
            int64_t units = 0;
            int64_t first_added = INT64_MAX;  // none added
            bool removed = false;
        };
        std::map<std::pair<std::string, std::string>, Sum> by_stamp;
        for (const auto& c : changes) {
            auto& sum = by_stamp[{c.customer_id, c.country}];
            sum.units += c.units;
            sum.removed = sum.removed || c.removed;
            if (c.added) sum.first_added = std::min(sum.first_added, c.paid_at_unix_ms);
        }
        std::vector<std::string> s_c, s_n, s_k, gone_c, gone_n;
        std::vector<int64_t> s_u, s_f;
        std::set<std::string> customers;
        for (const auto& [key, sum] : by_stamp) {
            customers.insert(key.first);
            s_c.push_back(key.first);
            s_n.push_back(key.second);
            s_k.push_back(std::string(passport::continent_of(key.second)));
            s_u.push_back(sum.units);
            s_f.push_back(sum.first_added);
            if (sum.removed) {
                gone_c.push_back(key.first);
                gone_n.push_back(key.second);
            }
        }
        tx.exec("INSERT INTO " + stamps + " AS s (customer_id, country, continent, first_purchase_unix_ms, units)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])"
                " ON CONFLICT (customer_id, country) DO UPDATE SET units = s.units + EXCLUDED.units,"
                " first_purchase_unix_ms = least(s.first_purchase_unix_ms, EXCLUDED.first_purchase_unix_ms)",
                {sql::text_array(s_c), sql::text_array(s_n), sql::text_array(s_k), sql::int_array(s_f),
                 sql::int_array(s_u)});
        if (!gone_c.empty()) {
            // An order stopped supporting these: the stamp's first purchase is its least
            // remaining order's, and a stamp with no order left is gone.
            const std::vector<sql::Param> keys = {sql::text_array(gone_c), sql::text_array(gone_n)};
            tx.exec("UPDATE " + stamps + " s SET first_purchase_unix_ms = m.first FROM (SELECT x.c, x.n,"
                    " (SELECT min(o.paid_at_unix_ms) FROM " + stamp_orders + " o WHERE o.customer_id = x.c AND o.country = x.n)"
                    " AS first FROM unnest($1::text[], $2::text[]) AS x(c, n)) m"
                    " WHERE s.customer_id = m.c AND s.country = m.n AND m.first IS NOT NULL",
                    keys);
            tx.exec("DELETE FROM " + stamps + " s USING unnest($1::text[], $2::text[]) AS x(c, n)"
                    " WHERE s.customer_id = x.c AND s.country = x.n AND NOT EXISTS (SELECT 1 FROM " + stamp_orders +
                    " o WHERE o.customer_id = x.c AND o.country = x.n)",
                    keys);
        }
        return {customers.begin(), customers.end()};
    }

    // Counts and badges of these customers, from their stamps (at most one per country).
    static void write_counts(sql::Tx& tx, const TableMap& t, const std::vector<std::string>& ids) {
        const std::string& stamps = t.at("passport_stamps");
        std::map<std::string, std::vector<passport::Stamp>> held;
        for (const auto& r : tx.exec("SELECT customer_id, country, continent FROM " + stamps +
                                     " WHERE customer_id = ANY($1::text[])", {sql::text_array(ids)})) {
            passport::Stamp s;
            s.country = r.str(1);
            s.continent = r.str(2);
            held[r.str(0)].push_back(std::move(s));
        }
        std::vector<std::string> c_badges;
        std::vector<int64_t> c_countries, c_continents;
        for (const auto& customer : ids) {
            const auto& list = held[customer];
            std::set<std::string> continents;
            for (const auto& s : list)
                if (!s.continent.empty()) continents.insert(s.continent);
            c_countries.push_back(static_cast<int64_t>(list.size()));
            c_continents.push_back(static_cast<int64_t>(continents.size()));
            c_badges.push_back(sql::text_array(passport::badges(list)));
        }
        tx.exec("INSERT INTO " + t.at("passport_counts") + " (customer_id, countries, continents, badges)"
                    " SELECT c, n, k, b::text[] FROM unnest($1::text[], $2::int[], $3::int[], $4::text[]) AS x(c, n, k, b)"
                    " ON CONFLICT (customer_id) DO UPDATE SET countries = EXCLUDED.countries,"
                    " continents = EXCLUDED.continents, badges = EXCLUDED.badges",
                {sql::text_array(ids), sql::int_array(c_countries), sql::int_array(c_continents),
                 sql::text_array(c_badges)});
    }
};

}  // namespace

std::unique_ptr<Projection> passport_projection() { return std::make_unique<PassportProjection>(); }

}  // namespace tally::projectors
