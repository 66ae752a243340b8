#include "http/routes.h"

#include <algorithm>

#include "domain/principal.h"
#include "http/api.h"
#include "infra/strings.h"

namespace tally::http {

const std::vector<std::string_view>& token_roles() { return principal::roles(); }

// Who may call what. Keep each route's line in step with what its handler and its
// command check afterwards on fresh state (ownership, the principal behind the token).
const std::vector<Route>& Api::routes() {
    using R = std::vector<std::string_view>;
    const R staff_readers{"admin", "auditor"};
    static const std::vector<Route> table{
        // Operational, no token.
        {"GET", "/healthz", Gate::open, {}, {}, &Api::healthz},
        {"GET", "/readyz", Gate::open, {}, {}, &Api::readyz},
        {"GET", "/metrics", Gate::open, {}, {}, &Api::metrics_text},
        {"GET", "/v1/audit/keys", Gate::open, {}, {}, &Api::audit_keys},
        // The operator console's static files; the page calls the API with a pasted token.
        {"GET", "/console", Gate::open, {}, {}, &Api::console},
        {"GET", "/console/{file}", Gate::open, {}, {}, &Api::console},
        // The providers sign their messages.
        {"POST", "/v1/webhooks/stripe", Gate::signature, {}, {}, &Api::stripe_webhook},
        {"POST", "/v1/webhooks/paypal", Gate::signature, {}, {}, &Api::paypal_webhook},
        // Anyone; a token is optional.
        {"POST", "/v1/referrals/visits", Gate::optional_token, token_roles(), {}, &Api::referral_visit},

        // Catalog.
        {"PUT", "/v1/vendors/{vendor}", Gate::token, {"admin"}, {"catalog.manage", "finance.manage"}, &Api::put_vendor},
        {"PUT", "/v1/products/{sku}", Gate::token, {"admin", "vendor"}, {"catalog.manage", "finance.manage"},
         &Api::put_product},
        {"POST", "/v1/products/{sku}/stock-adjustments", Gate::token, {"admin", "vendor"}, {"catalog.manage"},
         &Api::adjust_stock},
        {"PUT", "/v1/catalog/settings", Gate::token, {"admin"}, {"catalog.manage", "finance.manage"},
         &Api::put_catalog_settings},
        {"PUT", "/v1/coupons/{code}", Gate::token, {"admin", "vendor"}, {"catalog.manage"}, &Api::put_coupon},
        // Catalog reads for storefronts: any principal; coupons for staff.
        {"GET", "/v1/products", Gate::token, token_roles(), {}, &Api::list_products},
        {"GET", "/v1/products/{sku}", Gate::token, token_roles(), {}, &Api::get_product},
        {"GET", "/v1/vendors", Gate::token, token_roles(), {}, &Api::list_vendors},
        {"GET", "/v1/vendors/{vendor}", Gate::token, token_roles(), {}, &Api::get_vendor},
        {"GET", "/v1/coupons", Gate::token, staff_readers, {"catalog.view"}, &Api::list_coupons},
        {"PUT", "/v1/vendors/{vendor}/wholesale-customers/{customer}", Gate::token, {"admin", "vendor"},
         {"catalog.manage"}, &Api::set_wholesale},
        {"DELETE", "/v1/vendors/{vendor}/wholesale-customers/{customer}", Gate::token, {"admin", "vendor"},
         {"catalog.manage"}, &Api::set_wholesale},
        {"PUT", "/v1/customers/{customer}/profile", Gate::token, {"admin", "customer"}, {"customers.manage"},
         &Api::put_customer_profile},

        // Store credit.
        {"POST", "/v1/customers/{customer}/credit-grants", Gate::token, {"admin"}, {}, &Api::grant_credit},
        {"GET", "/v1/customers/{customer}/credit", Gate::token, {"admin", "auditor", "customer"}, {"credit.view"},
         &Api::get_credit},
        {"POST", "/v1/customers/{customer}/credit-reversals", Gate::token, {"admin"}, {"finance.manage"},
         &Api::reverse_credit},
        {"PUT", "/v1/credit/policy", Gate::token, {"admin"}, {"finance.manage"}, &Api::put_credit_policy},
        {"GET", "/v1/credit/policy", Gate::token, staff_readers, {"finance.view", "credit.view"}, &Api::get_credit_policy},

        // Quotes, checkout, orders.
        {"POST", "/v1/quote", Gate::token, {"admin", "customer", "affiliate", "storefront"},
         {"catalog.view", "orders.view", "credit.view", "customers.view"}, &Api::post_quote},
        {"POST", "/v1/checkout", Gate::token, {"customer", "affiliate", "storefront"}, {}, &Api::post_checkout},
        {"POST", "/v1/customers/{customer}/claims", Gate::token, {"admin"}, {}, &Api::claim_guest_orders},
        {"GET", "/v1/customers/{customer}/orders", Gate::token, {"admin", "auditor", "customer"}, {"orders.view"},
         &Api::list_orders},
        {"GET", "/v1/vendors/{vendor}/orders", Gate::token, {"admin", "auditor", "vendor"}, {"orders.view"},
         &Api::list_orders},
        {"GET", "/v1/orders", Gate::token, staff_readers, {"orders.view"}, &Api::list_orders},
        {"GET", "/v1/orders/{order}", Gate::token, {"admin", "auditor", "customer", "vendor", "storefront"},
         {"orders.view"}, &Api::get_order},
        {"POST", "/v1/orders/{order}/fulfilment", Gate::token, {"admin", "vendor"}, {"orders.manage"},
         &Api::order_change},
        {"POST", "/v1/orders/{order}/cancel", Gate::token, {"admin", "customer"}, {"orders.manage"},
         &Api::order_change},
        {"POST", "/v1/orders/{order}/refunds", Gate::token, {"admin", "vendor"}, {"orders.manage"},
         &Api::order_change},
        {"POST", "/v1/orders/{order}/payouts", Gate::token, {"admin"}, {"payouts.manage"}, &Api::order_change},

        // Operators and auditors.
        {"GET", "/v1/operator/dead-letters", Gate::token, staff_readers, {"operator.view"}, &Api::list_dead_letters},
        {"POST", "/v1/operator/dead-letters/{id}/retry", Gate::token, {"admin"}, {}, &Api::retry_dead_letter},
        {"GET", "/v1/operator/flagged-signals", Gate::token, staff_readers, {"operator.view"}, &Api::flagged_signals},
        {"GET", "/v1/operator/external-refunds", Gate::token, staff_readers, {"operator.view"}, &Api::external_refunds},
        {"GET", "/v1/operator/acts", Gate::token, staff_readers, {"operator.view"}, &Api::operator_acts},
        {"GET", "/v1/streams/{stream}/events", Gate::token, staff_readers, {}, &Api::stream_events},
        {"GET", "/v1/reconcile/last", Gate::token, staff_readers, {"operator.view"}, &Api::reconcile_last},
        {"GET", "/v1/ledger/accounts", Gate::token, staff_readers, {"finance.view"}, &Api::ledger_accounts},
        {"GET", "/v1/projections", Gate::token, staff_readers, {"operator.view"}, &Api::list_projections},
        {"POST", "/v1/projections/{name}/rebuild", Gate::token, {"admin"}, {}, &Api::rebuild_projection},

        // Principals.
        {"PUT", "/v1/principals/{principal}", Gate::token, {"admin"}, {"staff.manage"}, &Api::put_principal},
        {"GET", "/v1/principals", Gate::token, staff_readers, {"staff.view"}, &Api::list_principals},
        {"GET", "/v1/principals/{principal}", Gate::token, staff_readers, {"staff.view"}, &Api::get_principal},
        {"POST", "/v1/principals/{principal}/revoke", Gate::token, {"admin"}, {"staff.manage"},
         &Api::revoke_principal},
        {"GET", "/v1/permission-presets", Gate::token, staff_readers, {"staff.view"}, &Api::permission_presets},

        // Loyalty and passports.
        {"PUT", "/v1/loyalty/program", Gate::token, {"admin"}, {"finance.manage"}, &Api::put_loyalty_program},
        {"GET", "/v1/loyalty/program", Gate::token, {"admin", "auditor", "customer"},
         {"loyalty.view", "customers.view", "catalog.view", "orders.view"}, &Api::get_loyalty_program},
        {"GET", "/v1/customers/{customer}/loyalty", Gate::token, {"admin", "auditor", "customer"}, {"customers.view"},
         &Api::customer_loyalty},
        {"GET", "/v1/loyalty/customers", Gate::token, staff_readers, {"customers.view"}, &Api::loyalty_customers},
        {"GET", "/v1/customers/{customer}/passport", Gate::token, {"admin", "auditor", "customer"}, {"customers.view"},
         &Api::customer_passport},
        {"GET", "/v1/passport/leaderboard", Gate::token, token_roles(), {}, &Api::passport_leaderboard},

        // Affiliates.
        {"GET", "/v1/affiliates", Gate::token, staff_readers, {"affiliates.view"}, &Api::list_affiliates},
        {"PUT", "/v1/affiliates/payout-schedule", Gate::token, {"admin"}, {"finance.manage"},
         &Api::put_payout_schedule},
        {"GET", "/v1/affiliates/payout-schedule", Gate::token, staff_readers, {"affiliates.view", "finance.view"},
         &Api::get_payout_schedule},
        {"PUT", "/v1/affiliates/{affiliate}", Gate::token, {"admin"}, {"affiliates.manage"}, &Api::put_affiliate},
        {"GET", "/v1/affiliates/{affiliate}", Gate::token, {"admin", "auditor", "affiliate"}, {"affiliates.view"},
         &Api::get_affiliate},
        {"GET", "/v1/affiliates/{affiliate}/balance", Gate::token, {"admin", "auditor", "affiliate"},
         {"affiliates.view"}, &Api::affiliate_balance},
        {"GET", "/v1/affiliates/{affiliate}/payouts", Gate::token, {"admin", "auditor", "affiliate"},
         {"affiliates.view"}, &Api::affiliate_payouts},
        {"GET", "/v1/affiliates/{affiliate}/conversions", Gate::token, {"admin", "auditor", "affiliate"},
         {"affiliates.view"}, &Api::affiliate_conversions},
    };
    return table;
}

bool pattern_matches(std::string_view pattern, const std::vector<std::string>& parts) {
    // Segment by segment, without splitting the pattern: this runs for every route on
    // every request (dispatch and the metrics' label).
    size_t i = 0, at = 1;
    while (at <= pattern.size()) {
        size_t slash = pattern.find('/', at);
        if (slash == std::string_view::npos) slash = pattern.size();
        const std::string_view seg = pattern.substr(at, slash - at);
        if (i >= parts.size()) return false;
        const bool param = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
        if (param ? parts[i].empty() : parts[i] != seg) return false;
        ++i;
        at = slash + 1;
    }
    return i == parts.size();
}

const Route* find_route(const std::vector<Route>& table, std::string_view method, const std::vector<std::string>& parts,
                        std::string* allowed) {
    const Route* best = nullptr;
    long best_params = 0;
    std::vector<std::string_view> methods;
    // The fewest {params} wins ("/v1/affiliates/payout-schedule" over "/v1/affiliates/{affiliate}").
    long fewest = -1;
    for (const auto& r : table) {
        if (!pattern_matches(r.pattern, parts)) continue;
        const long params = std::count(r.pattern.begin(), r.pattern.end(), '{');
        if (fewest < 0 || params < fewest) {
            fewest = params;
            methods.clear();
        }
        if (params == fewest) methods.push_back(r.method);
        if (r.method == method && (!best || params < best_params)) {
            best = &r;
            best_params = params;
        }
    }
    if (best && best_params == fewest) return best;
    if (allowed) {
        allowed->clear();
        for (auto m : methods) {
            if (allowed->find(m) != std::string::npos) continue;
            if (!allowed->empty()) *allowed += ", ";
            *allowed += m;
        }
    }
    return nullptr;
}

namespace {

std::vector<std::string> parts_of(std::string_view target) {
    const std::string_view path = target.substr(0, target.find('?'));
    std::vector<std::string> parts;
    for (auto seg : split(path.empty() ? path : path.substr(1), '/')) parts.emplace_back(seg);
    return parts;
}

}  // namespace

const Route* match_route(std::string_view method, std::string_view target) {
    return find_route(Api::routes(), method, parts_of(target), nullptr);
}

std::string route_pattern(std::string_view method, std::string_view target) {
    const auto parts = parts_of(target);
    std::string allowed;
    if (const Route* r = find_route(Api::routes(), method, parts, &allowed)) return std::string(r->pattern);
    // A wrong method on a known path still names the path (by its first route).
    if (!allowed.empty())
        for (const auto& r : Api::routes())
            if (pattern_matches(r.pattern, parts)) return std::string(r.pattern);
    return "other";
}

bool passes_first_check(const Route& route, std::string_view role, const std::vector<std::string>& permissions) {
    if (std::find(route.roles.begin(), route.roles.end(), role) != route.roles.end()) return true;
    if (role != "employee") return false;
    return std::any_of(route.permissions.begin(), route.permissions.end(),
                       [&](std::string_view p) { return principal::holds(permissions, p); });
}

std::string access_table_markdown() {
    std::string out = "| Route | Caller | Who passes the first check |\n|---|---|---|\n";
    for (const auto& r : Api::routes()) {
        out += "| `" + std::string(r.method) + " " + std::string(r.pattern) + "` | ";
        switch (r.gate) {
            case Gate::open: out += "anyone, no token"; break;
            case Gate::signature: out += "the provider's signature"; break;
            case Gate::optional_token: out += "anyone; a token is optional"; break;
            case Gate::token: out += "bearer token"; break;
        }
        out += " | ";
        std::string who;
        if (r.gate == Gate::open || r.gate == Gate::signature) who = "-";
        else if (r.roles == token_roles()) who = "every role";
        else {
            for (auto role : r.roles) who += (who.empty() ? "" : ", ") + std::string(role);
            if (!r.permissions.empty()) {
                std::string perms;
                for (auto p : r.permissions) perms += (perms.empty() ? "`" : "` or `") + std::string(p);
                who += (who.empty() ? "" : "; ") + std::string("employee with ") + perms + "`";
            }
        }
        out += who + " |\n";
    }
    return out;
}

}  // namespace tally::http
