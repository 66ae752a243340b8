// Several tallyd processes on one PostgreSQL and one broker, as an operator scaling out
// runs them (issue 10). Three processes take grants, checkouts and the provider's signed
// webhooks; one is SIGKILLed, another SIGSTOPped past its Kafka session (a zombie owner)
// and resumed. Afterwards every read model equals a fresh rebuild, tally-replay reconcile
// is clean, Kafka holds the journal exactly once, and the fake provider made each
// PaymentIntent once. Before the consumer groups and the fence, every process applied
// every event: each balance was doubled (commit 3229fee and earlier).
#include <gtest/gtest.h>

#include <fstream>

#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "events/checkpoint.h"
#include "events/envelope.h"
#include "http/client.h"
#include "infra/kafka.h"
#include "infra/sql.h"
#include "tests/support/fake_stripe.h"
#include "tests/support/kafka_read.h"
#include "tests/support/support.h"

namespace tally {
namespace {

using nlohmann::json;

constexpr const char* kKey = "sk_test_scale";
constexpr const char* kWebhookSecret = "whsec_scale_out";
constexpr int kNodes = 3;
constexpr int kGrants = 300;
constexpr int kCheckouts = 30;

struct WithFakeStripe {
    testing::FakeStripe fake{kKey, kWebhookSecret};
};

constexpr const char* kCheckpointKey = "ops1:5c1e4a2b3d6f7081920a1b2c3d4e5f60718293a4b5c6d7e8f901122334455667";

struct Cluster : WithFakeStripe {
    std::string url = testing::fresh_database();
    testing::Broker broker;
    sql::Pool pool{url, 2};
    std::vector<std::unique_ptr<testing::Tallyd>> nodes;
    std::atomic<bool> down[kNodes] = {false, false, false};
    std::string admin;

    Cluster() {
        const std::map<std::string, std::string> env = {{"TALLY_STRIPE_API_BASE", fake.base_url()},
                                                        {"TALLY_STRIPE_SECRET_KEY", kKey},
                                                        {"TALLY_STRIPE_WEBHOOK_SECRETS", kWebhookSecret},
                                                        {"TALLY_KAFKA_SESSION_TIMEOUT_MS", "3000"},
                                                        {"TALLY_PROVIDER_RETRY_BASE_MS", "100"},
                                                        {"TALLY_PROVIDER_RETRY_MAX_MS", "1000"},
                                                        // One signing key for the deployment, a checkpoint often.
                                                        {"TALLY_CHECKPOINT_KEY", kCheckpointKey},
                                                        {"TALLY_CHECKPOINT_EVERY_EVENTS", "200"},
                                                        {"TALLY_CHECKPOINT_EVERY_S", "1"}};
        for (int i = 0; i < kNodes; ++i) {
            nodes.push_back(std::make_unique<testing::Tallyd>(url, broker.bootstraps(), env));
            nodes.back()->start();
        }
        admin = testing::token_for(url, "admin-1", "admin");
        fake.send_webhooks_to(nodes[2]->port());  // node 2 is never hurt
    }

    // Sends to node `first`, or the next one up when it does not answer (same key: the
    // retry is idempotent wherever it lands).
    http::ClientResponse send(int first, const std::string& method, const std::string& target, const json& body,
                              const std::string& token, const std::string& key) {
        http::ClientResponse r;
        for (int attempt = 0; attempt < 3 * kNodes; ++attempt) {
            const int n = (first + attempt) % kNodes;
            if (down[n]) continue;
            http::Client c("127.0.0.1", nodes[static_cast<size_t>(n)]->port());
            r = c.request(method, target, body.dump(), {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
            if (r.status != 0 && r.status != 503) return r;
        }
        return r;
    }

    json get(int node, const std::string& target) {
        http::Client c("127.0.0.1", nodes[static_cast<size_t>(node)]->port());
        auto r = c.request("GET", target, "", {{"Authorization", "Bearer " + admin}});
        return r.status == 200 ? json::parse(r.body) : json();
    }

    int64_t number(const std::string& q, std::vector<std::optional<std::string>> args = {}) {
        int64_t n = -1;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            auto rows = tx.exec(q, args);
            n = rows.empty() || rows[0].is_null(0) ? 0 : rows[0].i64(0);
        }));
        return n;
    }

