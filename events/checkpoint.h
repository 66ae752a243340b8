#pragma once
// Signed checkpoints of the journal (schemas/tally/v1/checkpoint.proto): the running hash
// over every event's hash in position order, signed with Ed25519 (OpenSSL) by a key held
// outside the database. A running hash rather than a Merkle root over the stream heads:
// it binds the order of positions too (a root over heads does not), it moves forward
// with the events that are new since the last checkpoint (a root over heads needs every
// stream's head, millions of them, each time), and verifying it is the one pass over the
// journal in position order that chain verification makes anyway.

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>

namespace tally::events {

inline constexpr std::string_view kCheckpointStream = "checkpoints";

// R(0): 32 zero bytes.
std::string running_hash_start();
// R(p) from R(p-1) and the hash of the event at p.
std::string running_hash_next(std::string_view previous, std::string_view event_hash);
// What is signed.
std::string checkpoint_message(int64_t position, std::string_view running_hash, std::string_view key_id);

// An Ed25519 signing key: "kid:64 hex digits" (the 32-byte seed).
struct SigningKey {
    std::string key_id;
    std::string seed;        // 32 bytes
    std::string public_key;  // 32 bytes
};
std::expected<SigningKey, std::string> parse_signing_key(std::string_view spec);
// TALLY_CHECKPOINT_KEY if set; else {data_dir}/checkpoint.key, made on first use (development).
std::expected<SigningKey, std::string> signing_key_from_config(const std::string& spec, const std::string& data_dir);

std::string sign_ed25519(const SigningKey& key, std::string_view message);  // 64 bytes
bool verify_ed25519(std::string_view public_key, std::string_view message, std::string_view signature);

// The public key's fingerprint: hex SHA-256 of its 32 bytes.
std::string fingerprint(std::string_view public_key);
// Public keys by id, from lines (or commas) of "kid:64 hex digits".
std::expected<std::map<std::string, std::string>, std::string> parse_public_keys(std::string_view text);

}  // namespace tally::events
