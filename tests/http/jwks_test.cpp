// Tokens from an identity provider: RS256 and ES256 verified against a JWKS whose keys
// are made here, rotation through the loader, and every claim check with its bounds.

#include "http/jwks.h"

#include <atomic>
#include <thread>
#include <gtest/gtest.h>

#include "http/server.h"
#include "tests/support/test_idp.h"

namespace tally::http {
namespace {

using testing::TestKey;

constexpr int64_t kNow = 1'800'000'000;
const std::string kIss = "https://id.example.test/";
const std::string kAud = "tally-api";

// Keys are slow to make (RSA): once for the whole suite.
struct Keys {
    TestKey rsa1 = TestKey::rsa("rsa-1");
    TestKey rsa2 = TestKey::rsa("rsa-2");
    TestKey ec1 = TestKey::ec("ec-1");
};
const Keys& keys() {
    static const Keys k;
    return k;
}

// A provider whose key set is whatever `doc` holds when it reads it.
struct Provider {
    std::shared_ptr<std::string> doc = std::make_shared<std::string>();
    std::shared_ptr<std::atomic<int>> reads = std::make_shared<std::atomic<int>>(0);
    std::unique_ptr<IdentityProvider> idp;

    explicit Provider(std::string first, int64_t refresh_s = 300) {
        *doc = std::move(first);
        auto d = doc;
        auto r = reads;
        auto started = IdentityProvider::start(IdpSettings{.issuer = kIss, .audience = kAud, .source = "test", .refresh_s = refresh_s},
                                               [d, r]() -> std::expected<std::string, std::string> {
                                                   ++*r;
                                                   return *d;
                                               },
                                               false, false);
        if (!started) throw std::runtime_error(started.error());
        idp = std::move(*started);
    }
    std::expected<TokenClaims, std::string> verify(const std::string& token, int64_t now = kNow) {
        auto r = idp->verify(token, now);
        if (!r) return std::unexpected("not for the identity provider");
        return *r;
    }
};

nlohmann::json claims(const std::string& sub = "cust-1") { return testing::idp_claims(kIss, kAud, sub, kNow); }

TEST(Jwks, AcceptsRs256AndEs256TokensFromTheSet) {
    Provider p(testing::jwks_of({&keys().rsa1, &keys().ec1}));
    EXPECT_EQ(p.idp->keys(), 2u);
    auto rsa = p.verify(keys().rsa1.sign(claims("alice")));
    ASSERT_TRUE(rsa) << rsa.error();
    EXPECT_EQ(rsa->sub, "alice");
    EXPECT_TRUE(rsa->external);
    EXPECT_TRUE(rsa->role.empty());  // the principal's role comes from tally, not the token
    EXPECT_EQ(rsa->issued_at, kNow);
    auto ec = p.verify(keys().ec1.sign(claims("bob")));
    ASSERT_TRUE(ec) << ec.error();
    EXPECT_EQ(ec->sub, "bob");
    // The cached second look still checks the times.
    EXPECT_TRUE(p.verify(keys().ec1.sign(claims("bob"))));
}

TEST(Jwks, AudienceMayBeAnArrayThatHoldsOurs) {
    Provider p(testing::jwks_of({&keys().rsa1}));
    auto c = claims();
    c["aud"] = nlohmann::json::array({"other", kAud});
    EXPECT_TRUE(p.verify(keys().rsa1.sign(c)));
    c["aud"] = nlohmann::json::array({"other"});
    auto r = p.verify(keys().rsa1.sign(c));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("audience"), std::string::npos) << r.error();
}

TEST(Jwks, RefusesWrongAudienceAndWrongIssuer) {
    Provider p(testing::jwks_of({&keys().rsa1}));
    auto c = claims();
    c["aud"] = "someone-else";
    auto aud = p.verify(keys().rsa1.sign(c));
    ASSERT_FALSE(aud);
    EXPECT_EQ(aud.error(), "the token's audience (aud) does not name tally-api");
    c = claims();
    c["iss"] = "https://evil.example.test/";
    auto iss = p.verify(keys().rsa1.sign(c));
    ASSERT_FALSE(iss);
    EXPECT_NE(iss.error().find("issuer (iss)"), std::string::npos) << iss.error();
    c = claims();
    c.erase("iss");
    EXPECT_FALSE(p.verify(keys().rsa1.sign(c)));
}

TEST(Jwks, RequiresSubExpAndIat) {
    Provider p(testing::jwks_of({&keys().rsa1}));
    for (const char* claim : {"sub", "exp", "iat"}) {
        auto c = claims();
        c.erase(claim);
        auto r = p.verify(keys().rsa1.sign(c));
        ASSERT_FALSE(r) << claim;
        EXPECT_NE(r.error().find(std::string("(") + claim + ")"), std::string::npos) << r.error();
    }
    auto c = claims();
    c["exp"] = "tomorrow";
    auto r = p.verify(keys().rsa1.sign(c));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("NumericDate"), std::string::npos) << r.error();
}

