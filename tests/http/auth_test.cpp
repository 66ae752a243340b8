#include "http/auth.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tally::http {
namespace {

constexpr int64_t kNow = 1'800'000'000;

KeyRing ring(const char* spec) { return *KeyRing::parse(spec); }

TokenClaims claims(const char* role = "admin") { return {"admin-1", role, 3, kNow, kNow + 600, 0}; }

}  // namespace

TEST(KeyRing, ParsesAndRefusesWeakSpecs) {
    EXPECT_TRUE(KeyRing::parse("k1:0123456789abcdef"));
    EXPECT_TRUE(KeyRing::parse("k1:0123456789abcdef,k2:fedcba9876543210"));
    EXPECT_FALSE(KeyRing::parse(""));
    EXPECT_FALSE(KeyRing::parse("k1:short"));
    EXPECT_FALSE(KeyRing::parse("nocolon"));
    EXPECT_FALSE(KeyRing::parse(":0123456789abcdef"));
}

TEST(Jwt, MintedTokenVerifies) {
    auto k = ring("k1:0123456789abcdef");
    auto c = k.verify(k.mint(claims()), kNow);
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->sub, "admin-1");
    EXPECT_EQ(c->role, "admin");
    EXPECT_EQ(c->session_version, 3);
}

TEST(Jwt, RotationVerifiesWithAnyKnownKid) {
    auto old_ring = ring("old:fedcba9876543210");
    auto rotated = ring("new:0123456789abcdef,old:fedcba9876543210");
    EXPECT_TRUE(rotated.verify(old_ring.mint(claims()), kNow));
    // A ring that no longer holds the kid refuses the token.
    EXPECT_EQ(ring("new:0123456789abcdef").verify(old_ring.mint(claims()), kNow).error(),
              "the token's key id is unknown");
}

TEST(Jwt, ExpiredTokenIsRefused) {
    auto k = ring("k1:0123456789abcdef");
    EXPECT_EQ(k.verify(k.mint(claims()), kNow + 600).error(), "the token has expired");
}

TEST(Jwt, ForgedSignatureIsRefused) {
    auto k = ring("k1:0123456789abcdef");
    auto forger = ring("k1:ffffffffffffffff");  // same kid, other secret
    EXPECT_EQ(k.verify(forger.mint(claims()), kNow).error(), "the token's signature does not verify");
}

TEST(Jwt, TamperedPayloadIsRefused) {
    auto k = ring("k1:0123456789abcdef");
    std::string t = k.mint(claims("customer"));
    // Swap in the payload of an admin token, keeping the customer token's signature.
    std::string admin = k.mint(claims("admin"));
    const auto d1 = t.find('.'), d2 = t.rfind('.');
    const auto a1 = admin.find('.'), a2 = admin.rfind('.');
    std::string forged = t.substr(0, d1 + 1) + admin.substr(a1 + 1, a2 - a1 - 1) + t.substr(d2);
    EXPECT_FALSE(k.verify(forged, kNow));
}

// A token once verified is remembered by its text: the times are still checked on each
// call, and a token differing in any byte (a forgery beside a remembered one) is checked
// in full.
TEST(Jwt, ARememberedTokenIsStillCheckedForTimeAndAForgeryBesideItIsNot) {
    auto k = ring("k1:0123456789abcdef");
    const std::string t = k.mint(claims("customer"));
    ASSERT_TRUE(k.verify(t, kNow));
    ASSERT_TRUE(k.verify(t, kNow + 599));
    EXPECT_EQ(k.verify(t, kNow + 600).error(), "the token has expired");
    EXPECT_EQ(k.verify(t, kNow - 3600).error(), "the token was issued in the future (iat)");
    // Each byte of the signature changed in turn: refused, although the original is remembered.
    const std::string admin = k.mint(claims("admin"));
    const auto a1 = admin.find('.'), a2 = admin.rfind('.');
    const std::string forged = t.substr(0, t.find('.') + 1) + admin.substr(a1 + 1, a2 - a1 - 1) + t.substr(t.rfind('.'));
    EXPECT_EQ(k.verify(forged, kNow).error(), "the token's signature does not verify");
    std::string flipped = t;
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(k.verify(flipped, kNow));
    // A copy of the ring shares what was learnt, and a ring with other keys learns nothing from it.
    const KeyRing copy = k;
    EXPECT_TRUE(copy.verify(t, kNow));
    EXPECT_EQ(ring("k1:ffffffffffffffff").verify(t, kNow).error(), "the token's signature does not verify");
    // More tokens than it remembers: all still verify.
    for (int i = 0; i < static_cast<int>(KeyRing::kVerifiedTokens) + 10; ++i) {
        TokenClaims c = claims();
        c.sub = "c" + std::to_string(i);
        ASSERT_TRUE(k.verify(k.mint(c), kNow)) << i;
    }
    EXPECT_TRUE(k.verify(t, kNow));
}

TEST(Jwt, AlgNoneAndGarbageAreRefused) {
    auto k = ring("k1:0123456789abcdef");
    // {"alg":"none","kid":"k1"} . {"sub":"x","role":"admin","sv":1,"exp":9999999999} .
    const std::string none = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIiwic3YiOjEsImV4cCI6OTk5OTk5OTk5OX0.";
    EXPECT_EQ(k.verify(none, kNow).error(),
              "the token's algorithm must be HS256 (RS256 and ES256 only from the identity provider, when one is configured)");
    EXPECT_FALSE(k.verify("", kNow));
    EXPECT_FALSE(k.verify("a.b", kNow));
    EXPECT_FALSE(k.verify("a.b.c.d", kNow));
    EXPECT_FALSE(k.verify("!!!.???.***", kNow));
}

