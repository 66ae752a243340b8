#include "tests/support/test_idp.h"

#include <stdexcept>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

namespace tally::testing {
namespace {

EVP_PKEY* raw(const std::shared_ptr<void>& p) { return static_cast<EVP_PKEY*>(p.get()); }

std::shared_ptr<void> own(EVP_PKEY* k) {
    if (!k) throw std::runtime_error("test key generation failed");
    return std::shared_ptr<void>(k, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}

// A big-endian parameter of the key, left-padded to `width` bytes when width > 0.
std::string bn_param(EVP_PKEY* k, const char* name, int width = 0) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) throw std::runtime_error(std::string("no key parameter ") + name);
    const int n = width > 0 ? width : BN_num_bytes(bn);
    std::string out(static_cast<size_t>(n), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), n);
    BN_free(bn);
    return out;
}

}  // namespace

std::string test_base64url(const std::string& bytes) {
    static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out += abc[(v >> s) & 63];
    }
    if (bytes.size() - i == 1) {
        const uint32_t v = uint8_t(bytes[i]) << 16;
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
    } else if (bytes.size() - i == 2) {
        const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += abc[(v >> 6) & 63];
    }
    return out;
}

TestKey TestKey::rsa(std::string kid, int bits) {
    return TestKey(std::move(kid), true, own(EVP_RSA_gen(static_cast<unsigned>(bits))));
}

TestKey TestKey::ec(std::string kid) { return TestKey(std::move(kid), false, own(EVP_EC_gen("P-256"))); }

nlohmann::json TestKey::jwk() const {
    nlohmann::json j{{"kid", kid_}, {"use", "sig"}, {"alg", alg()}};
    if (rsa_) {
        j["kty"] = "RSA";
        j["n"] = test_base64url(bn_param(raw(pkey_), OSSL_PKEY_PARAM_RSA_N));
        j["e"] = test_base64url(bn_param(raw(pkey_), OSSL_PKEY_PARAM_RSA_E));
    } else {
        j["kty"] = "EC";
        j["crv"] = "P-256";
        j["x"] = test_base64url(bn_param(raw(pkey_), OSSL_PKEY_PARAM_EC_PUB_X, 32));
        j["y"] = test_base64url(bn_param(raw(pkey_), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
    }
    return j;
}

std::string TestKey::sign(const nlohmann::json& claims, const std::string& alg_, const std::string& kid_override) const {
    const nlohmann::json header{{"alg", alg_.empty() ? alg() : alg_}, {"typ", "JWT"},
                                {"kid", kid_override.empty() ? kid_ : kid_override}};
    const std::string input = test_base64url(header.dump()) + "." + test_base64url(claims.dump());

    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    size_t len = 0;
    if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, raw(pkey_)) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        throw std::runtime_error("test signing failed");
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
        throw std::runtime_error("test signing failed");
    sig.resize(len);
    if (!rsa_) {  // JWS wants ECDSA as r||s, 32 bytes each, not DER
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        if (!es) throw std::runtime_error("test signature is not DER");
        std::string rs(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(rs.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(rs.data()) + 32, 32);
        ECDSA_SIG_free(es);
        sig = rs;
    }
    return input + "." + test_base64url(sig);
}

std::string jwks_of(const std::vector<const TestKey*>& keys) {
    nlohmann::json set{{"keys", nlohmann::json::array()}};
    for (const TestKey* k : keys) set["keys"].push_back(k->jwk());
    return set.dump();
}

nlohmann::json idp_claims(const std::string& iss, const std::string& aud, const std::string& sub, int64_t now, int64_t ttl) {
    return {{"iss", iss}, {"aud", aud}, {"sub", sub}, {"iat", now}, {"exp", now + ttl}};
}

}  // namespace tally::testing
