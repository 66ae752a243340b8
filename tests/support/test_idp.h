#pragma once
// A test's identity provider: RSA and EC key pairs made in the test, their public halves
// as a JWKS document, and JWTs signed with them (RS256, ES256). It uses OpenSSL directly
// and its own base64url, so what it makes does not lean on the code under test.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tally::testing {

class TestKey {
public:
    static TestKey rsa(std::string kid, int bits = 2048);
    static TestKey ec(std::string kid);  // P-256

    const std::string& kid() const { return kid_; }
    const char* alg() const { return rsa_ ? "RS256" : "ES256"; }
    nlohmann::json jwk() const;  // the public key as a JWK, with kid, use and alg

    // A JWT over `claims` signed by this key. The header says alg (the key's own unless
    // given) and kid (this key's unless given): how a test forges mismatches.
    std::string sign(const nlohmann::json& claims, const std::string& alg = "", const std::string& kid = "") const;

private:
    TestKey(std::string kid, bool rsa, std::shared_ptr<void> pkey) : kid_(std::move(kid)), rsa_(rsa), pkey_(std::move(pkey)) {}
    std::string kid_;
    bool rsa_;
    std::shared_ptr<void> pkey_;  // EVP_PKEY
};

// {"keys": [...]} of the keys' public halves.
std::string jwks_of(const std::vector<const TestKey*>& keys);

// Claims for a token from issuer `iss` to audience `aud` naming `sub`, issued at `now`,
// valid for `ttl` seconds.
nlohmann::json idp_claims(const std::string& iss, const std::string& aud, const std::string& sub, int64_t now,
                          int64_t ttl = 3600);

std::string test_base64url(const std::string& bytes);

}  // namespace tally::testing
