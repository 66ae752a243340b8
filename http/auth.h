#pragma once
// Bearer tokens: JWT with HS256, key ids for rotation, expiry. A token names the
// role for routing only; every request re-checks the principal record.

#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::http {

// How far a token's iat and nbf may lie ahead of this server's clock.
inline constexpr int64_t kClockSkewSeconds = 60;

struct TokenClaims {
    std::string sub;   // principal id
    std::string role;
    int64_t session_version = 0;
    int64_t issued_at = 0;   // unix seconds
    int64_t expires_at = 0;  // unix seconds
    int64_t not_before = 0;  // unix seconds; 0: no nbf claim
    // From an identity provider (jwks.h): `sub` only; the role and session version are the
    // principal's, filled in when the request adopts it (Call::adopt_principal).
    bool external = false;
};

// What a referral cookie says: the affiliate a visitor arrived by, when, and until when
// it attributes.
struct ReferralClaims {
    std::string affiliate_id;
    int64_t issued_at = 0;   // unix seconds
    int64_t expires_at = 0;  // unix seconds
};

class KeyRing {
public:
    // "kid:secret,kid2:secret2"; the first key signs, all keys verify. `name` is the
    // setting it came from, for the error.
    static std::expected<KeyRing, std::string> parse(std::string_view spec, std::string_view name = "TALLY_JWT_KEYS");
    // The setting (`name`) when set, else the development key file `file` under data_dir
    // (created with a random secret on first use).
    static std::expected<KeyRing, std::string> from_config(const std::string& spec, const std::string& data_dir,
                                                           const std::string& file = "jwt.keys",
                                                           std::string_view name = "TALLY_JWT_KEYS");

    std::string mint(const TokenClaims& claims) const;
    // Checks structure, algorithm, key id, signature (constant time), expiry, iat and nbf
    // (not ahead of now by more than kClockSkewSeconds) and role. A token whose signature
    // and claims once checked out is remembered by its exact text (up to kVerifiedTokens of
    // them), so a client's next request with it skips the decoding and the HMAC; the times
    // are checked on every call.
    std::expected<TokenClaims, std::string> verify(std::string_view token, int64_t now_unix_s) const;
    static constexpr size_t kVerifiedTokens = 4096;

    // Referral cookies, under their own ring (TALLY_REFERRAL_KEYS): "r1.{claims}.{kid}.{mac}",
    // base64url JSON claims and HMAC-SHA256 over what precedes the last dot.
    std::string mint_referral(const ReferralClaims& claims) const;
    // Checks structure, key id, signature (constant time), the claims and expiry; the
    // error says which failed.
    std::expected<ReferralClaims, std::string> verify_referral(std::string_view cookie, int64_t now_unix_s) const;

private:
    std::expected<TokenClaims, std::string> check_signed(std::string_view token) const;

    std::vector<std::pair<std::string, std::string>> keys_;
    struct Verified;
    std::shared_ptr<Verified> verified_;  // shared by copies, which hold the same keys
};

bool is_known_role(std::string_view role);

// Base64url without padding (RFC 7515), as JWTs and JWKs spell binary.
std::string base64url(std::string_view bytes);
std::optional<std::string> unbase64url(std::string_view text);  // nullopt: not base64url

// A compact JWT's three parts decoded, and the input its signature covers (header.payload,
// a view into the token). The error says what is wrong with the shape.
struct JwtParts {
    std::string header, payload, signature;
    std::string_view signing_input;
};
std::expected<JwtParts, std::string> split_jwt(std::string_view token);

}  // namespace tally::http
