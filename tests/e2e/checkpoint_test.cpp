// Signed chain checkpoints: tallyd signs the running hash of the journal with an Ed25519
// key held outside the database and publishes the public key; `tally-replay verify
// --public-key` checks every checkpoint. An event edited in the database with its whole
// stream chain recomputed passes the chain check (anyone with write access can do that)
// and is caught by the signature; so is a checkpoint rewritten to match.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "events/checkpoint.h"
#include "events/envelope.h"
#include "http/client.h"
#include "infra/journal.h"
#include "infra/sql.h"
#include "tally/v1/checkpoint.pb.h"
#include "tally/v1/credit.pb.h"
#include "tests/support/support.h"

namespace tally {
namespace {

using nlohmann::json;

constexpr const char* kSeed = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

// Rewrites the events of `stream` from `version` on as `edit` leaves them, each hash and
// prev_hash recomputed, and the snapshot's last hash: what a writer with the database
// and the source code can do.
void rewrite_chain(sql::Pool& pool, const std::string& stream, int64_t version,
                   const std::function<void(v1::EventEnvelope&)>& edit) {
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        tx.exec("ALTER TABLE journal DISABLE TRIGGER journal_no_update_delete");
        std::vector<v1::EventEnvelope> events;
        for (auto& e : journal::read_after(tx, 0, 1000000))
            if (e.stream_id() == stream) events.push_back(e);
        std::string prev = events::genesis_hash();
        for (auto& e : events) {
            if (e.stream_version() >= version) {
                if (e.stream_version() == version) edit(e);
                e.set_prev_hash(prev);
                e.set_hash(events::compute_hash(e));
                tx.exec("UPDATE journal SET payload = $2, prev_hash = $3, hash = $4 WHERE position = $1::bigint",
                        {std::to_string(e.position()), sql::bytea_param(e.payload()), sql::bytea_param(e.prev_hash()),
                         sql::bytea_param(e.hash())});
            }
            prev = e.hash();
        }
        tx.exec("UPDATE snapshots SET last_hash = $2 WHERE stream_id = $1", {stream, sql::bytea_param(prev)});
        tx.exec("ALTER TABLE journal ENABLE TRIGGER journal_no_update_delete");
    }));
}

