#pragma once
// The HTTP API, independent of the socket layer: routing, authentication,
// per-route roles, JSON <-> commands, problem documents. server.h feeds it.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands/checkout.h"
#include "commands/pipeline.h"
#include "domain/affiliate.h"
#include "domain/credit.h"
#include "http/auth.h"
#include "http/jwks.h"
#include "http/routes.h"
#include "infra/paypal_api.h"
#include "infra/relay.h"
#include "infra/sql.h"
#include "projectors/runner.h"
#include "tally/v1/checkout.pb.h"

namespace tally::http {

class RateLimiter;

struct Request {
    std::string method;
    std::string target;                          // path and query
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    std::string request_id;
    std::string peer;  // the client's address ("" when unknown)
    // The route the server matched once (for its metrics); null: the API matches it.
    const Route* route = nullptr;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

using Respond = std::function<void(Response)>;

struct ApiDeps {
    sql::Pool* pool = nullptr;
    commands::Pipeline* pipeline = nullptr;
    const KeyRing* keys = nullptr;
    const KeyRing* referral_keys = nullptr;  // referral cookies
    IdentityProvider* idp = nullptr;  // RS256/ES256 tokens from an identity provider; null: none
    int64_t attribution_recent_ms = 24 * 3600 * 1000;
    std::vector<projectors::Runner*> runners;
    infra::Relay* relay = nullptr;  // may be null when this process runs no relay
    std::function<int64_t()> clock_ms;  // unix milliseconds
    std::vector<std::string> stripe_webhook_secrets;  // empty: webhooks are refused (503)
    int64_t payout_delay_ms = 0;
    const paypal_api::Api* paypal = nullptr;  // null: PayPal webhooks are refused (503)
    std::string paypal_webhook_id;
    std::string checkpoint_key_id, checkpoint_public_key;  // published at GET /v1/audit/keys
    std::string process;  // this process as ownership shows it (host:pid)
    RateLimiter* limiter = nullptr;  // null: no rate limits (rate_limit.h)
    // /metrics (README, Operating tally): a scrape token the scraper sends as a bearer
    // token (empty: none asked), and whether the API's own listener serves it (false when
    // TALLY_METRICS_ADDRESS gives it a listener of its own).
    std::string metrics_token;
    bool metrics_on_api = true;
};

class Call;

class Api {
public:
    explicit Api(ApiDeps deps);
    ~Api();  // waits for rebuilds still running
    Api(const Api&) = delete;
    Api& operator=(const Api&) = delete;
    // Answers exactly once, possibly later and from another thread.
    void handle(Request req, Respond respond);
    // /readyz: the database answers and the pipeline accepts commands.
    bool ready();

