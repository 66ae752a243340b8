// Identity and guard rails over real sockets: every route called by every role exactly
// as the route table says, and principals as event-sourced records.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "domain/principal.h"
#include "http/api.h"
#include "http/auth.h"
#include "http/routes.h"
#include "tests/support/shop.h"

using nlohmann::json;

namespace tally {
namespace {

struct Caller {
    std::string name;
    std::string id;     // empty: no token
    std::string role;
    std::vector<std::string> permissions;
    std::string token;
    bool foreign = false;  // signed by a key this deployment does not hold
};

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& p : items) out += (out.empty() ? "" : ",") + p;
    return out;
}

// A path for the pattern as this caller would call it: its own id where the pattern names
// its kind of principal (so ownership checks, which come later, do not answer for the
// table), an id nobody holds elsewhere.
std::string path_for(std::string_view pattern, const Caller& who) {
    std::string out(pattern);
    auto fill = [&](const std::string& param, const std::string& own_role, const std::string& other) {
        const std::string value = who.role == own_role ? who.id : other;
        for (size_t at; (at = out.find(param)) != std::string::npos;) out.replace(at, param.size(), value);
    };
    fill("{customer}", "customer", "cus-other");
    fill("{vendor}", "vendor", "ven-other");
    fill("{affiliate}", "affiliate", "aff-other");
    fill("{principal}", "-", "nobody-here");
    fill("{sku}", "-", "sku-none");
    fill("{code}", "-", "CODE-NONE");
    fill("{order}", "-", "ord-none");
    fill("{subscription}", "-", "sub-none");
    fill("{id}", "-", "999999");
    fill("{stream}", "-", "customer-none");
    fill("{name}", "-", "no-such-projector");
    fill("{file}", "-", "console.js");
    EXPECT_EQ(out.find('{'), std::string::npos) << "a parameter the test does not fill: " << pattern;
    return out;
}

// The table's verdict for a caller: 0 allowed, else 401 or 403.
int expected(const http::Route& r, const Caller& who) {
    using http::Gate;
    if (r.gate == Gate::open || r.gate == Gate::signature) return 0;
    if (who.foreign) return 401;
    if (who.id.empty()) return r.gate == Gate::optional_token ? 0 : 401;
    return http::passes_first_check(r, who.role, who.permissions) ? 0 : 403;
}

// Every route x every role (admin, each department preset, an employee with no
// permissions, vendor, affiliate, customer, auditor, storefront, no token, another
// deployment's token), generated from the table: 401/403 exactly where it says, and
// anything else (the handler's own 2xx/4xx) where it admits the caller.
TEST(RouteAccess, EveryRouteAnswersEveryRoleAsTheTableSays) {
    testing::Shop s(std::map<std::string, std::string>{{"TALLY_STRIPE_WEBHOOK_SECRETS", "whsec_route_access"}});
    std::vector<Caller> callers;
    callers.push_back({"admin", "admin-1", "admin", {}, s.admin});
    for (const auto& preset : principal::presets()) {
        std::vector<std::string> perms(preset.permissions.begin(), preset.permissions.end());
        const std::string id = "emp-" + std::string(preset.key);
        callers.push_back({std::string(preset.name), id, "employee", perms,
                           testing::token_for(s.url, id, "employee", joined(perms))});
    }
    callers.push_back({"employee without permissions", "emp-none", "employee", {},
                       testing::token_for(s.url, "emp-none", "employee")});
    for (const std::string role : {"vendor", "affiliate", "customer", "auditor", "storefront"}) {
        const std::string id = role.substr(0, 3) + "-1";
        callers.push_back({role, id, role, {}, testing::token_for(s.url, id, role)});
    }
    callers.push_back({"no token", "", "", {}, ""});
    // Same key id as this deployment's signing key, another secret: a token from elsewhere.
    auto elsewhere = http::KeyRing::parse("test:ffffffffffffffffffffffffffffffff");
    ASSERT_TRUE(elsewhere);
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    callers.push_back({"another deployment's admin", "admin-1", "admin", {},
                       elsewhere->mint({"admin-1", "admin", 1, now, now + 600, 0}), true});

    int calls = 0, allowed = 0, refused = 0, key = 0;
    for (const auto& route : http::Api::routes()) {
        for (const auto& who : callers) {
            const std::string target = path_for(route.pattern, who);
            std::map<std::string, std::string> headers{{"Idempotency-Key", "access-" + std::to_string(++key)}};
            if (!who.token.empty()) headers["Authorization"] = "Bearer " + who.token;
            const std::string body = route.method == "GET" ? "" : "{}";
            const auto got = s.client->request(std::string(route.method), target, body, headers);
            ++calls;
            const int want = expected(route, who);
            const std::string what = std::string(route.method) + " " + target + " as " + who.name + ": " +
                                     std::to_string(got.status) + " " + got.body;
            ASSERT_NE(got.status, 0) << what << got.error;
            if (want == 0) {
                ++allowed;
                EXPECT_NE(got.status, 401) << what;
                EXPECT_NE(got.status, 403) << what;
                // PayPal's webhook answers 503 while PayPal is not configured (no client id here).
                const bool unconfigured = route.pattern == "/v1/webhooks/paypal" && got.status == 503 &&
                                          got.body.find("webhooks_not_configured") != std::string::npos;
                EXPECT_TRUE(got.status < 500 || unconfigured) << what;
            } else {
                ++refused;
                EXPECT_EQ(got.status, want) << what;
                EXPECT_TRUE(want != 401 || got.headers.contains("www-authenticate")) << what;
            }
        }
    }
    std::cout << "route x role: " << calls << " calls over " << http::Api::routes().size() << " routes and "
              << callers.size() << " callers; " << allowed << " admitted, " << refused << " refused\n";
    EXPECT_GT(allowed, 0);
    EXPECT_GT(refused, 0);
}

