#include "events/checkpoint.h"

#include <openssl/evp.h>

#include <memory>
#include <sstream>

#include "events/envelope.h"

namespace tally::events {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string trim(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n')) s.remove_prefix(1);
    return std::string(s);
}

bool valid_kid(std::string_view kid) {
    if (kid.empty() || kid.size() > 64) return false;
    for (char c : kid)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
    return true;
}

}  // namespace

std::string running_hash_start() { return std::string(32, '\0'); }

std::string running_hash_next(std::string_view previous, std::string_view event_hash) {
    std::string input;
    input.reserve(previous.size() + event_hash.size());
    input.append(previous);
    input.append(event_hash);
    return sha256(input);
}

std::string checkpoint_message(int64_t position, std::string_view running_hash, std::string_view key_id) {
    return "tally chain checkpoint v1\n" + std::to_string(position) + "\n" + to_hex(running_hash) + "\n" +
           std::string(key_id);
}

std::expected<SigningKey, std::string> parse_signing_key(std::string_view spec) {
    const std::string s = trim(spec.substr(0, spec.find(',')));  // the first key signs
    const size_t colon = s.find(':');
    if (colon == std::string::npos || !valid_kid(s.substr(0, colon)))
        return std::unexpected("TALLY_CHECKPOINT_KEY is kid:64 hex digits (an Ed25519 seed)");
    auto seed = from_hex(s.substr(colon + 1));
    if (!seed || seed->size() != 32) return std::unexpected("TALLY_CHECKPOINT_KEY's seed is 64 hex digits");
    std::unique_ptr<EVP_PKEY, PkeyFree> pkey(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed->data()), seed->size()));
    if (!pkey) return std::unexpected("TALLY_CHECKPOINT_KEY: OpenSSL refused the Ed25519 seed");
    std::string pub(32, '\0');
    size_t len = pub.size();
    if (EVP_PKEY_get_raw_public_key(pkey.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) != 1 || len != 32)
        return std::unexpected("TALLY_CHECKPOINT_KEY: no public key");
    return SigningKey{s.substr(0, colon), *seed, pub};
}

std::expected<SigningKey, std::string> signing_key_from_config(const std::string& spec, const std::string& data_dir) {
    if (!spec.empty()) return parse_signing_key(spec);
    auto key = development_key(data_dir, "checkpoint.key");
    if (!key) return std::unexpected(key.error());
    return parse_signing_key(*key);
}

std::string sign_ed25519(const SigningKey& key, std::string_view message) {
    std::unique_ptr<EVP_PKEY, PkeyFree> pkey(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(key.seed.data()), key.seed.size()));
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    std::string sig(64, '\0');
    size_t len = sig.size();
    if (!pkey || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
        len != 64)
        return "";
    return sig;
}

bool verify_ed25519(std::string_view public_key, std::string_view message, std::string_view signature) {
    if (public_key.size() != 32 || signature.size() != 64) return false;
    std::unique_ptr<EVP_PKEY, PkeyFree> pkey(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()), public_key.size()));
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    return pkey && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

std::string fingerprint(std::string_view public_key) { return to_hex(sha256(public_key)); }

std::expected<std::map<std::string, std::string>, std::string> parse_public_keys(std::string_view text) {
    std::map<std::string, std::string> out;
    std::string item;
    std::stringstream ss{std::string(text)};
    while (std::getline(ss, item, '\n')) {
        std::stringstream parts(item);
        std::string one;
        while (std::getline(parts, one, ',')) {
            one = trim(one);
            if (one.empty() || one[0] == '#') continue;
            const size_t colon = one.find(':');
            auto key = colon == std::string::npos ? std::nullopt : from_hex(one.substr(colon + 1));
            if (!key || key->size() != 32 || !valid_kid(one.substr(0, colon)))
                return std::unexpected("a public key is kid:64 hex digits (Ed25519), not '" + one + "'");
            out[one.substr(0, colon)] = *key;
        }
    }
    if (out.empty()) return std::unexpected("no public key given");
    return out;
}

}  // namespace tally::events