TEST(Jwt, UnknownRoleIsRefused) {
    auto k = ring("k1:0123456789abcdef");
    EXPECT_EQ(k.verify(k.mint(claims("superuser")), kNow).error(), "the token names an unknown role");
}

}  // namespace tally::http

namespace tally::http {

// Finding 9 of the hostile-input review: nbf was ignored and a future iat accepted.
TEST(Jwt, TokensFromTheFutureAreRefused) {
    auto k = *KeyRing::parse("test:0123456789abcdef0123456789abcdef");
    TokenClaims future = {"admin-1", "admin", 1, kNow + kClockSkewSeconds + 1, kNow + 600, 0};
    EXPECT_EQ(k.verify(k.mint(future), kNow).error(), "the token was issued in the future (iat)");
    TokenClaims skewed = {"admin-1", "admin", 1, kNow + kClockSkewSeconds, kNow + 600, 0};
    EXPECT_TRUE(k.verify(k.mint(skewed), kNow));
    TokenClaims not_yet = {"admin-1", "admin", 1, kNow, kNow + 600, kNow + kClockSkewSeconds + 1};
    EXPECT_EQ(k.verify(k.mint(not_yet), kNow).error(), "the token is not valid yet (nbf)");
    TokenClaims now_valid = {"admin-1", "admin", 1, kNow, kNow + 600, kNow};
    EXPECT_TRUE(k.verify(k.mint(now_valid), kNow));
}

}  // namespace tally::http

namespace tally::http {

// Referral cookies: signed under their own ring, verified in constant time; rotation
// keeps cookies signed with the previous key good; forgery, tampering, a foreign key,
// expiry and malformed values each fail, and say which.
TEST(ReferralCookie, SignsVerifiesRotatesAndRefusesForgeries) {
    auto current = *KeyRing::parse("new:0123456789abcdef0123456789abcdef,old:fedcba9876543210fedcba9876543210",
                                   "TALLY_REFERRAL_KEYS");
    auto previous = *KeyRing::parse("old:fedcba9876543210fedcba9876543210", "TALLY_REFERRAL_KEYS");
    const ReferralClaims claims{"aff-1", kNow, kNow + 30 * 24 * 3600};
    const std::string cookie = current.mint_referral(claims);
    EXPECT_EQ(cookie.rfind("r1.", 0), 0u);
    auto back = current.verify_referral(cookie, kNow + 10);
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(back->affiliate_id, "aff-1");
    EXPECT_EQ(back->expires_at, claims.expires_at);
    // Signed with the previous key, before the rotation: still good.
    EXPECT_TRUE(current.verify_referral(previous.mint_referral(claims), kNow));
    // A key the ring does not hold; the ring that dropped the old key.
    auto stranger = *KeyRing::parse("new:ffffffffffffffffffffffffffffffff");
    EXPECT_EQ(current.verify_referral(stranger.mint_referral(claims), kNow).error(), "bad_signature");
    auto rotated_out = *KeyRing::parse("new:0123456789abcdef0123456789abcdef");
    EXPECT_EQ(rotated_out.verify_referral(previous.mint_referral(claims), kNow).error(), "unknown_key");
    // Another affiliate's id put into a good cookie: the signature no longer matches.
    const ReferralClaims other{"aff-2", kNow, kNow + 30 * 24 * 3600};
    const std::string forged_claims = current.mint_referral(other);
    const auto dot = [](const std::string& s, int n) {
        size_t at = 0;
        for (int i = 0; i < n; ++i) at = s.find('.', at) + 1;
        return at;
    };
    std::string tampered = cookie.substr(0, dot(cookie, 1)) + forged_claims.substr(dot(forged_claims, 1), dot(forged_claims, 2) - dot(forged_claims, 1)) +
                           cookie.substr(dot(cookie, 2));
    EXPECT_EQ(current.verify_referral(tampered, kNow).error(), "bad_signature");
    std::string flipped = cookie;
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    EXPECT_EQ(current.verify_referral(flipped, kNow).error(), "bad_signature");
    // Expired at the second it ends; malformed in several ways.
    EXPECT_EQ(current.verify_referral(cookie, claims.expires_at).error(), "expired");
    for (const std::string& bad : std::vector<std::string>{"", "r1", "r1.a.b", "r2.x.new.y", "r1..new.", "r1.!!.new.AAAA", std::string(2000, 'a')})
        EXPECT_FALSE(current.verify_referral(bad, kNow)) << bad;
    // A login token is not a referral cookie, even under the same secret.
    auto login = *KeyRing::parse("new:0123456789abcdef0123456789abcdef");
    EXPECT_EQ(current.verify_referral(login.mint({"aff-1", "affiliate", 1, kNow, kNow + 60, 0}), kNow).error(), "malformed");
    EXPECT_FALSE(KeyRing::parse("a.b:0123456789abcdef0123456789abcdef", "TALLY_REFERRAL_KEYS"));
    EXPECT_NE(KeyRing::parse("short:1", "TALLY_REFERRAL_KEYS").error().find("TALLY_REFERRAL_KEYS"), std::string::npos);
}

}  // namespace tally::http