    std::string text(const std::string& q) {
        std::string s;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            auto rows = tx.exec(q);
            s = rows.empty() || rows[0].is_null(0) ? "" : rows[0].str(0);
        }));
        return s;
    }

    // Every projector has applied everything the journal holds for each partition.
    bool caught_up() {
        std::map<int32_t, int64_t> last;
        bool behind = false;
        auto r = pool.transact([&](sql::Tx& tx) {
            for (const auto& row : tx.exec("SELECT stream_id, max(position) FROM journal GROUP BY stream_id")) {
                auto& m = last[kafka::partition_for(row.str(0), 3)];
                m = std::max(m, row.i64(1));
            }
            for (const auto& row : tx.exec("SELECT partition, position FROM projector_checkpoints")) {
                auto it = last.find(static_cast<int32_t>(row.i64(0)));
                if (it != last.end() && row.i64(1) < it->second) behind = true;
            }
        });
        return r && !behind && number("SELECT count(DISTINCT projector) FROM projector_checkpoints") ==
                                       static_cast<int64_t>(testing::projection_tables().size() + 1);
    }

    // A fingerprint of a read model's rows.
    std::string fingerprint(const std::string& table) {
        return text("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM " + table + " t");
    }
};

}  // namespace

TEST(ScaleOut, ThreeProcessesAKillAndAZombieEveryProjectionEqualsAFreshRebuild) {
    Cluster c;
    // The catalog, through node 2.
    ASSERT_EQ(c.send(2, "PUT", "/v1/vendors/ana",
                     {{"currency", "USD"}, {"commission_bps", 1000}, {"shipping", {{"flat_minor", 500}}},
                      {"payout_account", "acct_ana"}}, c.admin, "v1").status, 200);
    ASSERT_EQ(c.send(2, "PUT", "/v1/products/lamp", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 4000}},
                     c.admin, "p1").status, 200);
    ASSERT_EQ(c.send(2, "POST", "/v1/products/lamp/stock-adjustments", {{"delta", 1000}, {"reason", "received"}}, c.admin,
                     "s1").status, 201);
    // A loyalty program: every payment moves a customer's spend and tier too.
    json tiers = json::array();
    const char* names[] = {"bronze", "silver", "gold", "platinum", "diamond", "elite"};
    for (int i = 0; i < 6; ++i) tiers.push_back({{"name", names[i]}, {"threshold_minor", i * 4500}});
    ASSERT_EQ(c.send(2, "PUT", "/v1/loyalty/program", {{"currencies", json::array({{{"currency", "USD"}, {"tiers", tiers}}})}},
                     c.admin, "lp1").status, 200);

    // The broker spreads each projector's three partitions over the three processes.
    ASSERT_TRUE(testing::eventually([&] {
        auto p = c.get(2, "/v1/projections");
        if (!p.is_object()) return false;
        for (const auto& proj : p["projectors"]) {
            std::set<std::string> owners;
            for (const auto& part : proj["partitions"])
                if (part["owner"].is_string()) owners.insert(part["owner"].get<std::string>());
            if (owners.size() != kNodes) return false;
        }
        return true;
    })) << c.get(2, "/v1/projections").dump();

    // Grants at all three, round robin, throughout.
    std::atomic<int> granted{0};
    std::thread grants([&] {
        for (int i = 0; i < kGrants; ++i) {
            auto r = c.send(i % kNodes, "POST", "/v1/customers/gc-" + std::to_string(i % 25) + "/credit-grants",
                            {{"amount_minor", 100}, {"currency", "USD"}, {"reason", "scale"}}, c.admin,
                            "grant-" + std::to_string(i));
            EXPECT_EQ(r.status, 201) << i << ": " << r.body;
            ++granted;
        }
    });

    // A crash: node 0 dies with whatever it had in flight.
    ASSERT_TRUE(testing::eventually([&] { return granted >= kGrants / 4; }));
    c.down[0] = true;
    c.nodes[0]->kill9();

    // Checkouts at the survivors, while grants go on.
    std::vector<std::string> orders;
    std::mutex orders_mu;
    std::thread checkouts([&] {
        for (int i = 0; i < kCheckouts; ++i) {
            const std::string customer = "buyer-" + std::to_string(i);
            json cart = {{"currency", "USD"}, {"ship_to_country", "US"},
                         {"lines", json::array({{{"sku", "lamp"}, {"quantity", 1}}})}, {"expected_total_minor", 4500}};
            auto r = c.send(1 + i % 2, "POST", "/v1/checkout", cart, testing::token_for(c.url, customer, "customer"),
                            "co-" + std::to_string(i));
            EXPECT_EQ(r.status, 201) << r.body;
            if (r.status == 201) {
                std::lock_guard lock(orders_mu);
                orders.push_back(json::parse(r.body)["order_id"]);
            }
        }
    });

    // A zombie: node 1 is paused past its session (3 s) while it owns partitions and
    // has work in flight, then resumes as if nothing happened.
    ASSERT_TRUE(testing::eventually([&] { return granted >= kGrants / 2; }));
    c.nodes[1]->signal(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::seconds(8));
    c.nodes[1]->signal(SIGCONT);

    grants.join();
    checkouts.join();
    ASSERT_EQ(orders.size(), static_cast<size_t>(kCheckouts));
    // The crashed process comes back (a new port) and takes its share again.
    c.nodes[0]->start();
    c.down[0] = false;

    // The provider creates each intent once; the customer pays; the signed webhooks come in.
    for (const auto& order : orders) {
        std::string intent;
        ASSERT_TRUE(testing::eventually([&] {
            intent = c.text("SELECT object_id FROM provider_calls WHERE order_id = '" + order +
                            "' AND kind = 'payment_intent' AND status = 'done'");
            return !intent.empty();
        })) << order;
        c.fake.succeed(intent);
    }
    ASSERT_TRUE(testing::eventually([&] {
        return c.number("SELECT count(*) FROM orders WHERE status = 'paid'") == kCheckouts && c.fake.webhooks_idle();
    })) << c.number("SELECT count(*) FROM orders WHERE status = 'paid'");
    ASSERT_TRUE(testing::eventually([&] { return c.caught_up(); }));

    // The zombie found out: the group took its partitions while it was paused.
    EXPECT_TRUE(testing::eventually([&] { return c.nodes[1]->log().find("lost partitions") != std::string::npos; }))
        << "node 1 was never evicted from its group";

    // The read models hold each event once: the cached balances are the ledger's.
    EXPECT_EQ(c.number("SELECT count(*) FROM credit_entries"), kGrants);
    EXPECT_EQ(c.number("SELECT sum(balance_minor) FROM credit_balances"), kGrants * 100);
    EXPECT_EQ(c.number("SELECT credit_minor - debit_minor FROM ledger_accounts WHERE account = 'store_credit_liability:gc-3'"),
              12 * 100);
    EXPECT_EQ(c.number("SELECT debit_minor FROM ledger_accounts WHERE account = 'promotions_expense'"), kGrants * 100);
    EXPECT_EQ(c.number("SELECT sum(debit_minor) - sum(credit_minor) FROM ledger_accounts"), 0);
    EXPECT_EQ(c.number("SELECT sum(spend_minor) FROM loyalty_standings"), kCheckouts * 4500);

    // Every projection equals a fresh rebuild from the log.
    for (const auto& [projector, tables] : testing::projection_tables()) {
        std::map<std::string, std::string> before;
        for (const auto& t : tables) before[t] = c.fingerprint(t);
        http::Client client("127.0.0.1", c.nodes[2]->port());
        auto r = client.request("POST", "/v1/projections/" + projector + "/rebuild", "{}",
                                {{"Authorization", "Bearer " + c.admin}, {"Idempotency-Key", "rb-" + projector}});
        ASSERT_EQ(r.status, 200) << r.body;
        for (const auto& t : tables) EXPECT_EQ(c.fingerprint(t), before[t]) << t << " differs from a fresh rebuild";
    }

    // tally-replay reconcile is clean.
    std::string reconciled;
    EXPECT_EQ(testing::run_replay(c.url, "reconcile", reconciled), 0) << reconciled;
    // The checkpoints, signed by whichever process owned the signer at the time (kills and
    // pauses included), all verify with the deployment's public key.
    const std::string key_file = "/tmp/tally-scale-out-" + std::to_string(::getpid()) + ".pub";
    std::ofstream(key_file) << "ops1:" << events::to_hex(events::parse_signing_key(kCheckpointKey)->public_key) << "\n";
    std::string out;
    EXPECT_EQ(testing::run_replay(c.url, std::vector<std::string>{"verify", "--public-key", key_file}, out), 0) << out;
    EXPECT_EQ(out.find("checked 0 of"), std::string::npos) << out;
    EXPECT_GE(c.number("SELECT count(*) FROM journal WHERE type = 'ChainCheckpoint'"), 2);
    std::remove(key_file.c_str());

    // Kafka holds the journal exactly once, once the relay has published the last events
    // (the rebuilds and a checkpoint may have just appended some).
    const int64_t head = c.number("SELECT position FROM journal_head");
    std::vector<testing::TopicMessage> messages;
    testing::eventually([&] {
        messages = testing::read_topic(c.broker.bootstraps(), "tally.events");
        return static_cast<int64_t>(messages.size()) >= head;
    }, std::chrono::seconds(20));
    std::map<int64_t, int> seen;
    for (const auto& m : messages) ++seen[m.envelope.position()];
    EXPECT_EQ(static_cast<int64_t>(messages.size()), head);
    EXPECT_EQ(static_cast<int64_t>(seen.size()), head);
    for (const auto& [position, n] : seen) EXPECT_EQ(n, 1) << "position " << position << " published " << n << " times";

    // The provider made each PaymentIntent once (repeats with the same key are replays).
    EXPECT_EQ(c.fake.objects("pi_").size(), static_cast<size_t>(kCheckouts));
    std::map<std::string, int> made;
    for (const auto& req : c.fake.requests("/v1/payment_intents"))
        if (req.method == "POST" && req.path == "/v1/payment_intents" && !req.replayed) ++made[req.idempotency_key];
    EXPECT_EQ(made.size(), static_cast<size_t>(kCheckouts));
    for (const auto& [key, n] : made) EXPECT_EQ(n, 1) << key;
}

}  // namespace tally
