// Fuzz target: the pricing engine (domain/pricing.h), fed marketplaces and carts decoded
// from the fuzz bytes. Vendors, products, coupons and the site's settings go through the
// same decide() the catalog commands use, so only what the server would accept is
// priced (and decide() itself is fuzzed on the way). Properties, on every input that
// prices (tests/domain/pricing_invariants.h): splits sum to their totals, nothing is
// negative, credit never exceeds the balance or the total; pricing is deterministic;
// the order placed from it posts a balanced set whose sub-orders add up to the order.

#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

#include "domain/catalog.h"
#include "domain/ledger.h"
#include "domain/order.h"
#include "domain/pricing.h"
#include "tests/domain/pricing_invariants.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace tally;

constexpr int64_t kNow = 1'800'000'000'000;

// Mostly ordinary amounts; now and then an extreme one (negative, at or past a limit).
int64_t amount(FuzzedDataProvider& in, int64_t usual_max) {
    switch (in.ConsumeIntegralInRange<int>(0, 15)) {
        case 0: return in.ConsumeIntegral<int64_t>();
        case 1: return pricing::kUnitPriceMax + in.ConsumeIntegralInRange<int64_t>(-1, 1);
        case 2: return -in.ConsumeIntegralInRange<int64_t>(1, 1000);
        default: return in.ConsumeIntegralInRange<int64_t>(0, usual_max);
    }
}

uint32_t bps(FuzzedDataProvider& in) {
    return in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<uint32_t>()
                                                      : in.ConsumeIntegralInRange<uint32_t>(0, pricing::kBpsMax);
}

int64_t quantity(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange<int>(0, 15)) {
        case 0: return in.ConsumeIntegral<int64_t>();
        case 1: return pricing::kQuantityMax + in.ConsumeIntegralInRange<int64_t>(-1, 1);
        default: return in.ConsumeIntegralInRange<int64_t>(1, 200);
    }
}

