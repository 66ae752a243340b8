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
        {"GET", "/healthz", Gate::open, {}, {}, &Api::healthz,
         {.summary = "Liveness: the process answers"}},
        {"GET", "/readyz", Gate::open, {}, {}, &Api::readyz,
         {.summary = "Readiness: the database answers"}},
        {"GET", "/metrics", Gate::open, {}, {}, &Api::metrics_text,
         {.summary = "Prometheus metrics (text exposition format)", .errors = {401, 404}}},
        {"GET", "/v1/audit/keys", Gate::open, {}, {}, &Api::audit_keys,
         {.summary = "The public keys that sign journal checkpoints", .response = "AuditKeys"}},
        {"GET", "/openapi.json", Gate::open, {}, {}, &Api::openapi,
         {.summary = "This API's OpenAPI 3.1 document (ETag)", .response = "OpenApiDocument", .errors = {304}}},
        // The operator console's static files; the page calls the API with a pasted token.
        {"GET", "/console", Gate::open, {}, {}, &Api::console,
         {.summary = "The operator console (HTML)", .errors = {304}}},
        {"GET", "/console/{file}", Gate::open, {}, {}, &Api::console,
         {.summary = "A static file of the operator console", .errors = {304, 404}}},
        // The providers sign their messages.
        {"POST", "/v1/webhooks/stripe", Gate::signature, {}, {}, &Api::stripe_webhook,
         {.summary = "Stripe events, verified by Stripe-Signature", .request = "StripeEvent",
          .response = "StripeWebhookResult", .errors = {401}}},
        {"POST", "/v1/webhooks/paypal", Gate::signature, {}, {}, &Api::paypal_webhook,
         {.summary = "PayPal events, verified with PayPal's signature headers", .request = "PayPalEvent",
          .response = "PayPalWebhookResult", .errors = {401}}},
        // Anyone; a token is optional.
        {"POST", "/v1/referrals/visits", Gate::optional_token, token_roles(), {}, &Api::referral_visit,
         {.summary = "A visit by an affiliate's link: the signed referral cookie", .request = "ReferralVisitRequest",
          .response = "ReferralVisit", .idempotency = Idempotency::optional, .errors = {404, 409}}},

        // Catalog.
        {"PUT", "/v1/vendors/{vendor}", Gate::token, {"admin"}, {"catalog.manage", "finance.manage"}, &Api::put_vendor,
         {.summary = "Define or change a vendor", .request = "tally.v1.VendorDefinition", .response = "VendorDefined",
          .idempotency = Idempotency::required, .errors = {409}}},
        {"PUT", "/v1/products/{sku}", Gate::token, {"admin", "vendor"}, {"catalog.manage", "finance.manage"},
         &Api::put_product,
         {.summary = "Define or change a product (list price, matrix, quantity breaks, variants)",
          .request = "tally.v1.ProductDefinition", .response = "ProductDefined", .idempotency = Idempotency::required,
          .errors = {409}}},
        {"POST", "/v1/products/{sku}/stock-adjustments", Gate::token, {"admin", "vendor"}, {"catalog.manage"},
         &Api::adjust_stock,
         {.summary = "Add or remove stock units", .request = "StockAdjustmentRequest", .response = "StockAdjusted",
          .status = 201, .idempotency = Idempotency::required, .errors = {409}}},
        {"PUT", "/v1/catalog/settings", Gate::token, {"admin"}, {"catalog.manage", "finance.manage"},
         &Api::put_catalog_settings,
         {.summary = "Site-wide catalog settings (commission, fees, promotions)", .request = "tally.v1.CatalogSettings",
          .response = "CommandAccepted", .idempotency = Idempotency::required, .errors = {409}}},
        {"PUT", "/v1/coupons/{code}", Gate::token, {"admin", "vendor"}, {"catalog.manage"}, &Api::put_coupon,
         {.summary = "Define or change a coupon", .request = "tally.v1.CouponDefinition", .response = "CouponDefined",
          .idempotency = Idempotency::required, .errors = {409}}},
        // Catalog reads for storefronts: any principal; coupons for staff.
        {"GET", "/v1/products", Gate::token, token_roles(), {}, &Api::list_products,
         {.summary = "List products (keyset pages)", .response = "ProductPage",
          .query = {"vendor_id", "country_of_origin", "limit", "cursor"}}},
        {"GET", "/v1/products/{sku}", Gate::token, token_roles(), {}, &Api::get_product,
         {.summary = "A product: list prices, matrix, variants and availability (ETag)", .response = "Product",
          .errors = {304, 404}}},
        {"GET", "/v1/vendors", Gate::token, token_roles(), {}, &Api::list_vendors,
         {.summary = "List vendors (keyset pages)", .response = "VendorPage", .query = {"limit", "cursor"}}},
        {"GET", "/v1/vendors/{vendor}", Gate::token, token_roles(), {}, &Api::get_vendor,
         {.summary = "A vendor: currency, shipping and where it ships", .response = "Vendor", .errors = {404}}},
        {"GET", "/v1/coupons", Gate::token, staff_readers, {"catalog.view"}, &Api::list_coupons,
         {.summary = "List coupons with their uses (staff)", .response = "CouponPage", .query = {"limit", "cursor"}}},
        {"PUT", "/v1/vendors/{vendor}/wholesale-customers/{customer}", Gate::token, {"admin", "vendor"},
         {"catalog.manage"}, &Api::set_wholesale,
         {.summary = "Grant a customer wholesale prices on the vendor's products", .response = "CommandAccepted",
          .idempotency = Idempotency::required, .errors = {409}}},
        {"DELETE", "/v1/vendors/{vendor}/wholesale-customers/{customer}", Gate::token, {"admin", "vendor"},
         {"catalog.manage"}, &Api::set_wholesale,
         {.summary = "Withdraw a customer's wholesale prices", .response = "CommandAccepted",
          .idempotency = Idempotency::required, .errors = {409}}},
        {"PUT", "/v1/customers/{customer}/profile", Gate::token, {"admin", "customer"}, {"customers.manage"},
         &Api::put_customer_profile,
         {.summary = "A customer's profile (leaderboard name and opt-in, wholesale eligibility)",
          .request = "tally.v1.CustomerProfile", .response = "CustomerProfileSet", .idempotency = Idempotency::required,
          .errors = {409}}},

        // Store credit.
        {"POST", "/v1/customers/{customer}/credit-grants", Gate::token, {"admin"}, {}, &Api::grant_credit,
         {.summary = "Grant store credit", .request = "MoneyWithReason", .response = "CreditGranted", .status = 201,
          .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/customers/{customer}/credit", Gate::token, {"admin", "auditor", "customer"}, {"credit.view"},
         &Api::get_credit,
         {.summary = "A customer's store-credit balance and entries", .response = "CreditAccount", .query = {"limit"}}},
        {"POST", "/v1/customers/{customer}/credit-reversals", Gate::token, {"admin"}, {"finance.manage"},
         &Api::reverse_credit,
         {.summary = "Reverse store credit", .request = "MoneyWithReason", .response = "CreditReversed", .status = 201,
          .idempotency = Idempotency::required, .errors = {409}}},
        {"PUT", "/v1/credit/policy", Gate::token, {"admin"}, {"finance.manage"}, &Api::put_credit_policy,
         {.summary = "The store-credit caps", .request = "CreditPolicyRequest", .response = "CommandAccepted",
          .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/credit/policy", Gate::token, staff_readers, {"finance.view", "credit.view"}, &Api::get_credit_policy,
         {.summary = "The store-credit caps in force", .response = "CreditPolicy"}},

        // Quotes, checkout, orders.
        {"POST", "/v1/quote", Gate::token, {"admin", "customer", "affiliate", "storefront"},
         {"catalog.view", "orders.view", "credit.view", "customers.view"}, &Api::post_quote,
         {.summary = "Price a cart on the server", .request = "tally.v1.CartRequest", .response = "Quote",
          .query = {"customer_id"}}},
        {"POST", "/v1/checkout", Gate::token, {"customer", "affiliate", "storefront"}, {}, &Api::post_checkout,
         {.summary = "Check out a cart: re-priced, stock reserved, an order placed (201); the same cart while "
                     "its order awaits payment: that order (200)",
          .request = "tally.v1.CartRequest", .response = "CheckoutResult", .status = 201,
          .also = {{200, "CheckoutDuplicate"}}, .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/customers/{customer}/claims", Gate::token, {"admin"}, {}, &Api::claim_guest_orders,
         {.summary = "Claim a guest's orders for a customer", .request = "tally.v1.GuestClaimRequest",
          .response = "CommandAccepted", .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/customers/{customer}/orders", Gate::token, {"admin", "auditor", "customer"}, {"orders.view"},
         &Api::list_orders,
         {.summary = "A customer's orders", .response = "OrderPage",
          .query = {"status", "fulfilment_status", "from_ms", "to_ms", "limit", "cursor"}}},
        {"GET", "/v1/vendors/{vendor}/orders", Gate::token, {"admin", "auditor", "vendor"}, {"orders.view"},
         &Api::list_orders,
         {.summary = "A vendor's orders", .response = "OrderPage",
          .query = {"status", "fulfilment_status", "from_ms", "to_ms", "limit", "cursor"}}},
        {"GET", "/v1/orders", Gate::token, staff_readers, {"orders.view"}, &Api::list_orders,
         {.summary = "Every order (staff)", .response = "OrderPage",
          .query = {"status", "fulfilment_status", "vendor_id", "from_ms", "to_ms", "limit", "cursor"}}},
        {"GET", "/v1/orders/{order}", Gate::token, {"admin", "auditor", "customer", "vendor", "storefront"},
         {"orders.view"}, &Api::get_order,
         {.summary = "An order with its lines, sub-orders, payment and attribution", .response = "Order",
          .errors = {404}}},
        {"POST", "/v1/orders/{order}/fulfilment", Gate::token, {"admin", "vendor"}, {"orders.manage"},
         &Api::order_change,
         {.summary = "Record a vendor's fulfilment (shipped, delivered)", .request = "tally.v1.FulfilmentRequest",
          .response = "OrderChanged", .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/orders/{order}/cancel", Gate::token, {"admin", "customer"}, {"orders.manage"},
         &Api::order_change,
         {.summary = "Cancel an order", .request = "tally.v1.CancelRequest", .response = "OrderChanged",
          .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/orders/{order}/refunds", Gate::token, {"admin", "vendor"}, {"orders.manage"},
         &Api::order_change,
         {.summary = "Refund lines or amounts of an order", .request = "tally.v1.RefundRequest",
          .response = "OrderChanged", .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/orders/{order}/payouts", Gate::token, {"admin"}, {"payouts.manage"}, &Api::order_change,
         {.summary = "Request a vendor's payout for an order", .request = "tally.v1.PayoutRequest",
          .response = "OrderChanged", .idempotency = Idempotency::required, .errors = {404, 409}}},

        // Subscriptions.
        {"POST", "/v1/subscriptions", Gate::token, {"customer"}, {}, &Api::post_subscription,
         {.summary = "Subscribe: the first order is placed and paid like any checkout, at the subscription prices",
          .request = "tally.v1.SubscriptionRequest", .response = "SubscriptionResult", .status = 201,
          .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"GET", "/v1/subscriptions", Gate::token, staff_readers, {"orders.view"}, &Api::list_subscriptions,
         {.summary = "Subscriptions by status and due time (staff)", .response = "SubscriptionPage",
          .query = {"status", "due_before", "limit", "cursor"}}},
        {"GET", "/v1/customers/{customer}/subscriptions", Gate::token, {"admin", "auditor", "customer"}, {"orders.view"},
         &Api::list_subscriptions,
         {.summary = "A customer's subscriptions", .response = "SubscriptionPage",
          .query = {"status", "due_before", "limit", "cursor"}}},
        {"GET", "/v1/subscriptions/{subscription}", Gate::token, {"admin", "auditor", "customer"}, {"orders.view"},
         &Api::get_subscription,
         {.summary = "A subscription and every period's renewal with its order", .response = "Subscription",
          .errors = {404}}},
        {"POST", "/v1/subscriptions/{subscription}/changes", Gate::token, {"admin", "customer"}, {"orders.manage"},
         &Api::subscription_act,
         {.summary = "Change the items, quantities, ship-to or coupons from the next renewal",
          .request = "tally.v1.SubscriptionChangeRequest", .response = "SubscriptionActed",
          .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/subscriptions/{subscription}/pause", Gate::token, {"admin", "customer"}, {"orders.manage"},
         &Api::subscription_act,
         {.summary = "Pause: no renewal for periods that start before a date",
          .request = "tally.v1.SubscriptionPauseRequest", .response = "SubscriptionActed",
          .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/subscriptions/{subscription}/skip", Gate::token, {"admin", "customer"}, {"orders.manage"},
         &Api::subscription_act,
         {.summary = "Skip the next period", .request = "tally.v1.SubscriptionSkipRequest", .body_optional = true,
          .response = "SubscriptionActed", .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"POST", "/v1/subscriptions/{subscription}/cancel", Gate::token, {"admin", "customer"}, {"orders.manage"},
         &Api::subscription_act,
         {.summary = "Cancel at the end of the period, or immediately (the current order cancelled unless shipped)",
          .request = "tally.v1.SubscriptionCancelRequest", .response = "SubscriptionActed",
          .idempotency = Idempotency::required, .errors = {404, 409}}},

        // Operators and auditors.
        {"GET", "/v1/operator/dead-letters", Gate::token, staff_readers, {"operator.view"}, &Api::list_dead_letters,
         {.summary = "Provider calls that failed for good", .response = "DeadLetters", .query = {"limit"}}},
        {"POST", "/v1/operator/dead-letters/{id}/retry", Gate::token, {"admin"}, {}, &Api::retry_dead_letter,
         {.summary = "Retry a dead letter", .request = "tally.v1.OperatorActRequest", .body_optional = true,
          .response = "DeadLetterRetry",
          .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"GET", "/v1/operator/flagged-signals", Gate::token, staff_readers, {"operator.view"}, &Api::flagged_signals,
         {.summary = "Provider signals that need a person", .response = "FlaggedSignals", .query = {"limit"}}},
        {"GET", "/v1/operator/external-refunds", Gate::token, staff_readers, {"operator.view"}, &Api::external_refunds,
         {.summary = "Refunds made in the provider's dashboard", .response = "ExternalRefunds", .query = {"limit"}}},
        {"GET", "/v1/operator/acts", Gate::token, staff_readers, {"operator.view"}, &Api::operator_acts,
         {.summary = "What operators did (rebuilds, retries, repairs)", .response = "EventPage",
          .query = {"limit", "cursor"}}},
        {"GET", "/v1/streams/{stream}/events", Gate::token, staff_readers, {}, &Api::stream_events,
         {.summary = "A stream's events with hashes and chain validity", .response = "StreamEvents",
          .query = {"after_version", "limit"}}},
        {"GET", "/v1/reconcile/last", Gate::token, staff_readers, {"operator.view"}, &Api::reconcile_last,
         {.summary = "The last reconciliation and any drift", .response = "ReconcileRun", .errors = {404}}},
        {"GET", "/v1/ledger/accounts", Gate::token, staff_readers, {"finance.view"}, &Api::ledger_accounts,
         {.summary = "Ledger accounts and totals per currency", .response = "LedgerAccounts"}},
        {"GET", "/v1/projections", Gate::token, staff_readers, {"operator.view"}, &Api::list_projections,
         {.summary = "Projectors (lag, positions, owners) and the relay", .response = "Projections", .errors = {404}}},
        {"POST", "/v1/projections/{name}/rebuild", Gate::token, {"admin"}, {}, &Api::rebuild_projection,
         {.summary = "Rebuild a projection from the journal", .request = "tally.v1.OperatorActRequest",
          .body_optional = true,
          .response = "ProjectionRebuilt", .idempotency = Idempotency::required, .errors = {404, 409}}},

        // Principals.
        {"PUT", "/v1/principals/{principal}", Gate::token, {"admin"}, {"staff.manage"}, &Api::put_principal,
         {.summary = "Create (201) or change (200) a principal", .request = "tally.v1.PrincipalRequest",
          .response = "PrincipalSaved", .status = 201, .also = {{200, "PrincipalSaved"}},
          .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/principals", Gate::token, staff_readers, {"staff.view"}, &Api::list_principals,
         {.summary = "List principals", .response = "PrincipalPage", .query = {"role", "limit", "cursor"}}},
        {"GET", "/v1/principals/{principal}", Gate::token, staff_readers, {"staff.view"}, &Api::get_principal,
         {.summary = "A principal", .response = "Principal", .errors = {404}}},
        {"POST", "/v1/principals/{principal}/revoke", Gate::token, {"admin"}, {"staff.manage"},
         &Api::revoke_principal,
         {.summary = "Revoke a principal's sessions", .request = "tally.v1.RevokeRequest", .body_optional = true,
          .response = "CommandAccepted",
          .idempotency = Idempotency::required, .errors = {404, 409}}},
        {"GET", "/v1/permission-presets", Gate::token, staff_readers, {"staff.view"}, &Api::permission_presets,
         {.summary = "Permission presets for employees", .response = "PermissionPresets"}},

        // Loyalty and passports.
        {"PUT", "/v1/loyalty/program", Gate::token, {"admin"}, {"finance.manage"}, &Api::put_loyalty_program,
         {.summary = "The loyalty program (tiers and thresholds)", .request = "tally.v1.LoyaltyProgram",
          .response = "LoyaltyProgramSet", .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/loyalty/program", Gate::token, {"admin", "auditor", "customer"},
         {"loyalty.view", "customers.view", "catalog.view", "orders.view"}, &Api::get_loyalty_program,
         {.summary = "The loyalty program in force", .response = "LoyaltyProgram"}},
        {"GET", "/v1/customers/{customer}/loyalty", Gate::token, {"admin", "auditor", "customer"}, {"customers.view"},
         &Api::customer_loyalty,
         {.summary = "A customer's tiers, spend and history", .response = "CustomerLoyalty",
          .query = {"limit", "cursor"}}},
        {"GET", "/v1/loyalty/customers", Gate::token, staff_readers, {"customers.view"}, &Api::loyalty_customers,
         {.summary = "Customers in a tier", .response = "LoyaltyCustomers",
          .query = {"currency", "tier", "limit", "cursor"}}},
        {"GET", "/v1/customers/{customer}/passport", Gate::token, {"admin", "auditor", "customer"}, {"customers.view"},
         &Api::customer_passport,
         {.summary = "A customer's passport: stamps and badges", .response = "Passport"}},
        {"GET", "/v1/passport/leaderboard", Gate::token, token_roles(), {}, &Api::passport_leaderboard,
         {.summary = "The passport leaderboard (opted-in customers)", .response = "Leaderboard", .query = {"limit"}}},

        // Affiliates.
        {"GET", "/v1/affiliates", Gate::token, staff_readers, {"affiliates.view"}, &Api::list_affiliates,
         {.summary = "List affiliates", .response = "AffiliatePage", .query = {"limit", "cursor"}}},
        {"PUT", "/v1/affiliates/payout-schedule", Gate::token, {"admin"}, {"finance.manage"},
         &Api::put_payout_schedule,
         {.summary = "The affiliate payout schedule", .request = "tally.v1.AffiliatePayoutSchedule",
          .response = "PayoutSchedule", .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/affiliates/payout-schedule", Gate::token, staff_readers, {"affiliates.view", "finance.view"},
         &Api::get_payout_schedule,
         {.summary = "The affiliate payout schedule in force", .response = "PayoutSchedule", .errors = {404}}},
        {"PUT", "/v1/affiliates/{affiliate}", Gate::token, {"admin"}, {"affiliates.manage"}, &Api::put_affiliate,
         {.summary = "Define or change an affiliate", .request = "tally.v1.AffiliateDefinition", .response = "Affiliate",
          .idempotency = Idempotency::required, .errors = {409}}},
        {"GET", "/v1/affiliates/{affiliate}", Gate::token, {"admin", "auditor", "affiliate"}, {"affiliates.view"},
         &Api::get_affiliate,
         {.summary = "An affiliate", .response = "Affiliate", .errors = {404}}},
        {"GET", "/v1/affiliates/{affiliate}/balance", Gate::token, {"admin", "auditor", "affiliate"},
         {"affiliates.view"}, &Api::affiliate_balance,
         {.summary = "An affiliate's commission balance", .response = "AffiliateBalance", .errors = {404}}},
        {"GET", "/v1/affiliates/{affiliate}/payouts", Gate::token, {"admin", "auditor", "affiliate"},
         {"affiliates.view"}, &Api::affiliate_payouts,
         {.summary = "An affiliate's payouts", .response = "AffiliatePayouts", .query = {"limit"}}},
        {"GET", "/v1/affiliates/{affiliate}/conversions", Gate::token, {"admin", "auditor", "affiliate"},
         {"affiliates.view"}, &Api::affiliate_conversions,
         {.summary = "An affiliate's conversions", .response = "AffiliateConversions", .query = {"limit", "cursor"}}},
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
