#pragma once
// Building, hashing and verifying event envelopes. Each stream is a SHA-256 hash
// chain: hash = SHA-256(prev_hash || canonical_bytes(envelope)), so editing or
// dropping an event is detectable.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/v1/envelope.pb.h"

namespace tally::events {

inline constexpr size_t kHashBytes = 32;

// The prev_hash of a stream's first event: 32 zero bytes.
std::string genesis_hash();

// Deterministic event id (UUID-shaped) from the causing command and the event's index.
std::string event_id_for(std::string_view command_id, int index);

// The bytes the hash covers: every envelope field except position and hash, each
// length-prefixed in field-number order. Position is excluded because it is a
// property of the global log, not of the stream.
std::string canonical_bytes(const v1::EventEnvelope& e);

// SHA-256(prev_hash || canonical_bytes(e)); reads e.prev_hash().
std::string compute_hash(const v1::EventEnvelope& e);

// Sets e.prev_hash and e.hash so e follows an event whose hash is `prev_hash`.
void seal(v1::EventEnvelope& e, const std::string& prev_hash);

struct ChainBreak {
    size_t index;        // offset in the checked sequence
    std::string reason;  // "hash mismatch", "prev_hash mismatch", "version gap"
};

// Verifies a stream's events in version order, starting at version 1.
std::optional<ChainBreak> verify_stream(const std::vector<v1::EventEnvelope>& events);

std::string to_hex(std::string_view bytes);
std::optional<std::string> from_hex(std::string_view hex);

// SHA-256 of arbitrary bytes (for body hashes and keys).
std::string sha256(std::string_view bytes);
// HMAC-SHA256 (raw 32 bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);
// Standard base64 with padding (HTTP Basic credentials and the like).
std::string base64(std::string_view bytes);

// A development key: the contents of {data_dir}/{file} (trimmed), or, the first time,
// "dev:" and 64 random hex digits written there (owner-only). Production sets the key
// in the environment instead. An error when there is no randomness or the file cannot
// be written.
std::expected<std::string, std::string> development_key(const std::string& data_dir, const std::string& file);

}  // namespace tally::events
