#include "http/jwks.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <spdlog/spdlog.h>

#include "http/stripe_client.h"
#include "infra/metrics.h"
#include "infra/stripe_api.h"

namespace tally::http {
namespace {

// The set's document and a token are both read from outside; bound what they may cost.
constexpr size_t kDocumentBytesMax = 256 * 1024;
constexpr size_t kTokenBytesMax = 8 * 1024;
constexpr size_t kVerifiedMax = 4096;
constexpr int kRsaBitsMin = 2048;

template <typename T, void (*Free)(T*)>
struct Owned {
    T* p = nullptr;
    Owned() = default;
    explicit Owned(T* raw) : p(raw) {}
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    ~Owned() {
        if (p) Free(p);
    }
};
using Bn = Owned<BIGNUM, BN_free>;
using ParamBuild = Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using Params = Owned<OSSL_PARAM, OSSL_PARAM_free>;
using PkeyCtx = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtx = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using EcSig = Owned<ECDSA_SIG, ECDSA_SIG_free>;

BIGNUM* bignum(std::string_view big_endian) {
    return BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()), static_cast<int>(big_endian.size()),
                     nullptr);
}

// A JWK member holding base64url octets (an unsigned big-endian integer, a coordinate).
std::expected<std::string, std::string> member_bytes(const nlohmann::json& jwk, const char* name) {
    auto it = jwk.find(name);
    if (it == jwk.end() || !it->is_string()) return std::unexpected(std::string("has no ") + name);
    auto bytes = unbase64url(it->get<std::string>());
    if (!bytes || bytes->empty()) return std::unexpected(std::string(name) + " is not base64url");
    return *bytes;
}

// A public key from OpenSSL parameters, checked (an EC point on its curve).
std::expected<EVP_PKEY*, std::string> public_key(const char* type, const ParamBuild& build) {
    Params params(OSSL_PARAM_BLD_to_param(build.p));
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!params.p || !ctx.p || EVP_PKEY_fromdata_init(ctx.p) != 1 ||
        EVP_PKEY_fromdata(ctx.p, &key, EVP_PKEY_PUBLIC_KEY, params.p) != 1)
        return std::unexpected("its parameters do not make a public key");
    PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!check.p || EVP_PKEY_public_check(check.p) != 1) {
        EVP_PKEY_free(key);
        return std::unexpected("its parameters do not make a valid public key");
    }
    return key;
}

std::expected<EVP_PKEY*, std::string> rsa_key(const nlohmann::json& jwk) {
    auto n = member_bytes(jwk, "n");
    auto e = member_bytes(jwk, "e");
    if (!n) return std::unexpected(n.error());
    if (!e) return std::unexpected(e.error());
    Bn bn_n(bignum(*n)), bn_e(bignum(*e));
    if (BN_num_bits(bn_n.p) < kRsaBitsMin)
        return std::unexpected("is an RSA key of " + std::to_string(BN_num_bits(bn_n.p)) + " bits (2048 at least)");
    ParamBuild build(OSSL_PARAM_BLD_new());
    if (!build.p || OSSL_PARAM_BLD_push_BN(build.p, OSSL_PKEY_PARAM_RSA_N, bn_n.p) != 1 ||
        OSSL_PARAM_BLD_push_BN(build.p, OSSL_PKEY_PARAM_RSA_E, bn_e.p) != 1)
        return std::unexpected("cannot be built");
    return public_key("RSA", build);
}

