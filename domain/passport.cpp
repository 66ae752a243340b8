#include "domain/passport.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace tally::passport {

extern const char* const kCountryContinents;  // generated from data/country_continents.tsv

namespace {

const std::unordered_map<std::string, std::string>& table() {
    static const std::unordered_map<std::string, std::string> t = [] {
        std::unordered_map<std::string, std::string> out;
        std::string_view text(kCountryContinents);
        while (!text.empty()) {
            const size_t end = text.find('\n');
            std::string_view line = text.substr(0, end);
            text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
            if (line.empty() || line.front() == '#') continue;
            const size_t tab = line.find('\t');
            if (tab == std::string_view::npos) continue;
            out.emplace(std::string(line.substr(0, tab)), std::string(line.substr(tab + 1)));
        }
        return out;
    }();
    return t;
}

}  // namespace

std::string_view continent_of(std::string_view country) {
    auto it = table().find(std::string(country));
    return it == table().end() ? std::string_view() : std::string_view(it->second);
}

const std::vector<std::string>& inhabited_continents() {
    static const std::vector<std::string> all = {"AF", "AS", "EU", "NA", "OC", "SA"};
    return all;
}

Order evolve(Order order, const Fact& fact) {
    if (const auto* p = std::get_if<Placed>(&fact)) {
        order.order_id = p->order_id;
        order.customer_id = p->customer_id;
        order.total_minor = p->total_minor;
        order.lines = p->lines;
        order.paid_at_unix_ms = p->paid_at_unix_ms;
    } else if (const auto* paid = std::get_if<Paid>(&fact)) {
        if (order.paid_at_unix_ms == 0 && !order.voided) order.paid_at_unix_ms = paid->at_unix_ms;
    } else if (const auto* g = std::get_if<GivenBack>(&fact)) {
        order.given_back_minor += g->amount_minor;
        for (const auto& [sku, units] : g->units)
            for (auto& l : order.lines)
                if (l.sku == sku) {
                    l.units_refunded = std::min(l.units, l.units_refunded + units);
                    break;
                }
    } else if (std::holds_alternative<Voided>(fact)) {
        order.voided = true;
    } else if (const auto* c = std::get_if<Claimed>(&fact)) {
        order.customer_id = c->customer_id;
    }
    return order;
}

bool supports(const Order& order, const Line& line) {
    if (order.paid_at_unix_ms == 0 || order.voided) return false;
    if (order.total_minor > 0 && order.given_back_minor >= order.total_minor) return false;
    return line.units_refunded < line.units;
}

std::vector<Stamp> stamps(const std::vector<Order>& orders) {
    std::map<std::string, Stamp> by_country;
    for (const auto& o : orders)
        for (const auto& l : o.lines) {
            if (!supports(o, l) || l.country.empty()) continue;
            Stamp& s = by_country[l.country];
            if (s.country.empty()) {
                s.country = l.country;
                s.continent = std::string(continent_of(l.country));
                s.first_purchase_unix_ms = o.paid_at_unix_ms;
            }
            s.first_purchase_unix_ms = std::min(s.first_purchase_unix_ms, o.paid_at_unix_ms);
            s.orders.insert(o.order_id);
            s.units += l.units - l.units_refunded;
            s.products.insert(l.sku);
        }
    std::vector<Stamp> out;
    for (auto& [country, s] : by_country) out.push_back(std::move(s));
    return out;
}

namespace {

struct Support {
    int64_t units = 0;
    std::map<std::string, int64_t> products;
};

// The order's supporting purchases by (customer, country).
std::map<std::pair<std::string, std::string>, Support> support_of(const Order& o) {
    std::map<std::pair<std::string, std::string>, Support> out;
    for (const auto& l : o.lines) {
        if (!supports(o, l) || l.country.empty()) continue;
        auto& s = out[{o.customer_id, l.country}];
        s.units += l.units - l.units_refunded;
        ++s.products[l.sku];
    }
    return out;
}

}  // namespace

std::vector<StampChange> stamp_changes(const Order& before, const Order& after) {
    auto was = support_of(before);
    auto now = support_of(after);
    std::vector<StampChange> out;
    auto change = [&](const std::pair<std::string, std::string>& key) -> StampChange& {
        for (auto& c : out)
            if (c.customer_id == key.first && c.country == key.second) return c;
        StampChange c;
        c.customer_id = key.first;
        c.country = key.second;
        c.order_id = after.order_id.empty() ? before.order_id : after.order_id;
        out.push_back(std::move(c));
        return out.back();
    };
    for (const auto& [key, s] : was) {
        auto& c = change(key);
        const auto it = now.find(key);
        c.removed = it == now.end() || before.paid_at_unix_ms != after.paid_at_unix_ms;
        c.units -= s.units;
        for (const auto& [sku, n] : s.products) c.products[sku] -= n;
    }
    for (const auto& [key, s] : now) {
        auto& c = change(key);
        const auto it = was.find(key);
        c.added = it == was.end() || before.paid_at_unix_ms != after.paid_at_unix_ms;
        c.paid_at_unix_ms = after.paid_at_unix_ms;
        c.units += s.units;
        for (const auto& [sku, n] : s.products) c.products[sku] += n;
    }
    std::erase_if(out, [](StampChange& c) {
        std::erase_if(c.products, [](const auto& p) { return p.second == 0; });
        return !c.removed && !c.added && c.units == 0 && c.products.empty();
    });
    return out;
}

std::vector<std::string> badges(const std::vector<Stamp>& stamps) {
    std::vector<std::string> out;
    for (size_t n : {1u, 5u, 10u, 25u, 50u})
        if (stamps.size() >= n) out.push_back("countries_" + std::to_string(n));
    std::set<std::string> reached;
    for (const auto& s : stamps) reached.insert(s.continent);
    bool all = true;
    for (const auto& c : inhabited_continents()) {
        if (reached.contains(c)) out.push_back("continent_" + c);
        else all = false;
    }
    if (all) out.push_back("every_inhabited_continent");
    return out;
}

}  // namespace tally::passport
