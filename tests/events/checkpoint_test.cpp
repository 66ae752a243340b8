// Ed25519 through OpenSSL against RFC 8032's first test vector; keys, fingerprints and
// the running hash.
#include "events/checkpoint.h"

#include <gtest/gtest.h>

#include "events/envelope.h"

namespace tally::events {
namespace {

constexpr const char* kRfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr const char* kRfcPublic = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kRfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

TEST(Checkpoint, Ed25519MatchesRfc8032) {
    auto key = parse_signing_key(std::string("rfc:") + kRfcSeed);
    ASSERT_TRUE(key) << key.error();
    EXPECT_EQ(key->key_id, "rfc");
    EXPECT_EQ(to_hex(key->public_key), kRfcPublic);
    const std::string sig = sign_ed25519(*key, "");
    EXPECT_EQ(to_hex(sig), kRfcSignature);
    EXPECT_TRUE(verify_ed25519(key->public_key, "", sig));
    EXPECT_FALSE(verify_ed25519(key->public_key, "x", sig));
    std::string flipped = sig;
    flipped[10] ^= 1;
    EXPECT_FALSE(verify_ed25519(key->public_key, "", flipped));
    EXPECT_FALSE(verify_ed25519(key->public_key, "", sig.substr(0, 63)));
    EXPECT_EQ(fingerprint(key->public_key), to_hex(sha256(key->public_key)));
}

TEST(Checkpoint, KeysAreKidColonHexAndNothingElse) {
    EXPECT_FALSE(parse_signing_key("nokid"));
    EXPECT_FALSE(parse_signing_key(std::string(":") + kRfcSeed));
    EXPECT_FALSE(parse_signing_key("k1:abcd"));
    EXPECT_FALSE(parse_signing_key(std::string("k 1:") + kRfcSeed));
    EXPECT_TRUE(parse_signing_key(std::string("k1:") + kRfcSeed + ",k0:" + kRfcSeed));  // the first signs
    auto keys = parse_public_keys(std::string("# the auditor's keys\nk1:") + kRfcPublic + "\nk0:" + kRfcPublic + "\n");
    ASSERT_TRUE(keys) << keys.error();
    EXPECT_EQ(keys->size(), 2u);
    EXPECT_FALSE(parse_public_keys(""));
    EXPECT_FALSE(parse_public_keys("k1:1234"));
}

TEST(Checkpoint, TheRunningHashDependsOnEveryEventAndItsPlace) {
    const std::string a = sha256("a"), b = sha256("b");
    const std::string ab = running_hash_next(running_hash_next(running_hash_start(), a), b);
    const std::string ba = running_hash_next(running_hash_next(running_hash_start(), b), a);
    EXPECT_NE(ab, ba);
    EXPECT_EQ(ab.size(), 32u);
    EXPECT_EQ(running_hash_start(), std::string(32, '\0'));
    EXPECT_NE(checkpoint_message(5, ab, "k1"), checkpoint_message(6, ab, "k1"));
    EXPECT_NE(checkpoint_message(5, ab, "k1"), checkpoint_message(5, ab, "k2"));
}

}  // namespace
}  // namespace tally::events