TEST(Jwks, ExpiryHonoursTheSkewAndNoMore) {
    Provider p(testing::jwks_of({&keys().ec1}));
    const int64_t skew = kClockSkewSeconds;
    const auto token = keys().ec1.sign(testing::idp_claims(kIss, kAud, "u", kNow - 3600, 3600));  // exp == kNow
    EXPECT_TRUE(p.verify(token, kNow + skew - 1));
    auto late = p.verify(token, kNow + skew);
    ASSERT_FALSE(late);
    EXPECT_EQ(late.error(), "the token has expired");
}

TEST(Jwks, NotBeforeAndIssuedAtMayLeadByTheSkewAndNoMore) {
    Provider p(testing::jwks_of({&keys().rsa1}));
    const int64_t skew = kClockSkewSeconds;
    auto c = claims();
    c["nbf"] = kNow + skew;
    EXPECT_TRUE(p.verify(keys().rsa1.sign(c)));
    c["nbf"] = kNow + skew + 1;
    auto nbf = p.verify(keys().rsa1.sign(c));
    ASSERT_FALSE(nbf);
    EXPECT_EQ(nbf.error(), "the token is not valid yet (nbf)");
    // The same token is good once the clock reaches it.
    EXPECT_TRUE(p.verify(keys().rsa1.sign(c), kNow + 1));

    auto i = testing::idp_claims(kIss, kAud, "u", kNow + skew);
    EXPECT_TRUE(p.verify(keys().rsa1.sign(i)));
    i = testing::idp_claims(kIss, kAud, "u", kNow + skew + 1);
    auto iat = p.verify(keys().rsa1.sign(i));
    ASSERT_FALSE(iat);
    EXPECT_EQ(iat.error(), "the token was issued in the future (iat)");
}

TEST(Jwks, RefusesForgeriesAndMismatches) {
    Provider p(testing::jwks_of({&keys().rsa1, &keys().ec1}));
    // Signed by a key the set does not hold, under a kid it does.
    auto other = TestKey::ec("ec-1");
    auto forged = p.verify(other.sign(claims()));
    ASSERT_FALSE(forged);
    EXPECT_EQ(forged.error(), "the token's signature does not verify");
    // An ES256 header over the RSA key's id.
    auto mismatch = p.verify(keys().ec1.sign(claims(), "ES256", "rsa-1"));
    ASSERT_FALSE(mismatch);
    EXPECT_EQ(mismatch.error(), "the token's algorithm does not match its key");
    // A payload changed after signing.
    auto token = keys().rsa1.sign(claims("alice"));
    const size_t d1 = token.find('.'), d2 = token.rfind('.');
    const auto evil = token.substr(0, d1 + 1) + testing::test_base64url(claims("root").dump()) + token.substr(d2);
    EXPECT_FALSE(p.verify(evil));
    // Unknown key id.
    auto unknown = p.verify(keys().rsa2.sign(claims()));
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().find("key id"), std::string::npos) << unknown.error();
    // Not a token at all, and an oversized one.
    EXPECT_FALSE(p.verify("eyJhbGciOiJSUzI1NiJ9.x"));
    EXPECT_FALSE(p.verify(std::string(9000, 'a') + "." + "b.c"));
}

