// Tokens from an identity provider over real sockets: tallyd reads a JWKS file whose RSA
// and EC keys the test made, takes RS256 and ES256 tokens for principals it holds, follows
// a key rotation by the file, refuses another audience or issuer, and revokes provider
// tokens as it does its own.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "tests/support/shop.h"
#include "tests/support/test_idp.h"

using nlohmann::json;

namespace tally {
namespace {

const std::string kIss = "https://login.example.test/";
const std::string kAud = "tally-shop";

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string temp_dir() {
    std::string dir = "/tmp/tally-idp-XXXXXX";
    if (!mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed");
    return dir;
}

void write_file(const std::string& path, const std::string& text) {
    const std::string tmp = path + ".new";
    std::ofstream(tmp) << text;
    ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);  // whole, as a provider's deploy would
}

struct Keys {
    testing::TestKey rsa1 = testing::TestKey::rsa("2026-11");
    testing::TestKey rsa2 = testing::TestKey::rsa("2026-12");
    testing::TestKey ec1 = testing::TestKey::ec("ec-1");
};

// A shop whose tallyd trusts the provider's key set in `jwks`, re-read every second.
struct IdpShop {
    Keys keys;
    std::string dir = temp_dir();
    std::string jwks = dir + "/jwks.json";
    testing::Shop s;

    IdpShop()
        : s([this] {
              write_file(jwks, testing::jwks_of({&keys.rsa1, &keys.ec1}));
              return std::map<std::string, std::string>{{"TALLY_JWKS_FILE", jwks},
                                                        {"TALLY_JWT_ISSUER", kIss},
                                                        {"TALLY_JWT_AUDIENCE", kAud},
                                                        {"TALLY_JWKS_REFRESH_S", "1"}};
          }()) {}
    ~IdpShop() { std::system(("rm -rf " + dir).c_str()); }

    json claims(const std::string& sub, int64_t iat = 0) const { return testing::idp_claims(kIss, kAud, sub, iat ? iat : now_s()); }
};

json cart(int64_t expected) {
    return {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", "mug"}, {"quantity", 2}}})},
            {"coupon_codes", json::array()}, {"expected_total_minor", expected}};
}

TEST(IdentityProviderTokens, ACustomerChecksOutWithAnRs256TokenAndReadsWithAnEs256One) {
    IdpShop t;
    auto& s = t.s;
    ASSERT_EQ(s.send("PUT", "/v1/vendors/ana", {{"currency", "USD"}, {"shipping", {{"flat_minor", 500}}}}, s.admin).status, 200);
    ASSERT_EQ(s.send("PUT", "/v1/products/mug", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 1200}}, s.admin).status, 200);
    ASSERT_EQ(s.send("POST", "/v1/products/mug/stock-adjustments", {{"delta", 5}, {"reason", "received"}}, s.admin).status, 201);
    // The principal exists in tally (its role is tally's); the provider vouches for who it is.
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-ida", {{"role", "customer"}, {"display_name", "Ida"}}, s.admin).status, 201);

    const auto rs = t.keys.rsa1.sign(t.claims("cus-ida"));
    auto placed = s.send("POST", "/v1/checkout", cart(2900), rs);  // 2 × 12.00 + 5.00
    ASSERT_EQ(placed.status, 201) << placed.body;
    const auto order = json::parse(placed.body);
    EXPECT_EQ(s.number("SELECT count(*) FROM journal WHERE type = 'OrderPlaced' AND actor = 'cus-ida'"), 1);

