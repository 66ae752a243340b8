#include "events/envelope.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <memory>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tally::events {
namespace {

void put_u64(std::string& out, uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_field(std::string& out, std::string_view bytes) {
    put_u64(out, bytes.size());
    out.append(bytes);
}

void append_canonical(std::string& out, const v1::EventEnvelope& e) {
    put_field(out, e.event_id());
    put_field(out, e.stream_id());
    put_u64(out, static_cast<uint64_t>(e.stream_version()));
    put_field(out, e.type());
    put_u64(out, static_cast<uint64_t>(e.schema_version()));
    put_u64(out, static_cast<uint64_t>(e.occurred_at_unix_ms()));
    put_field(out, e.causation_id());
    put_field(out, e.correlation_id());
    put_field(out, e.actor());
    put_field(out, e.payload());
    put_field(out, e.prev_hash());
}

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// SHA-256 through a digest fetched once and a context kept per thread: OpenSSL 3's
// one-shot SHA256() looks the algorithm up in its provider tables on every call, which
// cost more than the hashing itself when a replay hashes every event of the journal twice.
void sha256_into(std::string_view bytes, unsigned char (&digest)[SHA256_DIGEST_LENGTH]) {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    unsigned int len = 0;
    if (md && ctx && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
        EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) == 1 && EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1 &&
        len == SHA256_DIGEST_LENGTH)
        return;
    SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);  // the slow way, still right
}

}  // namespace

std::string genesis_hash() { return std::string(kHashBytes, '\0'); }

std::string hmac_sha256(std::string_view key, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), mac, &len);
    return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string sha256(std::string_view bytes) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256_into(bytes, digest);
    return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

std::string event_id_for(std::string_view command_id, int index) {
    std::string seed(command_id);
    seed += '#';
    seed += std::to_string(index);
    const std::string hex = to_hex(sha256(seed).substr(0, 16));
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
           hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::string canonical_bytes(const v1::EventEnvelope& e) {
    std::string out;
    out.reserve(256 + e.payload().size());
    append_canonical(out, e);
    return out;
}

std::string compute_hash(const v1::EventEnvelope& e) {
    // prev_hash || canonical bytes, built in a buffer kept per thread.
    thread_local std::string buffer;
    buffer.clear();
    buffer.append(e.prev_hash());
    append_canonical(buffer, e);
    return sha256(buffer);
}

void seal(v1::EventEnvelope& e, const std::string& prev_hash) {
    e.set_prev_hash(prev_hash);
    e.set_hash(compute_hash(e));
}

std::optional<ChainBreak> verify_stream(const std::vector<v1::EventEnvelope>& events) {
    std::string prev = genesis_hash();
    for (size_t i = 0; i < events.size(); ++i) {
        const auto& e = events[i];
        if (e.stream_version() != static_cast<int64_t>(i) + 1)
            return ChainBreak{i, "version gap: expected " + std::to_string(i + 1) + ", found " +
                                     std::to_string(e.stream_version())};
        if (e.prev_hash() != prev) return ChainBreak{i, "prev_hash mismatch"};
        if (compute_hash(e) != e.hash()) return ChainBreak{i, "hash mismatch"};
        prev = e.hash();
    }
    return std::nullopt;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 0xf]);
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = nibble(hex[i]);
        const int lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi << 4 | lo));
    }
    return out;
}

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::expected<std::string, std::string> development_key(const std::string& data_dir, const std::string& file) {
    const std::string path = data_dir + "/" + file;
    if (std::ifstream in(path); in) {
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.pop_back();
        return text;
    }
    unsigned char secret[32];
    if (RAND_bytes(secret, sizeof secret) != 1) return std::unexpected("no randomness for a development key");
    const std::string text = "dev:" + to_hex(std::string_view(reinterpret_cast<char*>(secret), sizeof secret));
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    std::ofstream out(path);
    out << text << "\n";
    if (!out) return std::unexpected("cannot write " + path);
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
    return text;
}

}  // namespace tally::events
