// Catalog reads for storefronts (README, Storefront integration): products, vendors and
// (staff) coupons, from the catalog projection (projectors/catalog_projection.h), in keyset
// pages. Prices here are list prices; a quote (POST /v1/quote) is the only price anyone pays.
#include "http/api.h"

#include <algorithm>
#include <cctype>

#include "domain/ids.h"
#include "http/call.h"
#include "tally/v1/catalog.pb.h"

using nlohmann::json;

namespace tally::http {
namespace {

json breaks_json(const google::protobuf::RepeatedPtrField<v1::QuantityBreak>& breaks) {
    json out = json::array();
    for (const auto& b : breaks) out.push_back({{"min_quantity", b.min_quantity()}, {"unit_minor", b.unit_minor()}});
    return out;
}

// A product as a storefront sees it: list prices (base, quantity breaks, the matrix and
// variant prices), never the wholesale price or commissions; units available from stock.
json product_json(const v1::ProductDefinition& p, const std::string& currency, int64_t available) {
    json matrix = json::array();
    for (const auto& m : p.matrix())
        matrix.push_back({{"material", m.material()}, {"finish", m.finish()}, {"turnaround", m.turnaround()},
                          {"breaks", breaks_json(m.breaks())}});
    json variants = json::array();
    for (const auto& v : p.variant_overrides()) variants.push_back({{"variant_id", v.variant_id()}, {"unit_minor", v.unit_minor()}});
    return {{"sku", p.sku()},
            {"vendor_id", p.vendor_id()},
            {"country_of_origin", p.country_of_origin()},
            {"currency", currency.empty() ? json(nullptr) : json(currency)},
            {"list_price", {{"base_minor", p.base_minor()}, {"bulk_tiers", breaks_json(p.bulk_tiers())}}},
            {"matrix", matrix},
            {"variants", variants},
            {"availability", {{"available", available}, {"in_stock", available > 0}}}};
}

json vendor_json(const v1::VendorDefinition& v) {
    json per_country = json::object();
    for (const auto& [country, minor] : v.shipping().per_country_minor()) per_country[country] = minor;
    json shipping = {{"flat_minor", v.shipping().flat_minor()}, {"per_country_minor", per_country}};
    shipping["free_over_minor"] = v.shipping().has_free_over_minor() ? json(v.shipping().free_over_minor()) : json(nullptr);
    return {{"vendor_id", v.vendor_id()},
            {"currency", v.currency()},
            {"shipping", shipping},
            {"ships_to", json(std::vector<std::string>(v.ships_to().begin(), v.ships_to().end()))}};
}

json coupon_json(const v1::CouponDefinition& c, int64_t uses_total) {
    return {{"code", c.code()},
            {"kind", c.kind() == v1::PERCENT ? "percent" : c.kind() == v1::FIXED ? "fixed" : "unspecified"},
            {"percent_bps", c.percent_bps()},
            {"fixed_minor", c.fixed_minor()},
            {"scope", c.scope() == v1::SITE ? "site" : c.scope() == v1::VENDOR ? "vendor" : c.scope() == v1::PRODUCT ? "product" : "unspecified"},
            {"scope_id", c.scope_id()},
            {"min_spend_minor", c.min_spend_minor()},
            {"valid_from_unix_ms", c.valid_from_unix_ms()},
            {"valid_until_unix_ms", c.has_valid_until_unix_ms() ? json(c.valid_until_unix_ms()) : json(nullptr)},
            {"uses_max_total", c.uses_max_total()},
            {"uses_max_per_customer", c.uses_max_per_customer()},
            {"uses_total", uses_total},
            {"exclusive", c.exclusive()},
            {"priority", c.priority()},
            {"affiliate_id", c.affiliate_id()},
            {"funded_by_vendor", c.funded_by_vendor()}};
}

// Unknown query parameters are refused, like unknown body fields: a misspelt filter
// must not silently list everything.
bool only_known(const Call& c, std::initializer_list<std::string_view> known) {
    for (const auto& [name, value] : c.query)
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            c.fail(400, "invalid_query", "unknown query parameter " + name, name);
            return false;
        }
    return true;
}

constexpr const char* kProductColumns =
    "SELECT p.sku, p.definition, coalesce(v.definition, ''::bytea), coalesce(s.available, 0) FROM catalog_products p"
    " LEFT JOIN catalog_vendors v ON v.vendor_id = p.vendor_id LEFT JOIN catalog_stock s ON s.sku = p.sku";

json product_row(const sql::Row& row) {
    v1::ProductDefinition p;
    v1::VendorDefinition v;
    p.ParseFromString(row.bytes(1));
    v.ParseFromString(row.bytes(2));
    return product_json(p, v.currency(), row.i64(3));
}

}  // namespace