    const auto es = t.keys.ec1.sign(t.claims("cus-ida"));
    const std::string path = "/v1/orders/" + order["order_id"].get<std::string>();
    EXPECT_TRUE(testing::eventually([&] { return s.get(path, es).status == 200; }));  // once projected
    EXPECT_EQ(json::parse(s.get(path, es).body)["customer_id"], "cus-ida");
    // Ownership still decides: another customer's credit is not Ida's to read.
    EXPECT_EQ(s.get("/v1/customers/cus-other/credit", es).status, 403);
    // The role is tally's, not the token's: a customer token claiming admin gains nothing.
    auto claims = t.claims("cus-ida");
    claims["role"] = "admin";
    EXPECT_EQ(s.get("/v1/principals", t.keys.rsa1.sign(claims)).status, 403);
    // A subject tally does not hold is refused.
    auto stranger = s.get("/v1/customers/cus-nobody/credit", t.keys.rsa1.sign(t.claims("cus-nobody")));
    EXPECT_EQ(stranger.status, 401);
    EXPECT_NE(stranger.body.find("principal_unknown"), std::string::npos) << stranger.body;
    // The development keys (HS256) still work beside the provider.
    EXPECT_EQ(s.get("/v1/principals", s.admin).status, 200);
}

TEST(IdentityProviderTokens, AnotherAudienceOrIssuerOrAnExpiredTokenIsRefusedByName) {
    IdpShop t;
    auto& s = t.s;
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-1", {{"role", "customer"}}, s.admin).status, 201);
    auto wrong_aud = t.claims("cus-1");
    wrong_aud["aud"] = "another-api";
    auto r = s.get("/v1/customers/cus-1/credit", t.keys.rsa1.sign(wrong_aud));
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("audience (aud)"), std::string::npos) << r.body;

    auto wrong_iss = t.claims("cus-1");
    wrong_iss["iss"] = "https://login.evil.test/";
    r = s.get("/v1/customers/cus-1/credit", t.keys.ec1.sign(wrong_iss));
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("issuer (iss)"), std::string::npos) << r.body;

    auto expired = testing::idp_claims(kIss, kAud, "cus-1", now_s() - 7200, 3600);
    r = s.get("/v1/customers/cus-1/credit", t.keys.rsa1.sign(expired));
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("expired"), std::string::npos) << r.body;

    auto early = t.claims("cus-1");
    early["nbf"] = now_s() + 600;
    r = s.get("/v1/customers/cus-1/credit", t.keys.rsa1.sign(early));
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.body.find("(nbf)"), std::string::npos) << r.body;
    // Within the clock-skew leeway, the same shapes pass.
    early["nbf"] = now_s() + 5;
    EXPECT_EQ(s.get("/v1/customers/cus-1/credit", t.keys.rsa1.sign(early)).status, 200);
    // An HS256 header cannot ride on the provider's key id.
    r = s.get("/v1/customers/cus-1/credit", t.keys.rsa1.sign(t.claims("cus-1"), "HS256"));
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(s.number("SELECT count(*) FROM journal WHERE actor = 'cus-1'"), 0);
}

TEST(IdentityProviderTokens, ARotationInTheFileReachesTallydWithoutARestart) {
    IdpShop t;
    auto& s = t.s;
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-2", {{"role", "customer"}}, s.admin).status, 201);
    const auto old_token = t.keys.rsa1.sign(t.claims("cus-2"));
    const auto new_token = t.keys.rsa2.sign(t.claims("cus-2"));
    ASSERT_EQ(s.get("/v1/customers/cus-2/credit", old_token).status, 200);
    EXPECT_EQ(s.get("/v1/customers/cus-2/credit", new_token).status, 401);
    // The provider publishes its next key beside the current one...
    write_file(t.jwks, testing::jwks_of({&t.keys.rsa1, &t.keys.rsa2, &t.keys.ec1}));
    EXPECT_TRUE(testing::eventually([&] { return s.get("/v1/customers/cus-2/credit", new_token).status == 200; },
                                    std::chrono::seconds(15)));
    EXPECT_EQ(s.get("/v1/customers/cus-2/credit", old_token).status, 200);
    // ...then retires the old one: its tokens stop working, remembered or not.
    write_file(t.jwks, testing::jwks_of({&t.keys.rsa2}));
    EXPECT_TRUE(testing::eventually([&] { return s.get("/v1/customers/cus-2/credit", old_token).status == 401; },
                                    std::chrono::seconds(15)));
    EXPECT_EQ(s.get("/v1/customers/cus-2/credit", new_token).status, 200);
    // A broken file keeps the last good set.
    write_file(t.jwks, "{\"keys\": ");
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    EXPECT_EQ(s.get("/v1/customers/cus-2/credit", new_token).status, 200);
    EXPECT_TRUE(testing::eventually([&] {
        auto m = s.get("/metrics", "");
        return m.body.find("tally_jwks_refresh_total{outcome=\"failed\"}") != std::string::npos;
    }, std::chrono::seconds(10)));
}