struct Identity : testing::Shop {
    json body(const http::ClientResponse& r) { return json::parse(r.body, nullptr, false); }
    json events_of(const std::string& principal) {
        const auto auditor = testing::token_for(url, "aud-1", "auditor");
        return body(get("/v1/streams/principal-" + principal + "/events", auditor));
    }
};

TEST(Principals, APresetFillsThePermissionsAndTheRecordIsOnItsStreamWithItsActor) {
    Identity s;
    auto r = s.send("PUT", "/v1/principals/ops-1",
                    {{"role", "employee"}, {"preset", "operations"}, {"display_name", "Kofi"}, {"email", "kofi@example.com"}},
                    s.admin);
    ASSERT_EQ(r.status, 201) << r.body;
    auto rec = s.body(r);
    const auto* ops = principal::find_preset("operations");
    std::vector<std::string> want(ops->permissions.begin(), ops->permissions.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(rec["permissions"].get<std::vector<std::string>>(), want);
    EXPECT_EQ(rec["preset"], "operations");
    EXPECT_EQ(rec["session_version"], 1);
    // The presets as data.
    auto presets = s.body(s.get("/v1/permission-presets", s.admin));
    ASSERT_EQ(presets["presets"].size(), 7u) << presets.dump();
    for (const auto& p : presets["presets"])
        EXPECT_TRUE(p["key"] != "operations" || !p["financial"].get<bool>()) << p.dump();
    // The list, by role, paged.
    ASSERT_EQ(s.send("PUT", "/v1/principals/ops-2", {{"role", "employee"}, {"preset", "content"}}, s.admin).status, 201);
    auto page = s.body(s.get("/v1/principals?role=employee&limit=1", s.admin));
    ASSERT_EQ(page["principals"].size(), 1u) << page.dump();
    EXPECT_EQ(page["principals"][0]["principal_id"], "ops-1");
    auto next = s.body(s.get("/v1/principals?role=employee&limit=1&cursor=" + page["next_cursor"].get<std::string>(), s.admin));
    EXPECT_EQ(next["principals"][0]["principal_id"], "ops-2");
    EXPECT_EQ(s.get("/v1/principals?role=system", s.admin).status, 400);
    // Its stream holds the change and who made it.
    auto events = s.events_of("ops-1");
    ASSERT_EQ(events["events"].size(), 1u) << events.dump();
    EXPECT_EQ(events["events"][0]["type"], "PrincipalDefined");
    EXPECT_EQ(events["events"][0]["actor"], "admin-1");
    EXPECT_TRUE(events["chain_valid"].get<bool>());
    // The new principal works at once with a token for its record: Operations reads orders.
    const auto token = testing::token_for(s.url, "ops-1", "employee", joined(want));
    EXPECT_EQ(s.get("/v1/orders", token).status, 200);
    // ...and changes no money setting (the route's first check).
    EXPECT_EQ(s.get("/v1/ledger/accounts", token).status, 403);
}

TEST(Principals, ARoleChangeRevokesEveryEarlierTokenInTheSameTransaction) {
    Identity s;
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-9", {{"role", "customer"}}, s.admin).status, 201);
    const auto old_token = testing::token_for(s.url, "cus-9", "customer");  // session version 1, as the record says
    ASSERT_EQ(s.get("/v1/customers/cus-9/credit", old_token).status, 200);
    auto r = s.send("PUT", "/v1/principals/cus-9", {{"role", "vendor"}}, s.admin);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(s.body(r)["sessions_revoked"].get<bool>());
    EXPECT_EQ(s.body(r)["session_version"], 2);
    // The very next request with the old token is refused: the row moved with the event.
    auto refused = s.get("/v1/customers/cus-9/credit", old_token);
    EXPECT_EQ(refused.status, 401) << refused.body;
    EXPECT_NE(refused.body.find("token_revoked"), std::string::npos) << refused.body;
    // Commands too, in their batch.
    auto cmd = s.send("PUT", "/v1/customers/cus-9/profile", {{"display_name", "x"}}, old_token);
    EXPECT_EQ(cmd.status, 401) << cmd.body;
    // A disable revokes; a revoke revokes; each is an event with its actor.
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-9", {{"role", "vendor"}, {"active", false}}, s.admin).status, 200);
    ASSERT_EQ(s.send("POST", "/v1/principals/cus-9/revoke", {{"reason", "laptop lost"}}, s.admin).status, 200);
    EXPECT_EQ(s.number("SELECT session_version::bigint FROM principals WHERE id = 'cus-9'"), 4);
    auto events = s.events_of("cus-9");
    ASSERT_EQ(events["events"].size(), 4u) << events.dump();
    EXPECT_EQ(events["events"][3]["type"], "PrincipalSessionsRevoked");
    for (const auto& e : events["events"]) EXPECT_EQ(e["actor"], "admin-1");
    EXPECT_EQ(s.send("POST", "/v1/principals/nobody/revoke", json::object(), s.admin).status, 404);
}

TEST(Principals, AnEmployeeWithStaffManageCannotEscalate) {
    Identity s;
    const auto hr = testing::token_for(s.url, "hr-1", "employee", "staff.manage,orders.manage,customers.view");
    // Within its reach: an employee with less, a customer.
    auto ok = s.send("PUT", "/v1/principals/clerk-1", {{"role", "employee"}, {"permissions", {"orders.view"}}}, hr);
    ASSERT_EQ(ok.status, 201) << ok.body;
    // Beyond it: a permission it does not hold, a preset holding one, an admin, itself.
    auto more = s.send("PUT", "/v1/principals/clerk-1", {{"role", "employee"}, {"permissions", {"finance.manage"}}}, hr);
    EXPECT_EQ(more.status, 403) << more.body;
    EXPECT_NE(more.body.find("permission_not_held"), std::string::npos);
    EXPECT_EQ(s.send("PUT", "/v1/principals/clerk-2", {{"role", "employee"}, {"preset", "accounting"}}, hr).status, 403);
    EXPECT_EQ(s.send("PUT", "/v1/principals/boss", {{"role", "admin"}}, hr).status, 403);
    EXPECT_EQ(s.send("PUT", "/v1/principals/hr-1", {{"role", "employee"}, {"permissions", {"staff.manage", "finance.manage"}}}, hr).status,
              403);
    EXPECT_EQ(s.send("PUT", "/v1/principals/admin-1", {{"role", "admin"}, {"active", false}}, hr).status, 403);
    EXPECT_EQ(s.send("POST", "/v1/principals/admin-1/revoke", json::object(), hr).status, 403);
    // The admin still works; the clerk kept what it had.
    EXPECT_EQ(s.get("/v1/principals/clerk-1", s.admin).status, 200);
    EXPECT_EQ(s.body(s.get("/v1/principals/clerk-1", s.admin))["permissions"], json::array({"orders.view"}));
    // An employee without staff.manage is stopped by the route's first check.
    const auto clerk = testing::token_for(s.url, "clerk-1", "employee", "orders.view");
    EXPECT_EQ(s.send("PUT", "/v1/principals/clerk-1", {{"role", "employee"}, {"permissions", {"orders.manage"}}}, clerk).status,
              403);
    // Bad input names the problem and writes nothing.
    auto bad = s.send("PUT", "/v1/principals/x1", {{"role", "employee"}, {"permissions", {"orders.fly"}}}, s.admin);
    EXPECT_EQ(bad.status, 422);
    EXPECT_NE(bad.body.find("unknown_permission"), std::string::npos);
    EXPECT_EQ(s.send("PUT", "/v1/principals/x1", {{"role", "root"}}, s.admin).status, 422);
    EXPECT_EQ(s.send("PUT", "/v1/principals/x1", {{"role", "customer"}, {"permissions", {"orders.view"}}}, s.admin).status, 422);
    EXPECT_EQ(s.send("PUT", "/v1/principals/x1", {{"role", "customer"}, {"colour", "red"}}, s.admin).status, 400);
    EXPECT_EQ(s.send("PUT", "/v1/principals/provider:stripe", {{"role", "admin"}}, s.admin).status, 400);
    EXPECT_EQ(s.number("SELECT count(*) FROM principals WHERE id = 'x1'"), 0);
}

// A rebuild, a principal change and a policy change are each an event with its actor and
// reason, and the auditor lists them, newest first.
TEST(OperatorActs, EachActIsAnEventTheAuditorLists) {
    Identity s;
    const auto auditor = testing::token_for(s.url, "aud-1", "auditor");
    ASSERT_EQ(s.send("PUT", "/v1/principals/ops-7", {{"role", "employee"}, {"preset", "operations"}}, s.admin).status, 201);
    ASSERT_EQ(s.send("PUT", "/v1/credit/policy", {{"grant_max_minor", 500}, {"balance_max_minor", 5000}, {"reason", "fraud wave"}},
                     s.admin).status,
              200);
    auto rebuilt = s.send("POST", "/v1/projections/credit/rebuild", {{"reason", "drift on cus-3"}}, s.admin);
    ASSERT_EQ(rebuilt.status, 200) << rebuilt.body;
    auto page = s.body(s.get("/v1/operator/acts?limit=2", auditor));
    ASSERT_EQ(page["acts"].size(), 2u) << page.dump();
    EXPECT_EQ(page["acts"][0]["type"], "ProjectionRebuilt");
    EXPECT_EQ(page["acts"][0]["actor"], "admin-1");
    EXPECT_EQ(page["acts"][0]["payload"]["reason"], "drift on cus-3");
    EXPECT_EQ(page["acts"][1]["type"], "CreditPolicySet");
    EXPECT_EQ(page["acts"][1]["payload"]["reason"], "fraud wave");
    ASSERT_TRUE(page["next_cursor"].is_string());
    auto rest = s.body(s.get("/v1/operator/acts?cursor=" + page["next_cursor"].get<std::string>(), auditor));
    ASSERT_EQ(rest["acts"].size(), 1u) << rest.dump();
    EXPECT_EQ(rest["acts"][0]["type"], "PrincipalDefined");
    EXPECT_EQ(rest["acts"][0]["stream_id"], "principal-ops-7");
    EXPECT_TRUE(rest["next_cursor"].is_null());
    // Operations sees them; a customer does not.
    const auto ops = testing::token_for(s.url, "ops-7", "employee", "operator.view");
    EXPECT_EQ(s.get("/v1/operator/acts", ops).status, 200);
    EXPECT_EQ(s.get("/v1/operator/acts", testing::token_for(s.url, "cus-1", "customer")).status, 403);
    EXPECT_EQ(s.get("/v1/operator/acts?cursor=x", auditor).status, 400);
}

}  // namespace
}  // namespace tally