TEST(Checkpoints, AnEditWithItsChainRecomputedIsCaughtByTheSignature) {
    const std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd(url, broker.bootstraps(),
                           {{"TALLY_CHECKPOINT_EVERY_EVENTS", "20"},
                            {"TALLY_CHECKPOINT_EVERY_S", "1"},
                            {"TALLY_CHECKPOINT_KEY", std::string("k1:") + kSeed}});
    tallyd.start();
    sql::Pool pool(url, 2);
    const std::string admin = testing::token_for(url, "admin-1", "admin");
    http::Client c("127.0.0.1", tallyd.port());
    for (int i = 0; i < 50; ++i) {
        auto body = json{{"amount_minor", 100 + i}, {"currency", "EUR"}, {"reason", "r"}}.dump();
        ASSERT_EQ(c.request("POST", "/v1/customers/c" + std::to_string(i % 4) + "/credit-grants", body,
                            {{"Authorization", "Bearer " + admin}, {"Idempotency-Key", "k" + std::to_string(i)},
                             {"Content-Type", "application/json"}})
                      .status,
                  201);
    }
    // The public key, published without a token; its fingerprint is its SHA-256.
    auto keys = c.request("GET", "/v1/audit/keys");
    ASSERT_EQ(keys.status, 200) << keys.body;
    const json key = json::parse(keys.body)["checkpoint_keys"][0];
    EXPECT_EQ(key["key_id"], "k1");
    EXPECT_EQ(key["algorithm"], "Ed25519");
    const auto pub = events::from_hex(key["public_key"].get<std::string>());
    ASSERT_TRUE(pub);
    EXPECT_EQ(key["fingerprint"], events::fingerprint(*pub));
    EXPECT_EQ(*pub, events::parse_signing_key(std::string("k1:") + kSeed)->public_key);
    const std::string key_file = "/tmp/tally-checkpoint-" + std::to_string(::getpid()) + ".pub";
    std::ofstream(key_file) << "k1:" << key["public_key"].get<std::string>() << "\n";

    // Signed checkpoints come, the last covering every grant.
    int64_t last_grant = 0;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        last_grant = tx.exec("SELECT max(position) FROM journal WHERE type = 'CreditGranted'").at(0).i64(0);
    }));
    ASSERT_TRUE(testing::eventually([&] {
        int64_t covered = 0;
        pool.transact([&](sql::Tx& tx) {
            for (const auto& row : tx.exec("SELECT payload FROM journal WHERE type = 'ChainCheckpoint'")) {
                v1::ChainCheckpoint cp;
                cp.ParseFromString(row.bytes(0));
                covered = std::max(covered, cp.position());
            }
        });
        return covered >= last_grant;
    })) << tallyd.log();
    tallyd.stop();
    std::string out;
    ASSERT_EQ(testing::run_replay(url, {"verify", "--public-key", key_file}, out), 0) << out;
    EXPECT_NE(out.find("all chains intact"), std::string::npos) << out;
    EXPECT_EQ(out.find("checked 0 of"), std::string::npos) << out;
    // Without the key the checkpoints are not checked, and it says so.
    EXPECT_EQ(testing::run_replay(url, "verify", out), 0) << out;
    EXPECT_NE(out.find("signed checkpoints not checked"), std::string::npos) << out;

    // A grant made bigger in the database, its stream's chain recomputed after it.
    rewrite_chain(pool, "credit-c1", 3, [](v1::EventEnvelope& e) {
        v1::CreditGranted g;
        ASSERT_TRUE(g.ParseFromString(e.payload()));
        g.mutable_amount()->set_minor(g.amount().minor() + 90000);
        e.set_payload(g.SerializeAsString());
    });
    // The chains alone cannot tell.
    EXPECT_EQ(testing::run_replay(url, "verify", out), 0) << out;
    EXPECT_NE(out.find("all chains intact"), std::string::npos) << out;
    // The signature can.
    EXPECT_EQ(testing::run_replay(url, {"verify", "--public-key", key_file}, out), 1) << out;
    EXPECT_NE(out.find("running hash of the journal up to here differs from the signed one"), std::string::npos) << out;

    // The editor rewrites the first checkpoint after the edit to the new running hash: its
    // signature no longer verifies.
    int64_t edited_at = 0;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        edited_at = tx.exec("SELECT position FROM journal WHERE stream_id = 'credit-c1' AND stream_version = 3").at(0).i64(0);
    }));
    std::string running = events::running_hash_start();
    int64_t checkpoint_version = 0;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (const auto& e : journal::read_after(tx, 0, 1000000)) {
            if (e.type() == "ChainCheckpoint" && checkpoint_version == 0) {
                v1::ChainCheckpoint cp;
                cp.ParseFromString(e.payload());
                if (cp.position() >= edited_at) checkpoint_version = e.stream_version();
            }
        }
    }));
    ASSERT_GT(checkpoint_version, 0);
    rewrite_chain(pool, "checkpoints", checkpoint_version, [&](v1::EventEnvelope& e) {
        v1::ChainCheckpoint cp;
        ASSERT_TRUE(cp.ParseFromString(e.payload()));
        std::string r = events::running_hash_start();
        ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
            for (const auto& x : journal::read_after(tx, 0, cp.position())) r = events::running_hash_next(r, x.hash());
        }));
        cp.set_running_hash(r);
        e.set_payload(cp.SerializeAsString());
    });
    EXPECT_EQ(testing::run_replay(url, {"verify", "--public-key", key_file}, out), 1) << out;
    EXPECT_NE(out.find("the signature does not verify"), std::string::npos) << out;
    // A key the auditor does not hold is named.
    std::ofstream(key_file) << "k2:" << events::to_hex(std::string(32, 'x')) << "\n";
    EXPECT_EQ(testing::run_replay(url, {"verify", "--public-key", key_file}, out), 1) << out;
    EXPECT_NE(out.find("signed by key k1, which --public-key does not hold"), std::string::npos) << out;
    std::remove(key_file.c_str());
}

}  // namespace
}  // namespace tally