    // The route table (routes.h): every route, its gate, who passes the first check, and
    // its handler below.
    static const std::vector<Route>& routes();

private:
    // Handlers, one per route (or per family of routes that share one body); each answers
    // and returns true. routes_*.cpp by area.
    bool healthz(Call& c);
    bool readyz(Call& c);
    bool metrics_text(Call& c);
    bool console(Call& c);  // the operator console's static files
    bool openapi(Call& c);  // GET /openapi.json
    bool audit_keys(Call& c);
    bool stripe_webhook(Call& c);   // signed by the provider; no bearer token
    bool paypal_webhook(Call& c);   // verified through PayPal's API
    bool referral_visit(Call& c);   // a token is optional
    bool put_vendor(Call& c);
    bool put_product(Call& c);
    bool list_products(Call& c);  // catalog reads: routes_catalog_reads.cpp
    bool get_product(Call& c);
    bool list_vendors(Call& c);
    bool get_vendor(Call& c);
    bool list_coupons(Call& c);
    bool adjust_stock(Call& c);
    bool put_catalog_settings(Call& c);
    bool put_coupon(Call& c);
    bool set_wholesale(Call& c);
    bool put_customer_profile(Call& c);
    bool grant_credit(Call& c);
    bool get_credit(Call& c);
    bool reverse_credit(Call& c);
    bool put_credit_policy(Call& c);
    bool get_credit_policy(Call& c);
    bool post_quote(Call& c);
    bool post_checkout(Call& c);
    bool place_order(Call& c, const std::string& key, const v1::CartRequest& body, pricing::Cart cart,
                     const std::string& customer_id, const std::string& guest,
                     std::optional<commands::SubscriptionStart> subscription);
    bool post_subscription(Call& c);
    bool subscription_act(Call& c);
    bool list_subscriptions(Call& c);
    bool get_subscription(Call& c);
    bool claim_guest_orders(Call& c);
    bool list_orders(Call& c);      // a customer's, a vendor's, or all
    bool get_order(Call& c);
    bool order_change(Call& c);     // fulfilment, cancel, refunds, payouts
    bool list_dead_letters(Call& c);
    bool retry_dead_letter(Call& c);
    bool flagged_signals(Call& c);
    bool external_refunds(Call& c);
    bool operator_list(Call& c, const std::string& key, const std::string& query,
                       const std::function<nlohmann::json(const sql::Row&)>& item);
    bool stream_events(Call& c);
    bool operator_acts(Call& c);
    bool reconcile_last(Call& c);
    bool ledger_accounts(Call& c);
    bool list_projections(Call& c);
    bool rebuild_projection(Call& c);
    bool put_loyalty_program(Call& c);
    bool get_loyalty_program(Call& c);
    bool customer_loyalty(Call& c);
    bool loyalty_customers(Call& c);
    bool customer_passport(Call& c);
    bool passport_leaderboard(Call& c);
    bool list_affiliates(Call& c);
    bool put_payout_schedule(Call& c);
    bool get_payout_schedule(Call& c);
    bool put_affiliate(Call& c);
    bool get_affiliate(Call& c);
    bool affiliate_balance(Call& c);
    bool affiliate_payouts(Call& c);
    bool affiliate_conversions(Call& c);
    bool put_principal(Call& c);
    bool list_principals(Call& c);
    bool get_principal(Call& c);
    bool revoke_principal(Call& c);
    bool permission_presets(Call& c);
    // A referral cookie's claim when its signature verifies and it has not expired; a
    // forged, expired or malformed one is ignored (counted by reason), never an error.
    std::optional<affiliate::CookieClaim> referral_cookie(const std::string& cookie) const;
    // The bearer token, when the request has one: verified, else answered 401 (nullopt).
    // `required`: a missing token is 401 too; otherwise it yields an empty claims.
    std::optional<TokenClaims> bearer(Call& c, bool required);
    // The route's first check (routes.h); false: answered 401/403.
    bool first_check(Call& c, const Route& route);
    // The rate limits for this request (rate_limit.h); false: answered 429.
    bool within_rate(Call& c, const Route& route);

    ApiDeps deps_;
    std::mutex rebuilds_mu_;
    struct Rebuild {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    // Finished ones are joined at the next request; at most one per projector runs at a time.
    std::vector<Rebuild> rebuilds_;
    // sku -> its vendor's stream. A product never changes vendor (a domain rule), so the
    // mapping may be cached; checkout verifies it under lock anyway. Bounded: cleared when full.
    std::mutex vendor_of_mu_;
    std::unordered_map<std::string, std::string> vendor_of_;
    static constexpr size_t kVendorOfMax = 100000;
};

// The answer to GET /metrics: the exposition, or 401 when `token` is set and the request
// does not carry it as `Authorization: Bearer <token>` (compared in constant time).
Response metrics_answer(const Request& req, const std::string& token);
// The handler of a listener that serves only GET /metrics (with `token` as above) and
// GET /healthz; anything else is 404.
std::function<void(Request, Respond)> metrics_listener(std::string token);

// A problem document (RFC 9457 shape) with the field at fault, if any.
Response problem(int status, const std::string& code, const std::string& detail, const std::string& field = "",
                 const std::string& request_id = "", const std::string& extension_json = "");

}  // namespace tally::http