TEST(Jwks, LeavesHs256TokensToTheKeyRing) {
    Provider p(testing::jwks_of({&keys().rsa1}));
    auto ring = KeyRing::parse("k:0123456789abcdef0123456789abcdef");
    ASSERT_TRUE(ring);
    const auto hs = ring->mint(TokenClaims{.sub = "dev", .role = "admin", .issued_at = kNow, .expires_at = kNow + 60});
    EXPECT_FALSE(p.idp->verify(hs, kNow).has_value());  // nullopt: not the provider's
    EXPECT_TRUE(ring->verify(hs, kNow));
    // And the ring refuses the provider's algorithms, naming where they belong.
    auto rs = ring->verify(keys().rsa1.sign(claims()), kNow);
    ASSERT_FALSE(rs);
    EXPECT_NE(rs.error().find("identity provider"), std::string::npos) << rs.error();
}

TEST(Jwks, RotationAddsTheNewKeyAndDropsTheOld) {
    Provider p(testing::jwks_of({&keys().rsa1}), /*refresh_s=*/1);
    const auto old_token = keys().rsa1.sign(claims("alice"));
    ASSERT_TRUE(p.verify(old_token));
    // The provider publishes its next key beside the current one.
    *p.doc = testing::jwks_of({&keys().rsa1, &keys().rsa2});
    const auto new_token = keys().rsa2.sign(claims("alice"));
    // An unknown kid reads the set again, at most every min(refresh_s, 30) s.
    bool seen = false;
    for (int i = 0; i < 50 && !seen; ++i) {
        seen = p.verify(new_token).has_value();
        if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(seen);
    EXPECT_TRUE(p.verify(old_token));
    // Then retires the old one: tokens signed by it are refused, remembered or not.
    *p.doc = testing::jwks_of({&keys().rsa2});
    ASSERT_TRUE(p.idp->refresh());
    EXPECT_EQ(p.idp->keys(), 1u);
    auto retired = p.verify(old_token);
    ASSERT_FALSE(retired);
    EXPECT_NE(retired.error().find("key id"), std::string::npos) << retired.error();
    EXPECT_TRUE(p.verify(new_token));
}

TEST(Jwks, UnknownKidsDoNotHammerTheProvider) {
    Provider p(testing::jwks_of({&keys().rsa1}), /*refresh_s=*/300);
    const int before = p.reads->load();
    for (int i = 0; i < 20; ++i) EXPECT_FALSE(p.verify(keys().rsa2.sign(claims())));
    EXPECT_EQ(p.reads->load(), before);  // read at start less than 30 s ago: no new read
}

TEST(Jwks, ABadReadKeepsTheLastGoodSet) {
    Provider p(testing::jwks_of({&keys().ec1}));
    *p.doc = "{\"keys\": 7}";
    EXPECT_FALSE(p.idp->refresh());
    EXPECT_NE(p.idp->last_error().find("not a JWKS document"), std::string::npos) << p.idp->last_error();
    EXPECT_EQ(p.idp->keys(), 1u);
    EXPECT_TRUE(p.verify(keys().ec1.sign(claims())));
    *p.doc = testing::jwks_of({&keys().ec1});
    EXPECT_TRUE(p.idp->refresh());
    EXPECT_EQ(p.idp->last_error(), "");
}

TEST(Jwks, ParseRefusesWeakAndMalformedKeys) {
    auto small = TestKey::rsa("small", 1024);
    auto r = Jwks::parse(testing::jwks_of({&small}));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("1024 bits"), std::string::npos) << r.error();

    auto twice = Jwks::parse(testing::jwks_of({&keys().rsa1, &keys().rsa1}));
    ASSERT_FALSE(twice);
    EXPECT_NE(twice.error().find("appears twice"), std::string::npos) << twice.error();

    auto off_curve = keys().ec1.jwk();
    off_curve["y"] = testing::test_base64url(std::string(32, '\x01'));
    auto bad = Jwks::parse(nlohmann::json{{"keys", {off_curve}}}.dump());
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("ec-1"), std::string::npos) << bad.error();

    auto no_kid = keys().rsa1.jwk();
    no_kid.erase("kid");
    EXPECT_FALSE(Jwks::parse(nlohmann::json{{"keys", {no_kid}}}.dump()));
    EXPECT_FALSE(Jwks::parse("not json"));
    EXPECT_FALSE(Jwks::parse("[]"));

    // Keys tally does not use are left out, not refused.
    auto enc = keys().rsa2.jwk();
    enc["use"] = "enc";
    auto hs = nlohmann::json{{"kty", "oct"}, {"kid", "sym"}, {"k", "AAAA"}};
    auto kept = Jwks::parse(nlohmann::json{{"keys", {keys().rsa1.jwk(), enc, hs}}}.dump());
    ASSERT_TRUE(kept) << kept.error();
    EXPECT_EQ(kept->size(), 1u);
    EXPECT_TRUE(kept->has("rsa-1"));
}

