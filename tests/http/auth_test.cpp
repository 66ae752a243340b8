#include "http/auth.h"

#include <gtest/gtest.h>

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

TEST(Jwt, AlgNoneAndGarbageAreRefused) {
    auto k = ring("k1:0123456789abcdef");
    // {"alg":"none","kid":"k1"} . {"sub":"x","role":"admin","sv":1,"exp":9999999999} .
    const std::string none = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIiwic3YiOjEsImV4cCI6OTk5OTk5OTk5OX0.";
    EXPECT_EQ(k.verify(none, kNow).error(), "the token's algorithm must be HS256");
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
