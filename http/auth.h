#pragma once
// Bearer tokens: JWT with HS256, key ids for rotation, expiry. A token names the
// role for routing only; every request re-checks the principal record.

#include <cstdint>
#include <expected>
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
};

class KeyRing {
public:
    // "kid:secret,kid2:secret2"; the first key signs, all keys verify.
    static std::expected<KeyRing, std::string> parse(std::string_view spec);
    // TALLY_JWT_KEYS when set, else the development key file under data_dir
    // (created with a random secret on first use).
    static std::expected<KeyRing, std::string> from_config(const std::string& spec, const std::string& data_dir);

    std::string mint(const TokenClaims& claims) const;
    // Checks structure, algorithm, key id, signature (constant time), expiry, iat and nbf
    // (not ahead of now by more than kClockSkewSeconds) and role.
    std::expected<TokenClaims, std::string> verify(std::string_view token, int64_t now_unix_s) const;

private:
    std::vector<std::pair<std::string, std::string>> keys_;
};

bool is_known_role(std::string_view role);

}  // namespace tally::http
