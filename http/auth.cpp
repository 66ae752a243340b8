#include "http/auth.h"

#include "domain/principal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "events/envelope.h"
#include "infra/strings.h"

namespace tally::http {

std::string base64url(std::string_view in) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    size_t i = 0;
    while (i + 2 < in.size()) {
        const uint32_t n = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8 |
                           static_cast<uint8_t>(in[i + 2]);
        out += {kAlphabet[n >> 18 & 63], kAlphabet[n >> 12 & 63], kAlphabet[n >> 6 & 63], kAlphabet[n & 63]};
        i += 3;
    }
    if (i + 1 == in.size()) {
        const uint32_t n = static_cast<uint8_t>(in[i]) << 16;
        out += {kAlphabet[n >> 18 & 63], kAlphabet[n >> 12 & 63]};
    } else if (i + 2 == in.size()) {
        const uint32_t n = static_cast<uint8_t>(in[i]) << 16 | static_cast<uint8_t>(in[i + 1]) << 8;
        out += {kAlphabet[n >> 18 & 63], kAlphabet[n >> 12 & 63], kAlphabet[n >> 6 & 63]};
    }
    return out;
}

std::optional<std::string> unbase64url(std::string_view in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '-') return 62;
        if (c == '_') return 63;
        return -1;
    };
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const int v = value(c);
        if (v < 0) return std::nullopt;
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>(acc >> bits & 0xff));
        }
    }
    return out;
}

bool is_known_role(std::string_view role) { return principal::is_role(role); }

std::expected<KeyRing, std::string> KeyRing::parse(std::string_view spec, std::string_view name) {
    KeyRing ring;
    for (auto item : split(spec, ',')) {
        auto colon = item.find(':');
        if (colon == std::string_view::npos || colon == 0 || item.size() - colon - 1 < 16 ||
            item.substr(0, colon).find('.') != std::string_view::npos)
            return std::unexpected(std::string(name) + ": each key is kid:secret (a kid without dots, a secret of 16+ characters)");
        ring.keys_.emplace_back(std::string(item.substr(0, colon)), std::string(item.substr(colon + 1)));
    }
    if (ring.keys_.empty()) return std::unexpected(std::string(name) + " holds no key");
    ring.verified_ = std::make_shared<Verified>();
    return ring;
}

std::expected<KeyRing, std::string> KeyRing::from_config(const std::string& spec, const std::string& data_dir,
                                                         const std::string& file, std::string_view name) {
    if (!spec.empty()) return parse(spec, name);
    auto key = events::development_key(data_dir, file);
    if (!key) return std::unexpected(key.error());
    return parse(*key, name);
}

std::string KeyRing::mint(const TokenClaims& c) const {
    const auto& [kid, secret] = keys_.front();
    const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", kid}};
    nlohmann::json payload = {{"sub", c.sub}, {"role", c.role}, {"sv", c.session_version},
                              {"iat", c.issued_at}, {"exp", c.expires_at}};
    if (c.not_before != 0) payload["nbf"] = c.not_before;
    const std::string signing_input = base64url(header.dump()) + "." + base64url(payload.dump());
    return signing_input + "." + base64url(events::hmac_sha256(secret, signing_input));
}

struct KeyRing::Verified {
    std::mutex mu;
    std::unordered_map<std::string, TokenClaims> by_token;
};

std::expected<TokenClaims, std::string> KeyRing::verify(std::string_view token, int64_t now) const {
    std::optional<TokenClaims> known;
    if (verified_) {
        std::lock_guard lock(verified_->mu);
        if (auto it = verified_->by_token.find(std::string(token)); it != verified_->by_token.end()) known = it->second;
    }
    if (!known) {
        auto checked = check_signed(token);
        if (!checked) return std::unexpected(checked.error());
        known = std::move(*checked);
        if (verified_) {
            std::lock_guard lock(verified_->mu);
            if (verified_->by_token.size() >= kVerifiedTokens) verified_->by_token.clear();
            verified_->by_token.emplace(std::string(token), *known);
        }
    }
    const TokenClaims& c = *known;
    if (c.expires_at <= now) return std::unexpected("the token has expired");
    // A little leeway for clocks that disagree; beyond it, a token from the future is forged
    // or minted by a broken clock.
    if (c.issued_at > now + kClockSkewSeconds) return std::unexpected("the token was issued in the future (iat)");
    if (c.not_before > now + kClockSkewSeconds) return std::unexpected("the token is not valid yet (nbf)");
    return c;
}

