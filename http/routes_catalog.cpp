#include "http/api.h"

#include <algorithm>

#include "http/call.h"

#include "commands/catalog.h"
#include "domain/ids.h"
#include "http/json_input.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/customer.pb.h"

namespace tally::http {

// PUT /v1/vendors/{id}  (admin; employee with catalog.manage)
bool Api::put_vendor(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "vendor id must be 1-64 of [A-Za-z0-9._-]", "vendor_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::VendorDefinition def;
    if (!c.parse_message(def)) return true;
    if (!def.vendor_id().empty() && def.vendor_id() != parts[2])
        return c.fail(422, "invalid_value", "vendor_id in the body must match the path", "vendor_id");
    def.set_vendor_id(parts[2]);
    return c.submit(commands::define_vendor(std::move(def)), *key);
}

// PUT /v1/products/{sku}  (admin; employee with catalog.manage; the product's vendor)
bool Api::put_product(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "sku must be 1-64 of [A-Za-z0-9._-]", "sku");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::ProductDefinition def;
    if (!c.parse_message(def)) return true;
    if (!def.sku().empty() && def.sku() != parts[2])
        return c.fail(422, "invalid_value", "sku in the body must match the path", "sku");
    def.set_sku(parts[2]);
    if (def.vendor_id().empty() && c.claims.role == "vendor") def.set_vendor_id(c.claims.sub);
    return c.submit(commands::define_product(std::move(def)), *key);
}

// POST /v1/products/{sku}/stock-adjustments  (admin; employee with catalog.manage; the product's vendor)
bool Api::adjust_stock(Call& c) {
    const Request& req = c.req;
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "sku must be 1-64 of [A-Za-z0-9._-]", "sku");
    auto key = c.idempotency_key();
    if (!key) return true;
    ObjectReader in(req.body);
    auto delta = in.int64("delta");
    auto reason = in.string("reason", 1, 500);
    if (auto err = in.finish()) return c.fail(err->status, err->code, err->detail, err->field);
    return c.submit(commands::adjust_stock(parts[2], *delta, *reason), *key);
}

// PUT /v1/catalog/settings  (admin; employee with catalog.manage)
bool Api::put_catalog_settings(Call& c) {
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::CatalogSettings settings;
    if (!c.parse_message(settings)) return true;
    return c.submit(commands::define_settings(std::move(settings)), *key);
}

// PUT /v1/coupons/{code}  (admin; employee with catalog.manage; a vendor, for a coupon it funds)
bool Api::put_coupon(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "coupon code must be 1-64 of [A-Za-z0-9._-]", "code");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::CouponDefinition def;
    if (!c.parse_message(def)) return true;
    if (!def.code().empty() && def.code() != parts[2])
        return c.fail(422, "invalid_value", "code in the body must match the path", "code");
    def.set_code(parts[2]);
    if (c.claims.role == "vendor") {  // a vendor's coupon is funded by that vendor
        if (!def.funded_by_vendor().empty() && def.funded_by_vendor() != c.claims.sub)
            return c.fail(403, "forbidden", "vendors fund their own coupons only", "funded_by_vendor");
        def.set_funded_by_vendor(c.claims.sub);
    }
    if (!def.funded_by_vendor().empty() && !valid_id(def.funded_by_vendor()))
        return c.fail(422, "invalid_value", "funded_by_vendor must be a vendor id", "funded_by_vendor");
    return c.submit(commands::define_coupon(std::move(def)), *key);
}

// PUT | DELETE /v1/vendors/{vendor}/wholesale-customers/{customer}  (the vendor; admin; employee
// with catalog.manage): wholesale pricing on the vendor's own products for one customer.
bool Api::set_wholesale(Call& c) {
    const Request& req = c.req;
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "vendor id must be 1-64 of [A-Za-z0-9._-]", "vendor_id");
    if (!valid_id(parts[4])) return c.fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
    if (c.claims.role == "vendor" && c.claims.sub != parts[2])
        return c.fail(403, "forbidden", "vendors grant wholesale on their own products only", "vendor_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    if (!req.body.empty() && req.body != "{}")
        return c.fail(400, "unknown_field", "this request takes no body (or {})");
    return c.submit(commands::grant_wholesale(parts[2], parts[4], req.method == "PUT"), *key);
}

// PUT /v1/customers/{id}/profile  (admin; employee with customers.manage; the customer,
// for the leaderboard name and opt-in)
bool Api::put_customer_profile(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::CustomerProfile profile;
    if (!c.parse_message(profile)) return true;
    if (!profile.customer_id().empty() && profile.customer_id() != parts[2])
        return c.fail(422, "invalid_value", "customer_id in the body must match the path", "customer_id");
    if (profile.wholesale_vendors_size() > 0)
        return c.fail(422, "invalid_value", "vendors grant wholesale themselves (PUT /v1/vendors/{id}/wholesale-customers/{customer})",
                      "wholesale_vendors");
    if (profile.has_referred_by() || profile.has_latest_referral())
        return c.fail(422, "invalid_value", "referral attribution is set by referral visits (POST /v1/referrals/visits)",
                      profile.has_referred_by() ? "referred_by" : "latest_referral");
    if (profile.has_display_name()) {
        const auto& name = profile.display_name();
        const bool printable = std::none_of(name.begin(), name.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
        if (name.size() > 64 || !printable)
            return c.fail(422, "invalid_value", "display_name is at most 64 bytes, without control characters", "display_name");
    }
    profile.set_customer_id(parts[2]);
    return c.submit(commands::set_customer_profile(std::move(profile)), *key);
}

}  // namespace tally::http
