#include "domain/catalog.h"

#include <gtest/gtest.h>

namespace tally::catalog {
namespace {

v1::VendorDefinition print_vendor() {
    v1::VendorDefinition v;
    v.set_vendor_id("print");
    v.set_currency("USD");
    v.set_commission_bps(1200);
    v.mutable_shipping()->set_flat_minor(500);
    (*v.mutable_shipping()->mutable_per_country_minor())["CA"] = 900;
    v.mutable_shipping()->set_free_over_minor(10000);
    return v;
}

v1::ProductDefinition cards() {
    v1::ProductDefinition p;
    p.set_sku("cards");
    p.set_vendor_id("print");
    p.set_country_of_origin("DE");
    p.set_base_minor(20);
    auto* cell = p.add_matrix();
    cell->set_material("coated");
    cell->set_finish("gloss");
    cell->set_turnaround("rush");
    auto* b1 = cell->add_breaks();
    b1->set_min_quantity(250);
    b1->set_unit_minor(19);
    auto* b2 = cell->add_breaks();
    b2->set_min_quantity(500);
    b2->set_unit_minor(16);
    return p;
}

VendorState defined(const v1::VendorDefinition& v) { return VendorState{v}; }

}  // namespace

TEST(Catalog, ValidDefinitionsAreRecordedWhole) {
    auto v = decide(VendorState{}, print_vendor());
    ASSERT_TRUE(v);
    EXPECT_EQ(v->vendor().shipping().per_country_minor().at("CA"), 900);
    auto p = decide(ProductState{}, cards(), defined(print_vendor()));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->product().matrix_size(), 1);
}

TEST(Catalog, VendorRejectionsInPrecedenceOrder) {
    auto v = print_vendor();
    v.set_vendor_id("bad id");
    v.set_currency("ZZZ");
    EXPECT_EQ(decide(VendorState{}, v).error(), CatalogRejection::id_invalid);
    v.set_vendor_id("print");
    EXPECT_EQ(decide(VendorState{}, v).error(), CatalogRejection::currency_unknown);
    v.set_currency("USD");
    (*v.mutable_shipping()->mutable_per_country_minor())["canada"] = 1;
    EXPECT_EQ(decide(VendorState{}, v).error(), CatalogRejection::country_invalid);
    v = print_vendor();
    v.mutable_shipping()->set_flat_minor(-1);
    EXPECT_EQ(decide(VendorState{}, v).error(), CatalogRejection::amount_out_of_range);
    v = print_vendor();
    v.set_commission_bps(10001);
    EXPECT_EQ(decide(VendorState{}, v).error(), CatalogRejection::commission_out_of_range);
    v = print_vendor();
    v.set_currency("EUR");
    EXPECT_EQ(decide(defined(print_vendor()), v).error(), CatalogRejection::currency_must_not_change);
}

TEST(Catalog, ProductRejectionsInPrecedenceOrder) {
    const auto vendor = defined(print_vendor());
    auto p = cards();
    p.set_country_of_origin("Germany");
    EXPECT_EQ(decide(ProductState{}, p, vendor).error(), CatalogRejection::country_invalid);
    p = cards();
    p.set_base_minor(-5);
    EXPECT_EQ(decide(ProductState{}, p, vendor).error(), CatalogRejection::amount_out_of_range);
    p = cards();
    p.mutable_matrix(0)->mutable_breaks(0)->set_min_quantity(0);
    EXPECT_EQ(decide(ProductState{}, p, vendor).error(), CatalogRejection::quantity_break_invalid);
    p = cards();
    EXPECT_EQ(decide(ProductState{}, p, VendorState{}).error(), CatalogRejection::vendor_unknown);
    auto other = print_vendor();
    other.set_vendor_id("other");
    p.set_vendor_id("other");
    EXPECT_EQ(decide(ProductState{cards()}, p, defined(other)).error(), CatalogRejection::vendor_must_not_change);
}

TEST(Catalog, DefinitionsMapOntoThePricingEngine) {
    pricing::Catalog c;
    auto vendor = to_pricing(print_vendor());
    EXPECT_EQ(vendor.commission_bps, 1200u);
    EXPECT_EQ(vendor.shipping.free_over_minor, 10000);
    c.vendors.insert_or_assign("print", vendor);
    c.products["cards"] = to_pricing(cards());
    pricing::Cart cart{*Currency::parse("USD"), {{"cards", 500, {"coated", "gloss", "rush"}, ""}}, {}, "CA", false};
    auto b = pricing::price(cart, c, {}, 0);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->lines[0].unit_minor, 16);
    EXPECT_EQ(b->lines[0].commission_bps, 1200u);
    EXPECT_EQ(b->vendors[0].shipping_minor, 900);
}

}  // namespace tally::catalog
