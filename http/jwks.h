#pragma once
// Tokens from an external identity provider: RS256 and ES256 JWTs verified against the
// provider's JSON Web Key Set (RFC 7517/7518), read from a file or fetched from a URL and
// kept fresh. `sub` names the principal; the role and the session are the principal's as
// tally holds them, re-read on every request (Call::adopt_principal), so a token from the
// provider carries identity only.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "http/auth.h"

namespace tally::http {

// One provider's public keys by key id. Only keys tally can use are kept: RSA of 2048 bits
// or more (RS256) and EC on P-256 (ES256); a JWK whose `use` is not "sig" or whose `alg`
// names another algorithm is left out. Refused: a document that is not a key set, a key
// id twice, a usable key whose parameters do not make a valid public key.
class Jwks {
public:
    static std::expected<Jwks, std::string> parse(std::string_view json);

    // Verifies `signature` over `signing_input` with the key `kid` under `alg` ("RS256" or
    // "ES256", which must be the key's type); the error says what failed.
    std::expected<void, std::string> verify(std::string_view kid, std::string_view alg, std::string_view signing_input,
                                            std::string_view signature) const;
    bool has(std::string_view kid) const;
    size_t size() const { return keys_.size(); }

    struct Key;

private:
    std::map<std::string, std::shared_ptr<const Key>, std::less<>> keys_;
};

struct IdpSettings {
    std::string issuer;    // TALLY_JWT_ISSUER: `iss` must equal it
    std::string audience;  // TALLY_JWT_AUDIENCE: `aud` must be it or hold it
    std::string source;    // for messages: the file or the URL
    int64_t refresh_s = 300;  // TALLY_JWKS_REFRESH_S: how often the key set is read again
    int64_t skew_s = kClockSkewSeconds;  // leeway on exp, nbf and iat for another clock
};

// The provider's key set, kept fresh: read at start, again every refresh_s by a thread of
// its own, and at once (at most every min(refresh_s, 30) s) when a token names a key id
// the set lacks, which is how a rotation reaches tally before the next refresh. A failed
// read keeps the last good set (logged, counted in tally_jwks_refresh_total).
class IdentityProvider {
public:
    using Loader = std::function<std::expected<std::string, std::string>()>;  // the JWKS document

    // Reads the set once; an error when it cannot (an unreadable file, a bad document, a
    // URL that does not answer) unless `tolerate_first_failure`, as for a URL at start.
    static std::expected<std::unique_ptr<IdentityProvider>, std::string> start(IdpSettings settings, Loader loader,
                                                                                 bool tolerate_first_failure,
                                                                                 bool refresh_thread = true);
    ~IdentityProvider();
    IdentityProvider(const IdentityProvider&) = delete;
    IdentityProvider& operator=(const IdentityProvider&) = delete;

    // nullopt: not a token for this verifier (its algorithm is not RS256 or ES256), so the
    // HS256 ring has it. Else the claims (external, without role) or why the token fails:
    // structure, algorithm, key id, signature, iss, aud, sub, exp, nbf, iat. Signatures
    // that verified are remembered by the token's text until the key set changes.
    std::optional<std::expected<TokenClaims, std::string>> verify(std::string_view token, int64_t now_unix_s);

    // Reads the key set now; false (and the last good set kept) when that fails.
    bool refresh();
    size_t keys() const;
    std::string last_error() const;  // the last read's failure; empty after a good read

private:
    IdentityProvider(IdpSettings settings, Loader loader);
    std::expected<TokenClaims, std::string> check_signed(std::string_view token, const Jwks& set) const;
    std::shared_ptr<const Jwks> current() const;
    void refresh_for_unknown_kid();

    IdpSettings settings_;
    Loader loader_;
    mutable std::mutex mu_;
    std::shared_ptr<const Jwks> set_;
    std::string document_;  // the set's text, to tell a change from a re-read
    std::string last_error_;
    std::chrono::steady_clock::time_point last_read_{};
    std::map<std::string, TokenClaims> verified_;  // by token text; cleared when the set changes
    std::mutex refresh_mu_;  // one read at a time
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    std::thread refresher_;
};

// The loader of a key-set file.
IdentityProvider::Loader jwks_file_loader(std::string path);
// The loader of a key-set URL: https://, or http:// on a loopback address only (a test's
// identity provider); a 5 s deadline per fetch.
std::expected<IdentityProvider::Loader, std::string> jwks_url_loader(const std::string& url);

}  // namespace tally::http