std::expected<JwtParts, std::string> split_jwt(std::string_view token) {
    const size_t dot1 = token.find('.');
    const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
        return std::unexpected("the token is not a JWT (header.payload.signature)");
    auto header = unbase64url(token.substr(0, dot1));
    auto payload = unbase64url(token.substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = unbase64url(token.substr(dot2 + 1));
    if (!header || !payload || !signature) return std::unexpected("the token is not valid base64url");
    return JwtParts{std::move(*header), std::move(*payload), std::move(*signature), token.substr(0, dot2)};
}

// Everything about the token that does not depend on the time: structure, algorithm, key
// id, signature, claims, role.
std::expected<TokenClaims, std::string> KeyRing::check_signed(std::string_view token) const {
    auto parts = split_jwt(token);
    if (!parts) return std::unexpected(parts.error());
    const std::string* signature = &parts->signature;
    const std::string* payload_bytes = &parts->payload;
    auto header = nlohmann::json::parse(parts->header, nullptr, false);
    if (!header.is_object() || !header.contains("alg") || header["alg"] != "HS256")
        return std::unexpected("the token's algorithm must be HS256 (RS256 and ES256 only from the identity provider, when one is configured)");
    if (!header.contains("kid") || !header["kid"].is_string()) return std::unexpected("the token names no key id");
    const std::string kid = header["kid"];
    const std::string* secret = nullptr;
    for (const auto& [k, s] : keys_)
        if (k == kid) secret = &s;
    if (!secret) return std::unexpected("the token's key id is unknown");
    const std::string expected = events::hmac_sha256(*secret, parts->signing_input);
    if (signature->size() != expected.size() ||
        CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0)
        return std::unexpected("the token's signature does not verify");
    auto payload = nlohmann::json::parse(*payload_bytes, nullptr, false);
    if (!payload.is_object()) return std::unexpected("the token's payload is not an object");
    TokenClaims c;
    try {
        c.sub = payload.at("sub").get<std::string>();
        c.role = payload.at("role").get<std::string>();
        c.session_version = payload.at("sv").get<int64_t>();
        c.issued_at = payload.value("iat", int64_t{0});
        c.expires_at = payload.at("exp").get<int64_t>();
        c.not_before = payload.value("nbf", int64_t{0});
    } catch (const nlohmann::json::exception&) {
        return std::unexpected("the token's claims are incomplete or mistyped (sub, role, sv, exp; iat, nbf)");
    }
    if (!is_known_role(c.role)) return std::unexpected("the token names an unknown role");
    if (c.sub.empty()) return std::unexpected("the token names no principal");
    return c;
}

std::string KeyRing::mint_referral(const ReferralClaims& c) const {
    const auto& [kid, secret] = keys_.front();
    const nlohmann::json claims = {{"aff", c.affiliate_id}, {"iat", c.issued_at}, {"exp", c.expires_at}};
    const std::string signed_part = "r1." + base64url(claims.dump()) + "." + kid;
    return signed_part + "." + base64url(events::hmac_sha256(secret, signed_part));
}

std::expected<ReferralClaims, std::string> KeyRing::verify_referral(std::string_view cookie, int64_t now) const {
    if (cookie.size() > 1024) return std::unexpected("malformed");
    const auto parts = split(cookie, '.');
    if (parts.size() != 4 || parts[0] != "r1") return std::unexpected("malformed");
    const std::string* secret = nullptr;
    for (const auto& [k, s] : keys_)
        if (k == parts[2]) secret = &s;
    if (!secret) return std::unexpected("unknown_key");
    auto mac = unbase64url(parts[3]);
    const std::string expected = events::hmac_sha256(*secret, cookie.substr(0, cookie.size() - parts[3].size() - 1));
    if (!mac || mac->size() != expected.size() || CRYPTO_memcmp(mac->data(), expected.data(), expected.size()) != 0)
        return std::unexpected("bad_signature");
    auto bytes = unbase64url(parts[1]);
    auto claims = bytes ? nlohmann::json::parse(*bytes, nullptr, false) : nlohmann::json();
    if (!claims.is_object() || !claims.contains("aff") || !claims["aff"].is_string() || !claims.contains("iat") ||
        !claims["iat"].is_number_integer() || !claims.contains("exp") || !claims["exp"].is_number_integer())
        return std::unexpected("malformed");
    ReferralClaims c{claims["aff"].get<std::string>(), claims["iat"].get<int64_t>(), claims["exp"].get<int64_t>()};
    if (c.expires_at <= now) return std::unexpected("expired");
    if (c.issued_at > now + kClockSkewSeconds) return std::unexpected("issued_in_the_future");
    return c;
}

}  // namespace tally::http