std::expected<EVP_PKEY*, std::string> ec_key(const nlohmann::json& jwk) {
    auto x = member_bytes(jwk, "x");
    auto y = member_bytes(jwk, "y");
    if (!x) return std::unexpected(x.error());
    if (!y) return std::unexpected(y.error());
    if (x->size() != 32 || y->size() != 32) return std::unexpected("has P-256 coordinates that are not 32 bytes");
    const std::string point = std::string(1, '\x04') + *x + *y;  // uncompressed (SEC 1)
    ParamBuild build(OSSL_PARAM_BLD_new());
    if (!build.p || OSSL_PARAM_BLD_push_utf8_string(build.p, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(build.p, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
        return std::unexpected("cannot be built");
    return public_key("EC", build);
}

// ES256 signs r || s, 32 bytes each (RFC 7518 3.4); OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(std::string_view raw) {
    if (raw.size() != 64) return std::nullopt;
    EcSig sig(ECDSA_SIG_new());
    BIGNUM* r = bignum(raw.substr(0, 32));
    BIGNUM* s = bignum(raw.substr(32));
    if (!sig.p || !r || !s || ECDSA_SIG_set0(sig.p, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int len = i2d_ECDSA_SIG(sig.p, &der);
    if (len <= 0) return std::nullopt;
    std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    return out;
}

// A NumericDate claim (RFC 7519 2): seconds, possibly with a fraction, which is dropped.
std::expected<std::optional<int64_t>, std::string> numeric_date(const nlohmann::json& claims, const char* name) {
    auto it = claims.find(name);
    if (it == claims.end()) return std::nullopt;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_number_float() && std::isfinite(it->get<double>()) && std::abs(it->get<double>()) < 1e15)
        return static_cast<int64_t>(std::floor(it->get<double>()));
    return std::unexpected(std::string("the token's ") + name + " is not a NumericDate");
}

metrics::Counter& refreshes(const char* outcome) {
    metrics::global().help("tally_jwks_refresh_total", "counter", "Identity provider key set fetches, by outcome");
    return metrics::global().counter("tally_jwks_refresh_total", std::string("outcome=\"") + outcome + "\"");
}

}  // namespace

struct Jwks::Key {
    std::string kty;  // "RSA" | "EC"
    EVP_PKEY* pkey = nullptr;
    ~Key() { EVP_PKEY_free(pkey); }
};

std::expected<Jwks, std::string> Jwks::parse(std::string_view json) {
    if (json.size() > kDocumentBytesMax) return std::unexpected("the key set is larger than 256 KiB");
    auto doc = nlohmann::json::parse(json, nullptr, false);
    if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
        return std::unexpected("the key set is not a JWKS document ({\"keys\": [...]})");
    Jwks set;
    for (const auto& jwk : doc["keys"]) {
        if (!jwk.is_object()) return std::unexpected("the key set holds a key that is not an object");
        const std::string kty = jwk.value("kty", std::string());
        const std::string kid = jwk.contains("kid") && jwk["kid"].is_string() ? jwk["kid"].get<std::string>() : "";
        if (jwk.contains("use") && jwk["use"] != "sig") continue;  // an encryption key
        const std::string alg = jwk.contains("alg") && jwk["alg"].is_string() ? jwk["alg"].get<std::string>() : "";
        const bool rsa = kty == "RSA" && (alg.empty() || alg == "RS256");
        const bool ec = kty == "EC" && jwk.value("crv", std::string()) == "P-256" && (alg.empty() || alg == "ES256");
        if (!rsa && !ec) continue;  // a type, curve or algorithm tally does not take
        if (kid.empty()) return std::unexpected("a " + kty + " key in the set has no kid");
        if (set.keys_.contains(kid)) return std::unexpected("the key id " + kid + " appears twice in the set");
        auto pkey = rsa ? rsa_key(jwk) : ec_key(jwk);
        if (!pkey) return std::unexpected("the key " + kid + " " + pkey.error());
        auto key = std::make_shared<Key>();
        key->kty = kty;
        key->pkey = *pkey;
        set.keys_.emplace(kid, std::move(key));
    }
    return set;
}

bool Jwks::has(std::string_view kid) const { return keys_.find(kid) != keys_.end(); }

std::expected<void, std::string> Jwks::verify(std::string_view kid, std::string_view alg, std::string_view signing_input,
                                              std::string_view signature) const {
    auto it = keys_.find(kid);
    if (it == keys_.end()) return std::unexpected("the token's key id is not in the identity provider's key set");
    const Key& key = *it->second;
    // The key decides the algorithm: an RSA key never checks an ES256 token, nor the reverse.
    if ((alg == "RS256") != (key.kty == "RSA")) return std::unexpected("the token's algorithm does not match its key");
    std::string der;
    if (alg == "ES256") {
        auto converted = ecdsa_der(signature);
        if (!converted) return std::unexpected("the token's signature does not verify");
        der = std::move(*converted);
        signature = der;
    }
    MdCtx md(EVP_MD_CTX_new());
    if (!md.p || EVP_DigestVerifyInit(md.p, nullptr, EVP_sha256(), nullptr, key.pkey) != 1 ||
        EVP_DigestVerify(md.p, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1)
        return std::unexpected("the token's signature does not verify");
    return {};
}

IdentityProvider::IdentityProvider(IdpSettings settings, Loader loader)
    : settings_(std::move(settings)), loader_(std::move(loader)) {}

std::expected<std::unique_ptr<IdentityProvider>, std::string> IdentityProvider::start(IdpSettings settings, Loader loader,
                                                                                        bool tolerate_first_failure,
                                                                                        bool refresh_thread) {
    if (settings.issuer.empty() || settings.audience.empty())
        return std::unexpected("an identity provider needs TALLY_JWT_ISSUER and TALLY_JWT_AUDIENCE");
    if (settings.refresh_s <= 0) return std::unexpected("TALLY_JWKS_REFRESH_S must be at least 1");
    std::unique_ptr<IdentityProvider> idp(new IdentityProvider(std::move(settings), std::move(loader)));
    if (!idp->refresh()) {
        const std::string why = idp->last_error();
        if (!tolerate_first_failure) return std::unexpected("the key set " + idp->settings_.source + ": " + why);
        spdlog::error("the identity provider's key set {} cannot be read yet ({}); its tokens are refused until it can",
                      idp->settings_.source, why);
    }
    if (refresh_thread) {
        idp->refresher_ = std::thread([p = idp.get()] {
            std::unique_lock lock(p->mu_);
            while (!p->stop_cv_.wait_for(lock, std::chrono::seconds(p->settings_.refresh_s), [p] { return p->stopping_; })) {
                lock.unlock();
                p->refresh();
                lock.lock();
            }
        });
    }
    return idp;
}

IdentityProvider::~IdentityProvider() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    stop_cv_.notify_all();
    if (refresher_.joinable()) refresher_.join();
}

bool IdentityProvider::refresh() {
    std::lock_guard one(refresh_mu_);
    {
        std::lock_guard lock(mu_);
        last_read_ = std::chrono::steady_clock::now();
    }
    auto doc = loader_();
    auto failed = [&](const std::string& why) {
        refreshes("failed").add();
        std::lock_guard lock(mu_);
        last_error_ = why;
        return false;
    };
    if (!doc) {
        spdlog::warn("the identity provider's key set {} cannot be read ({}); keeping the last one", settings_.source,
                     doc.error());
        return failed(doc.error());
    }
    auto set = Jwks::parse(*doc);
    if (!set) {
        spdlog::warn("the identity provider's key set {} is refused ({}); keeping the last one", settings_.source,
                     set.error());
        return failed(set.error());
    }
    refreshes("ok").add();
    std::lock_guard lock(mu_);
    last_error_.clear();
    if (*doc != document_) {
        if (set_) spdlog::info("the identity provider's key set {} changed: {} keys", settings_.source, set->size());
        set_ = std::make_shared<const Jwks>(std::move(*set));
        document_ = std::move(*doc);
        verified_.clear();  // a key that left the set no longer vouches for its tokens
    }
    return true;
}

std::string IdentityProvider::last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
}

size_t IdentityProvider::keys() const {
    auto set = current();
    return set ? set->size() : 0;
}

std::shared_ptr<const Jwks> IdentityProvider::current() const {
    std::lock_guard lock(mu_);
    return set_;
}

void IdentityProvider::refresh_for_unknown_kid() {
    const auto gap = std::chrono::seconds(std::min<int64_t>(settings_.refresh_s, 30));
    {
        std::lock_guard lock(mu_);
        if (std::chrono::steady_clock::now() - last_read_ < gap) return;
    }
    refresh();
}

std::optional<std::expected<TokenClaims, std::string>> IdentityProvider::verify(std::string_view token, int64_t now) {
    if (token.size() > kTokenBytesMax) return std::unexpected("the token is longer than 8 KiB");
    const size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return std::nullopt;  // not a JWT: the ring answers
    auto header = nlohmann::json::parse(unbase64url(token.substr(0, dot1)).value_or(""), nullptr, false);
    if (!header.is_object() || !header.contains("alg") || (header["alg"] != "RS256" && header["alg"] != "ES256"))
        return std::nullopt;

    std::optional<TokenClaims> known;
    {
        std::lock_guard lock(mu_);
        if (auto it = verified_.find(std::string(token)); it != verified_.end()) known = it->second;
    }
    if (!known) {
        auto set = current();
        if (!set) return std::unexpected("the identity provider's key set is not loaded");
        if (header.contains("kid") && header["kid"].is_string() && !set->has(header["kid"].get<std::string>())) {
            refresh_for_unknown_kid();  // a rotation may have added it
            set = current();
        }
        auto checked = check_signed(token, *set);
        if (!checked) return std::unexpected(checked.error());
        known = std::move(*checked);
        std::lock_guard lock(mu_);
        if (set == set_) {  // not a set replaced meanwhile
            if (verified_.size() >= kVerifiedMax) verified_.clear();
            verified_.emplace(std::string(token), *known);
        }
    }
    const TokenClaims& c = *known;
    const int64_t skew = settings_.skew_s;
    if (c.expires_at + skew <= now) return std::unexpected("the token has expired");
    if (c.issued_at > now + skew) return std::unexpected("the token was issued in the future (iat)");
    if (c.not_before > now + skew) return std::unexpected("the token is not valid yet (nbf)");
    return c;
}

// Everything that does not depend on the time: structure, algorithm, key, signature, and
// the claims' presence and types, issuer and audience.
std::expected<TokenClaims, std::string> IdentityProvider::check_signed(std::string_view token, const Jwks& set) const {
    auto parts = split_jwt(token);
    if (!parts) return std::unexpected(parts.error());
    const std::string* payload_bytes = &parts->payload;
    auto header = nlohmann::json::parse(parts->header, nullptr, false);
    if (!header.contains("kid") || !header["kid"].is_string()) return std::unexpected("the token names no key id");
    if (header.contains("crit")) return std::unexpected("the token has critical header parameters tally does not know");
    if (auto ok = set.verify(header["kid"].get<std::string>(), header["alg"].get<std::string>(), parts->signing_input,
                             parts->signature);
        !ok)
        return std::unexpected(ok.error());

    auto claims = nlohmann::json::parse(*payload_bytes, nullptr, false);
    if (!claims.is_object()) return std::unexpected("the token's payload is not an object");
    if (!claims.contains("iss") || claims["iss"] != settings_.issuer)
        return std::unexpected("the token's issuer (iss) is not " + settings_.issuer);
    const auto& aud = claims.contains("aud") ? claims["aud"] : nlohmann::json();
    bool ours = aud.is_string() && aud == settings_.audience;
    if (aud.is_array())
        for (const auto& a : aud) ours = ours || (a.is_string() && a == settings_.audience);
    if (!ours) return std::unexpected("the token's audience (aud) does not name " + settings_.audience);
    if (!claims.contains("sub") || !claims["sub"].is_string() || claims["sub"].get<std::string>().empty())
        return std::unexpected("the token names no principal (sub)");
    TokenClaims c;
    c.external = true;
    c.sub = claims["sub"].get<std::string>();
    auto exp = numeric_date(claims, "exp");
    auto iat = numeric_date(claims, "iat");
    auto nbf = numeric_date(claims, "nbf");
    if (!exp) return std::unexpected(exp.error());
    if (!iat) return std::unexpected(iat.error());
    if (!nbf) return std::unexpected(nbf.error());
    if (!*exp) return std::unexpected("the token has no expiry (exp)");
    // Revocation compares iat with the principal's last revocation, so it must be there.
    if (!*iat) return std::unexpected("the token has no issue time (iat)");
    c.expires_at = **exp;
    c.issued_at = **iat;
    c.not_before = nbf->value_or(0);
    return c;
}

IdentityProvider::Loader jwks_file_loader(std::string path) {
    return [path = std::move(path)]() -> std::expected<std::string, std::string> {
        std::ifstream in(path, std::ios::binary);
        if (!in) return std::unexpected("cannot open " + path);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    };
}

std::expected<IdentityProvider::Loader, std::string> jwks_url_loader(const std::string& url) {
    auto endpoint = stripe_api::parse_base(url);
    if (!endpoint) return std::unexpected("TALLY_JWKS_URL: " + endpoint.error());
    const bool loopback = endpoint->host == "127.0.0.1" || endpoint->host == "localhost" || endpoint->host == "[::1]";
    if (!endpoint->tls && !loopback)
        return std::unexpected("TALLY_JWKS_URL must be https:// (plain http only on a loopback address)");
    return [e = *endpoint, url]() -> std::expected<std::string, std::string> {
        auto r = provider_call("GET", e, "", {{"Accept", "application/json"}}, "", std::chrono::seconds(5));
        if (r.status == 0) return std::unexpected(r.error);
        if (!r.ok()) return std::unexpected(url + " answered HTTP " + std::to_string(r.status));
        return std::move(r.body);
    };
}

}  // namespace tally::http