template <size_t N>
std::string pick(FuzzedDataProvider& in, const char* const (&from)[N]) {
    return from[in.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

constexpr const char* kVendors[] = {"v0", "v1", "v2"};
constexpr const char* kSkus[] = {"p0", "p1", "p2", "p3", "p4", "unknown"};
constexpr const char* kCountries[] = {"US", "CA", "DK", "JP"};
constexpr const char* kMaterials[] = {"", "coated", "matte"};
constexpr const char* kVariants[] = {"", "red", "blue"};
constexpr const char* kCodes[] = {"C0", "C1", "C2", "C3", "NONE"};

void add_breaks(FuzzedDataProvider& in, google::protobuf::RepeatedPtrField<v1::QuantityBreak>* breaks) {
    for (int i = in.ConsumeIntegralInRange<int>(0, 3); i > 0; --i) {
        auto* b = breaks->Add();
        b->set_min_quantity(quantity(in));
        b->set_unit_minor(amount(in, 100000));
    }
}

struct World {
    pricing::Catalog catalog;
    pricing::Customer customer;
    pricing::Cart cart;
};

World decode(FuzzedDataProvider& in) {
    const Currency usd = *Currency::parse("USD");
    World w{{}, {}, {usd, {}, {}, "US", true}};
    std::map<std::string, v1::VendorDefinition> vendors;
    for (const char* id : kVendors) {
        if (!in.ConsumeBool()) continue;
        v1::VendorDefinition v;
        v.set_vendor_id(id);
        v.set_currency(in.ConsumeIntegralInRange<int>(0, 7) == 0 ? "EUR" : "USD");
        if (in.ConsumeBool()) v.set_commission_bps(bps(in));
        v.mutable_shipping()->set_flat_minor(amount(in, 3000));
        if (in.ConsumeBool()) (*v.mutable_shipping()->mutable_per_country_minor())[pick(in, kCountries)] = amount(in, 5000);
        if (in.ConsumeBool()) v.mutable_shipping()->set_free_over_minor(amount(in, 50000));
        if (in.ConsumeIntegralInRange<int>(0, 3) == 0) v.add_ships_to(pick(in, kCountries));
        v.set_payout_account("acct_" + std::string(id));
        if (catalog::decide({}, v)) {
            vendors[id] = v;
            w.catalog.vendors.insert_or_assign(id, catalog::to_pricing(v));
        }
    }
    for (int p = 0; p < 5; ++p) {
        if (!in.ConsumeBool()) continue;
        v1::ProductDefinition d;
        d.set_sku("p" + std::to_string(p));
        d.set_vendor_id(pick(in, kVendors));
        d.set_country_of_origin("DK");
        d.set_base_minor(amount(in, 100000));
        add_breaks(in, d.mutable_bulk_tiers());
        if (in.ConsumeBool()) d.set_wholesale_minor(amount(in, 100000));
        for (int m = in.ConsumeIntegralInRange<int>(0, 2); m > 0; --m) {
            auto* cell = d.add_matrix();
            cell->set_material(pick(in, kMaterials));
            add_breaks(in, cell->mutable_breaks());
        }
        for (int v = in.ConsumeIntegralInRange<int>(0, 2); v > 0; --v) {
            auto* o = d.add_variant_overrides();
            o->set_variant_id(pick(in, kVariants));
            o->set_unit_minor(amount(in, 100000));
        }
        if (in.ConsumeBool()) d.set_commission_bps(bps(in));
        auto vendor = vendors.find(d.vendor_id());
        catalog::VendorState vs{vendor == vendors.end() ? std::nullopt : std::optional(vendor->second)};
        if (catalog::decide({}, d, vs)) w.catalog.products[d.sku()] = catalog::to_pricing(d);
    }
    for (int c = 0; c < 4; ++c) {
        if (!in.ConsumeBool()) continue;
        v1::CouponDefinition d;
        d.set_code("C" + std::to_string(c));
        d.set_kind(in.ConsumeBool() ? v1::PERCENT : v1::FIXED);
        d.set_percent_bps(bps(in));
        d.set_fixed_minor(amount(in, 50000));
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
            case 0: d.set_scope(v1::SITE); break;
            case 1: d.set_scope(v1::VENDOR); d.set_scope_id(pick(in, kVendors)); break;
            default: d.set_scope(v1::PRODUCT); d.set_scope_id(pick(in, kSkus)); break;
        }
        d.set_min_spend_minor(amount(in, 20000));
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) d.set_valid_from_unix_ms(kNow + 1);
        if (in.ConsumeIntegralInRange<int>(0, 7) == 0) d.set_valid_until_unix_ms(kNow);
        d.set_uses_max_total(in.ConsumeIntegralInRange<int64_t>(0, 3));
        d.set_uses_max_per_customer(in.ConsumeIntegralInRange<int64_t>(0, 2));
        d.set_exclusive(in.ConsumeIntegralInRange<int>(0, 3) == 0);
        d.set_priority(in.ConsumeIntegralInRange<int32_t>(-2, 2));
        if (in.ConsumeIntegralInRange<int>(0, 2) == 0) {
            d.set_funded_by_vendor(pick(in, kVendors));
            if (in.ConsumeBool()) {
                d.set_scope(v1::VENDOR);
                d.set_scope_id(d.funded_by_vendor());
            }
        }
        if (catalog::decide(d)) {
            w.catalog.coupons[d.code()] = catalog::to_pricing(d);
            w.catalog.coupon_uses_total[d.code()] = in.ConsumeIntegralInRange<int64_t>(0, 3);
        }
    }
    v1::CatalogSettings s;
    s.set_site_commission_bps(bps(in));
    s.mutable_service_fee()->set_percent_bps(in.ConsumeIntegralInRange<int>(0, 3) == 0 ? bps(in) : 0);
    s.mutable_service_fee()->set_fixed_minor(in.ConsumeBool() ? amount(in, 500) : 0);
    if (in.ConsumeBool()) {
        auto* b = s.add_bundles();
        b->set_bundle_id("b");
        for (int k = in.ConsumeIntegralInRange<int>(0, 3); k > 0; --k) b->add_skus(pick(in, kSkus));
        b->set_percent_bps(bps(in));
    }
    if (in.ConsumeIntegralInRange<int>(0, 3) == 0) s.add_ships_to(pick(in, kCountries));
    if (catalog::decide(s)) catalog::apply_settings(s, w.catalog);

    w.customer.id = "c";
    w.customer.wholesale_eligible = in.ConsumeBool();
    w.customer.loyalty_discount_bps = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<uint32_t>(0, pricing::kBpsMax);
    w.customer.credit_available_minor = in.ConsumeBool() ? 0 : amount(in, 2'000'000);
    if (w.customer.credit_available_minor < 0) w.customer.credit_available_minor = 0;  // a balance is never negative
    if (in.ConsumeBool()) w.customer.coupon_uses[pick(in, kCodes)] = in.ConsumeIntegralInRange<int64_t>(0, 2);
    if (in.ConsumeBool()) w.customer.wholesale_vendors.insert(pick(in, kVendors));

    for (int l = in.ConsumeIntegralInRange<int>(0, 8); l > 0; --l) {
        pricing::CartLine line{pick(in, kSkus), quantity(in), {}, pick(in, kVariants)};
        line.options.material = pick(in, kMaterials);
        w.cart.lines.push_back(line);
    }
    for (int c = in.ConsumeIntegralInRange<int>(0, 3); c > 0; --c) w.cart.coupon_codes.push_back(pick(in, kCodes));
    w.cart.ship_to_country = pick(in, kCountries);
    w.cart.apply_credit = in.ConsumeBool();
    return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider in(data, size);
    const World w = decode(in);
    auto r = pricing::price(w.cart, w.catalog, w.customer, kNow);
    auto again = pricing::price(w.cart, w.catalog, w.customer, kNow);
    TALLY_FUZZ_CHECK(r.has_value() == again.has_value());
    if (!r) {
        TALLY_FUZZ_CHECK(r.error().code == again.error().code && r.error().subject == again.error().subject);
        return 0;
    }
    TALLY_FUZZ_CHECK(r->total_minor == again->total_minor && r->amount_due_minor == again->amount_due_minor);
    if (auto broken = pricing::breakdown_violation(*r, w.catalog, w.customer)) {
        std::fprintf(stderr, "pricing property broken: %s\n", broken->c_str());
        std::abort();
    }
    const auto placed = order::place("ord-1", "c", w.cart, w.catalog, *r, "key");
    if (r->total_minor + r->promotions_minor > 0) TALLY_FUZZ_CHECK(ledger::check_balanced(placed.postings()).has_value());
    int64_t sub_total = 0;
    for (const auto& so : placed.sub_orders()) sub_total += so.goods_net_minor() + so.shipping_minor();
    TALLY_FUZZ_CHECK(sub_total + r->service_fee_minor == r->total_minor);
    return 0;
}