TEST(Jwks, StartRefusesAnUnreadableSetUnlessTolerated) {
    auto failing = []() -> std::expected<std::string, std::string> { return std::unexpected("connection refused"); };
    auto strict = IdentityProvider::start(IdpSettings{.issuer = kIss, .audience = kAud, .source = "x"}, failing, false, false);
    ASSERT_FALSE(strict);
    EXPECT_NE(strict.error().find("connection refused"), std::string::npos);
    auto tolerant = IdentityProvider::start(IdpSettings{.issuer = kIss, .audience = kAud, .source = "x"}, failing, true, false);
    ASSERT_TRUE(tolerant);
    auto r = (*tolerant)->verify(keys().rsa1.sign(claims()), kNow);
    ASSERT_TRUE(r.has_value());
    ASSERT_FALSE(*r);
    EXPECT_NE(r->error().find("not loaded"), std::string::npos);
    EXPECT_FALSE(IdentityProvider::start(IdpSettings{.issuer = "", .audience = kAud, .source = "x"}, failing, true, false));
}

TEST(Jwks, UrlLoaderFetchesFromAServerAndRefusesPlainHttpElsewhere) {
    std::atomic<int> status{200};
    const std::string doc = testing::jwks_of({&keys().ec1});
    Server server(ServerOptions{.address = "127.0.0.1", .port = 0, .threads = 1, .read_threads = 0, .write_threads = 0},
                  [&](Request req, Respond respond) {
                      Response res;
                      res.status = req.target == "/.well-known/jwks.json" ? status.load() : 404;
                      res.body = res.status == 200 ? doc : "{}";
                      respond(std::move(res));
                  });
    ASSERT_TRUE(server.start());
    const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
    auto loader = jwks_url_loader(base + "/.well-known/jwks.json");
    ASSERT_TRUE(loader) << loader.error();
    auto got = (*loader)();
    ASSERT_TRUE(got) << got.error();
    EXPECT_EQ(*got, doc);
    status = 503;
    auto failed = (*loader)();
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().find("503"), std::string::npos) << failed.error();

    EXPECT_FALSE(jwks_url_loader("http://id.example.test/jwks.json"));
    EXPECT_FALSE(jwks_url_loader("ftp://127.0.0.1/jwks.json"));
    EXPECT_TRUE(jwks_url_loader("https://id.example.test/.well-known/jwks.json"));
    server.stop_accepting();
    server.stop();
}

}  // namespace
}  // namespace tally::http
