#include "projectors/passport_projection.h"

#include <map>
#include <set>

#include "domain/passport.h"
#include "events/passport_facts.h"
#include "events/registry.h"
#include "tally/v1/customer.pb.h"

namespace tally::projectors {
namespace {

// The orders of `ids` (by order id, or by customer id) with their lines.
std::map<std::string, passport::Order> load(sql::Tx& tx, const TableMap& t, const std::vector<std::string>& ids,
                                            bool by_customer) {
    std::map<std::string, passport::Order> out;
    if (ids.empty()) return out;
    for (const auto& r : tx.exec("SELECT order_id, customer_id, total_minor, paid_at_unix_ms, given_back_minor, voided FROM " +
                                     t.at("passport_orders") + (by_customer ? " WHERE customer_id" : " WHERE order_id") +
                                     " = ANY($1::text[])",
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
        return {"passport_orders", "passport_lines", "passport_stamps", "passport_counts", "passport_profiles"};
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
        auto orders = load(tx, t, ids, false);
        std::set<std::string> touched, customers;
        for (const auto& [order, fact] : facts) {
            auto it = orders.find(order);
            if (it == orders.end() && !std::holds_alternative<passport::Placed>(fact)) continue;  // never placed
            auto& o = orders[order];
            if (!o.customer_id.empty()) customers.insert(o.customer_id);
            o = passport::evolve(std::move(o), fact);
            customers.insert(o.customer_id);
            touched.insert(order);
        }
        write_orders(tx, t, orders, touched);
        write_stamps(tx, t, {customers.begin(), customers.end()});
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

    // Each customer's stamps and counts, recomputed from all their orders.
    static void write_stamps(sql::Tx& tx, const TableMap& t, const std::vector<std::string>& customers) {
        if (customers.empty()) return;
        std::map<std::string, std::vector<passport::Order>> by_customer;
        for (auto& [id, o] : load(tx, t, customers, true)) by_customer[o.customer_id].push_back(std::move(o));
        std::vector<std::string> s_customers, s_countries, s_continents, s_orders, s_products, c_ids, c_badges;
        std::vector<int64_t> s_first, s_units, c_countries, c_continents;
        for (const auto& customer : customers) {
            const auto stamps = passport::stamps(by_customer[customer]);
            std::set<std::string> continents;
            for (const auto& s : stamps) {
                s_customers.push_back(customer);
                s_countries.push_back(s.country);
                s_continents.push_back(s.continent);
                s_first.push_back(s.first_purchase_unix_ms);
                s_orders.push_back(sql::text_array({s.orders.begin(), s.orders.end()}));
                s_units.push_back(s.units);
                s_products.push_back(sql::text_array({s.products.begin(), s.products.end()}));
                if (!s.continent.empty()) continents.insert(s.continent);
            }
            c_ids.push_back(customer);
            c_countries.push_back(static_cast<int64_t>(stamps.size()));
            c_continents.push_back(static_cast<int64_t>(continents.size()));
            const auto badges = passport::badges(stamps);
            c_badges.push_back(sql::text_array(badges));
        }
        tx.exec("DELETE FROM " + t.at("passport_stamps") + " WHERE customer_id = ANY($1::text[])", {sql::text_array(customers)});
        if (!s_customers.empty())
            tx.exec("INSERT INTO " + t.at("passport_stamps") +
                        " (customer_id, country, continent, first_purchase_unix_ms, orders, units, products)"
                        " SELECT c, n, k, f, o::text[], u, p::text[] FROM unnest($1::text[], $2::text[], $3::text[],"
                        " $4::bigint[], $5::text[], $6::bigint[], $7::text[]) AS x(c, n, k, f, o, u, p)",
                    {sql::text_array(s_customers), sql::text_array(s_countries), sql::text_array(s_continents),
                     sql::int_array(s_first), sql::text_array(s_orders), sql::int_array(s_units),
                     sql::text_array(s_products)});
        tx.exec("INSERT INTO " + t.at("passport_counts") + " (customer_id, countries, continents, badges)"
                    " SELECT c, n, k, b::text[] FROM unnest($1::text[], $2::int[], $3::int[], $4::text[]) AS x(c, n, k, b)"
                    " ON CONFLICT (customer_id) DO UPDATE SET countries = EXCLUDED.countries,"
                    " continents = EXCLUDED.continents, badges = EXCLUDED.badges",
                {sql::text_array(c_ids), sql::int_array(c_countries), sql::int_array(c_continents),
                 sql::text_array(c_badges)});
    }
};

}  // namespace

std::unique_ptr<Projection> passport_projection() { return std::make_unique<PassportProjection>(); }

}  // namespace tally::projectors
