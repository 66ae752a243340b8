#pragma once
// Passports (DOMAIN.md, Passport): the countries of origin a customer has bought from,
// from confirmed (paid) orders. Pure: an order's purchases fold from its lifecycle facts
// (evolve), and the stamps, badges and ranking follow from the folded orders.
//
// A purchase (one order line) supports its country's stamp while its order is paid and
// not given back in full, and while the line has units not refunded. A full refund of
// every purchase behind a stamp removes it; a partial refund keeps it.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tally::passport {

// The ISO 3166-1 alpha-2 country's continent (AF, AN, AS, EU, NA, OC, SA); "" when the
// code is not one (domain/data/country_continents.tsv).
std::string_view continent_of(std::string_view country);
// The six inhabited continents (all but Antarctica).
const std::vector<std::string>& inhabited_continents();

struct Line {
    std::string sku;
    std::string country;
    int64_t units = 0;
    int64_t units_refunded = 0;
};

struct Order {
    std::string order_id;
    std::string customer_id;
    int64_t total_minor = 0;
    int64_t paid_at_unix_ms = 0;  // 0: not paid (yet)
    int64_t given_back_minor = 0; // refunds of any kind, paid cancellations, lost disputes
    bool voided = false;          // refunded in full or cancelled after payment
    std::vector<Line> lines;
};

// Facts from an order's life.
struct Placed {
    std::string order_id;
    std::string customer_id;
    int64_t total_minor = 0;
    std::vector<Line> lines;
    int64_t paid_at_unix_ms = 0;  // a zero-payment order is paid when placed
};
struct Paid {
    int64_t at_unix_ms = 0;
};
struct GivenBack {
    int64_t amount_minor = 0;
    std::vector<std::pair<std::string, int64_t>> units;  // a refund by line: sku, units
};
struct Voided {};  // the order's status says all is given back (refunded, cancelled)
struct Claimed {
    std::string customer_id;
};
using Fact = std::variant<Placed, Paid, GivenBack, Voided, Claimed>;

Order evolve(Order order, const Fact& fact);

// Whether the line of the order supports its country's stamp now.
bool supports(const Order& order, const Line& line);

struct Stamp {
    std::string country;
    std::string continent;
    int64_t first_purchase_unix_ms = 0;
    std::set<std::string> orders;
    int64_t units = 0;  // not refunded
    std::set<std::string> products;
};

// One customer's stamps, by country.
std::vector<Stamp> stamps(const std::vector<Order>& orders);

// What one order's change of state (before -> after) does to the stamps of one customer
// and country, for upkeep by deltas: the passport projector applies these instead of
// recomputing a customer's stamps from their whole history. Summed over every order's
// changes from nothing, they give exactly stamps() (tests/domain/passport_test.cpp).
struct StampChange {
    std::string customer_id;
    std::string country;
    std::string order_id;
    bool removed = false;         // the order supported the stamp before (and no longer does, or its date moved)
    bool added = false;           // the order supports the stamp after
    int64_t paid_at_unix_ms = 0;  // the order's date of purchase, when added
    int64_t units = 0;            // change in the stamp's units
    std::map<std::string, int64_t> products;  // sku -> change in the purchases (lines) supporting it
};
std::vector<StampChange> stamp_changes(const Order& before, const Order& after);

// Badges: countries_1, countries_5, countries_10, countries_25, countries_50 as the count
// reaches each; continent_{code} per inhabited continent reached; every_inhabited_continent.
std::vector<std::string> badges(const std::vector<Stamp>& stamps);

}  // namespace tally::passport