TEST(IdentityProviderTokens, RevokeDisableAndRoleChangeRefuseEarlierProviderTokens) {
    IdpShop t;
    auto& s = t.s;
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-3", {{"role", "customer"}}, s.admin).status, 201);
    const auto before = t.keys.ec1.sign(t.claims("cus-3", now_s() - 5));
    ASSERT_EQ(s.get("/v1/customers/cus-3/credit", before).status, 200);
    ASSERT_EQ(s.send("PUT", "/v1/customers/cus-3/profile", {{"display_name", "Before"}}, before).status, 200);

    ASSERT_EQ(s.send("POST", "/v1/principals/cus-3/revoke", {{"reason", "phone stolen"}}, s.admin).status, 200);
    auto refused = s.get("/v1/customers/cus-3/credit", before);
    EXPECT_EQ(refused.status, 401);
    EXPECT_NE(refused.body.find("token_revoked"), std::string::npos) << refused.body;
    EXPECT_EQ(s.send("PUT", "/v1/customers/cus-3/profile", {{"display_name", "Thief"}}, before).status, 401);
    // Signing in again after the revoke (a later iat) works.
    const auto after = t.keys.ec1.sign(t.claims("cus-3", now_s() + 2));
    EXPECT_EQ(s.get("/v1/customers/cus-3/credit", after).status, 200);

    // A disabled principal is refused whatever the provider says.
    ASSERT_EQ(s.send("PUT", "/v1/principals/cus-3", {{"role", "customer"}, {"active", false}}, s.admin).status, 200);
    auto disabled = s.get("/v1/customers/cus-3/credit", t.keys.ec1.sign(t.claims("cus-3", now_s() + 30)));
    EXPECT_EQ(disabled.status, 401);
    EXPECT_NE(disabled.body.find("principal_unknown"), std::string::npos) << disabled.body;
}

TEST(IdentityProviderTokens, TallydRefusesAKeySetItCannotUseAtStart) {
    const std::string dir = temp_dir();
    auto start = [&](std::map<std::string, std::string> env) {
        env.emplace("TALLY_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none");
        testing::Process p;
        p.start(testing::binary_dir() + "/tools/tallyd", {}, env, dir + "/tallyd.log");
        const int status = p.wait();
        return std::make_pair(status, p.log());
    };
    auto [missing, log1] = start({{"TALLY_JWKS_FILE", dir + "/absent.json"}, {"TALLY_JWT_ISSUER", kIss}, {"TALLY_JWT_AUDIENCE", kAud}});
    EXPECT_EQ(missing, 2) << log1;
    EXPECT_NE(log1.find("absent.json"), std::string::npos) << log1;
    auto [both, log2] = start({{"TALLY_JWKS_FILE", dir + "/a.json"}, {"TALLY_JWKS_URL", "https://id.example.test/jwks"},
                               {"TALLY_JWT_ISSUER", kIss}, {"TALLY_JWT_AUDIENCE", kAud}});
    EXPECT_EQ(both, 2) << log2;
    EXPECT_NE(log2.find("both set"), std::string::npos) << log2;
    Keys k;
    write_file(dir + "/ok.json", testing::jwks_of({&k.ec1}));
    auto [no_aud, log3] = start({{"TALLY_JWKS_FILE", dir + "/ok.json"}, {"TALLY_JWT_ISSUER", kIss}});
    EXPECT_EQ(no_aud, 2) << log3;
    EXPECT_NE(log3.find("TALLY_JWT_AUDIENCE"), std::string::npos) << log3;
    std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace tally
