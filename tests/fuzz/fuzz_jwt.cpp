// Fuzz target: bearer tokens (http/auth.h, http/jwks.h). The first byte picks:
//  0: tally's own HS256 token check (KeyRing::verify) on the rest as a token;
//  1: a referral cookie (KeyRing::verify_referral);
//  2: an identity provider's RS256/ES256 token (IdentityProvider::verify) against a key
//     set made at start;
//  3: a JWKS document (Jwks::parse);
//  4: claims decoded from the rest, minted (by the ring or by the provider's keys), then
//     verified.
// Properties, on every input: a token accepted has a known role (own tokens) or a
// principal, is not expired, not issued or valid only in the future beyond the skew;
// an identity provider's token is accepted only when signed by one of its keys for
// its issuer and audience; a minted token verifies to the claims it was minted from,
// and does not once any byte of it changes; errors say why.

#include <fuzzer/FuzzedDataProvider.h>

#include <memory>
#include <string>

#include "http/auth.h"
#include "http/jwks.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/test_idp.h"

namespace {

using namespace tally;

constexpr int64_t kNow = 1'800'000'000;

struct World {
    http::KeyRing ring = *http::KeyRing::parse("k1:fuzz-secret-current,k0:fuzz-secret-previous");
    testing::TestKey rsa = testing::TestKey::rsa("rsa-1");
    testing::TestKey ec = testing::TestKey::ec("ec-1");
    std::unique_ptr<http::IdentityProvider> idp;
    World() {
        std::string doc = testing::jwks_of({&rsa, &ec});
        auto started = http::IdentityProvider::start({"https://idp.test/", "tally", "fuzz", 300, http::kClockSkewSeconds},
                                                     [doc] { return std::expected<std::string, std::string>(doc); },
                                                     false, false);
        if (!started) std::abort();
        idp = std::move(*started);
    }
};

World& world() {
    static World w;
    return w;
}

std::string printable(FuzzedDataProvider& in, size_t max) {
    std::string s = in.ConsumeRandomLengthString(max);
    for (char& c : s) c = static_cast<char>(0x21 + static_cast<unsigned char>(c) % 94);
    return s;
}

// The token with one byte of its signed part (before the last dot) changed.
std::string tamper(FuzzedDataProvider& in, std::string token) {
    const size_t at = in.ConsumeIntegralInRange<size_t>(0, token.rfind('.') - 1);
    token[at] = static_cast<char>(token[at] == 'A' ? 'B' : 'A');
    return token;
}

void own_token(std::string_view token) {
    auto v = world().ring.verify(token, kNow);
    if (!v) {
        TALLY_FUZZ_CHECK(!v.error().empty());
        return;
    }
    TALLY_FUZZ_CHECK(http::is_known_role(v->role));
    TALLY_FUZZ_CHECK(!v->sub.empty());
    TALLY_FUZZ_CHECK(v->expires_at > kNow);
    TALLY_FUZZ_CHECK(v->issued_at <= kNow + http::kClockSkewSeconds);
    TALLY_FUZZ_CHECK(v->not_before <= kNow + http::kClockSkewSeconds);
    // Accepted once, accepted again (the cache of verified tokens agrees with the check).
    TALLY_FUZZ_CHECK(world().ring.verify(token, kNow).has_value());
}

void minted(FuzzedDataProvider& in) {
    static const char* roles[] = {"admin", "finance", "support", "auditor", "vendor", "customer", "affiliate"};
    http::TokenClaims c;
    c.sub = printable(in, 64);
    c.role = roles[in.ConsumeIntegralInRange<size_t>(0, std::size(roles) - 1)];
    c.session_version = in.ConsumeIntegral<int64_t>();
    c.issued_at = kNow + in.ConsumeIntegralInRange<int64_t>(-100000, 1000);
    c.expires_at = kNow + in.ConsumeIntegralInRange<int64_t>(-1000, 100000);
    c.not_before = in.ConsumeBool() ? 0 : kNow + in.ConsumeIntegralInRange<int64_t>(-1000, 1000);
    const std::string token = world().ring.mint(c);
    auto v = world().ring.verify(token, kNow);
    const bool valid = http::is_known_role(c.role) && !c.sub.empty() && c.expires_at > kNow &&
                       c.issued_at <= kNow + http::kClockSkewSeconds && c.not_before <= kNow + http::kClockSkewSeconds;
    TALLY_FUZZ_CHECK(v.has_value() == valid);
    if (v) {
        TALLY_FUZZ_CHECK(v->sub == c.sub && v->role == c.role && v->session_version == c.session_version);
        TALLY_FUZZ_CHECK(v->expires_at == c.expires_at && v->issued_at == c.issued_at && v->not_before == c.not_before);
        // Any one byte changed in the signed part: refused.
        const std::string tampered = tamper(in, token);
        TALLY_FUZZ_CHECK(!world().ring.verify(tampered, kNow).has_value());
    }
}

void idp_token(std::string_view token) {
    auto v = world().idp->verify(token, kNow);
    if (!v) return;  // not RS256/ES256: the HS256 ring's
    if (!*v) {
        TALLY_FUZZ_CHECK(!v->error().empty());
        return;
    }
    TALLY_FUZZ_CHECK((*v)->external);
    TALLY_FUZZ_CHECK(!(*v)->sub.empty());
    TALLY_FUZZ_CHECK((*v)->expires_at > kNow - http::kClockSkewSeconds);
}

// The identity provider's own tokens, over fuzzed subjects and lifetimes: they verify
// when live, to their subject, and not once a byte of the signed part changes.
void provider_minted(FuzzedDataProvider& in) {
    const std::string sub = printable(in, 64);
    const int64_t issued = kNow + in.ConsumeIntegralInRange<int64_t>(-10000, 1000);
    const int64_t ttl = in.ConsumeIntegralInRange<int64_t>(1, 10000);
    // RSA signing is slow: one input in sixteen uses it.
    const auto& key = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? world().rsa : world().ec;
    const std::string token = key.sign(testing::idp_claims("https://idp.test/", "tally", sub, issued, ttl));
    auto v = world().idp->verify(token, kNow);
    TALLY_FUZZ_CHECK(v.has_value());
    const bool live = !sub.empty() && issued + ttl > kNow - http::kClockSkewSeconds &&
                      issued <= kNow + http::kClockSkewSeconds;
    if (live != v->has_value()) std::fprintf(stderr, "sub=%s issued=%lld ttl=%lld: %s\n", sub.c_str(),
                                             static_cast<long long>(issued), static_cast<long long>(ttl),
                                             v->has_value() ? "accepted" : v->error().c_str());
    TALLY_FUZZ_CHECK(live == v->has_value());
    if (*v) {
        TALLY_FUZZ_CHECK((*v)->sub == sub);
        auto t = world().idp->verify(tamper(in, token), kNow);
        TALLY_FUZZ_CHECK(!t || !t->has_value());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 5) {
        case 0:
            own_token(rest);
            break;
        case 1: {
            auto r = world().ring.verify_referral(rest, kNow);
            if (r) TALLY_FUZZ_CHECK(r->expires_at > kNow && r->issued_at <= kNow + http::kClockSkewSeconds);
            break;
        }
        case 2:
            idp_token(rest);
            break;
        case 3: {
            auto set = http::Jwks::parse(rest);
            if (!set) TALLY_FUZZ_CHECK(!set.error().empty());
            break;
        }
        default: {
            FuzzedDataProvider in(data + 1, size - 1);
            if (in.ConsumeBool()) minted(in);
            else provider_minted(in);
            break;
        }
    }
    return 0;
}