// GET /v1/products?vendor_id=&country_of_origin=&limit=&cursor=  (any principal)
bool Api::list_products(Call& c) {
    if (!only_known(c, {"vendor_id", "country_of_origin", "limit", "cursor"})) return true;
    auto page = c.id_page();
    if (!page) return true;
    std::string where = " WHERE p.sku > $1";
    std::vector<std::optional<std::string>> args{page->after, std::to_string(page->limit + 1)};
    if (auto v = c.query.find("vendor_id"); v != c.query.end()) {
        if (!valid_id(v->second)) return c.fail(400, "invalid_query", "vendor_id must be 1-64 of [A-Za-z0-9._-]", "vendor_id");
        args.push_back(v->second);
        where += " AND p.vendor_id = $" + std::to_string(args.size());
    }
    if (auto o = c.query.find("country_of_origin"); o != c.query.end()) {
        const auto& cc = o->second;
        if (cc.size() != 2 || !std::isupper(static_cast<unsigned char>(cc[0])) || !std::isupper(static_cast<unsigned char>(cc[1])))
            return c.fail(400, "invalid_query", "country_of_origin is an ISO 3166-1 alpha-2 code (two capital letters)",
                          "country_of_origin");
        args.push_back(cc);
        where += " AND p.country_of_origin = $" + std::to_string(args.size());
    }
    json body;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        body = keyset_page("products", tx.exec(std::string(kProductColumns) + where + " ORDER BY p.sku LIMIT $2", args),
                           page->limit, product_row);
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/products/{sku}  (any principal): with ETag / If-None-Match.
bool Api::get_product(Call& c) {
    const std::string& sku = c.parts[2];
    if (!valid_id(sku)) return c.fail(400, "invalid_path", "sku must be 1-64 of [A-Za-z0-9._-]", "sku");
    if (!only_known(c, {})) return true;
    json product;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec(std::string(kProductColumns) + " WHERE p.sku = $1", {sku});
        if (!rows.empty()) product = product_row(rows[0]);
    });
    if (!r) return c.storage_unavailable(r.error());
    if (product.is_null()) return c.fail(404, "not_found", "no product " + sku);
    return c.reply_revalidated(json_response(200, product));
}

// GET /v1/vendors?limit=&cursor=  (any principal)
bool Api::list_vendors(Call& c) {
    if (!only_known(c, {"limit", "cursor"})) return true;
    auto page = c.id_page();
    if (!page) return true;
    json body;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT vendor_id, definition FROM catalog_vendors WHERE vendor_id > $1 ORDER BY vendor_id LIMIT $2",
                            {page->after, std::to_string(page->limit + 1)});
        body = keyset_page("vendors", rows, page->limit, [](const sql::Row& row) {
            v1::VendorDefinition v;
            v.ParseFromString(row.bytes(1));
            return vendor_json(v);
        });
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/vendors/{vendor}  (any principal)
bool Api::get_vendor(Call& c) {
    const std::string& id = c.parts[2];
    if (!valid_id(id)) return c.fail(400, "invalid_path", "vendor id must be 1-64 of [A-Za-z0-9._-]", "vendor_id");
    if (!only_known(c, {})) return true;
    json vendor;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT definition FROM catalog_vendors WHERE vendor_id = $1", {id});
        if (rows.empty()) return;
        v1::VendorDefinition v;
        v.ParseFromString(rows[0].bytes(0));
        vendor = vendor_json(v);
    });
    if (!r) return c.storage_unavailable(r.error());
    if (vendor.is_null()) return c.fail(404, "not_found", "no vendor " + id);
    return c.reply_json(200, vendor);
}

// GET /v1/coupons?limit=&cursor=  (staff)
bool Api::list_coupons(Call& c) {
    if (!only_known(c, {"limit", "cursor"})) return true;
    auto page = c.id_page();
    if (!page) return true;
    json body;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT code, definition, uses_total FROM catalog_coupons WHERE code > $1 ORDER BY code LIMIT $2",
                            {page->after, std::to_string(page->limit + 1)});
        body = keyset_page("coupons", rows, page->limit, [](const sql::Row& row) {
            v1::CouponDefinition d;
            d.ParseFromString(row.bytes(1));
            return coupon_json(d, row.i64(2));
        });
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

}  // namespace tally::http
