// End to end over real sockets: tallyd as a child process, a real PostgreSQL
// database, a standalone Kafka-protocol broker (tally-broker).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/auth.h"
#include "http/client.h"
#include "infra/sql.h"
#include "tally/v1/operator.pb.h"
#include "tests/support/kafka_read.h"
#include "tests/support/support.h"

namespace tally {
namespace {

using nlohmann::json;

struct Stack {
    std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd;
    sql::Pool pool{url, 2};
    std::string admin, auditor;

    explicit Stack(std::map<std::string, std::string> env = {}) : tallyd(url, broker.bootstraps(), std::move(env)) {
        tallyd.start();
        admin = testing::token_for(url, "admin-1", "admin");
        auditor = testing::token_for(url, "auditor-1", "auditor");
    }

    http::Client client() { return http::Client("127.0.0.1", tallyd.port()); }

    http::ClientResponse grant(http::Client& c, const std::string& customer, const std::string& body,
                               const std::string& key, const std::string& token) {
        std::map<std::string, std::string> h{{"Authorization", "Bearer " + token}};
        if (!key.empty()) h["Idempotency-Key"] = key;
        return c.request("POST", "/v1/customers/" + customer + "/credit-grants", body, h);
    }

    http::ClientResponse get(http::Client& c, const std::string& target, const std::string& token) {
        return c.request("GET", target, "", {{"Authorization", "Bearer " + token}});
    }

    int64_t journal_count() {
        int64_t n = 0;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { n = tx.exec("SELECT count(*) FROM journal").at(0).i64(0); }));
        return n;
    }
};

std::string body(int64_t minor, const std::string& currency = "USD", const std::string& reason = "goodwill") {
    return json{{"amount_minor", minor}, {"currency", currency}, {"reason", reason}}.dump();
}

}  // namespace

TEST(Http, GrantFlowsToTheJournalKafkaAndTheReadModels) {
    Stack s;
    auto c = s.client();
    auto r = s.grant(c, "cust-1", body(2500), "k1", s.admin);
    ASSERT_EQ(r.status, 201) << r.body;
    auto j = json::parse(r.body);
    EXPECT_EQ(j["balance_minor"], 2500);
    EXPECT_EQ(j["position"], 1);
    ASSERT_EQ(s.grant(c, "cust-1", body(500), "k2", s.admin).status, 201);

    // The read model catches up.
    ASSERT_TRUE(testing::eventually([&] {
        auto g = s.get(c, "/v1/customers/cust-1/credit", s.admin);
        return g.status == 200 && json::parse(g.body)["balance_minor"] == 3000;
    }));
    auto credit = json::parse(s.get(c, "/v1/customers/cust-1/credit", s.admin).body);
    EXPECT_EQ(credit["currency"], "USD");
    ASSERT_EQ(credit["entries"].size(), 2u);
    EXPECT_EQ(credit["entries"][0]["amount_minor"], 500);
    EXPECT_EQ(credit["entries"][0]["reason"], "goodwill");

    // The auditor reads the stream with its hash chain.
    auto st = s.get(c, "/v1/streams/credit-cust-1/events", s.auditor);
    ASSERT_EQ(st.status, 200) << st.body;
    auto stream = json::parse(st.body);
    EXPECT_EQ(stream["chain_valid"], true);
    ASSERT_EQ(stream["events"].size(), 2u);
    EXPECT_EQ(stream["events"][1]["prev_hash"], stream["events"][0]["hash"]);
    EXPECT_EQ(stream["events"][0]["type"], "CreditGranted");

    // The ledger balances.
    ASSERT_TRUE(testing::eventually([&] {
        auto l = json::parse(s.get(c, "/v1/ledger/accounts", s.auditor).body);
        return l["totals"].contains("USD") && l["totals"]["USD"]["debit_minor"] == 3000;
    }));
    auto ledger = json::parse(s.get(c, "/v1/ledger/accounts", s.auditor).body);
    EXPECT_EQ(ledger["totals"]["USD"]["balanced"], true);

    // Kafka holds both events, keyed by stream.
    auto msgs = testing::read_topic(s.broker.bootstraps(), "tally.events");
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_EQ(msgs[0].key, "credit-cust-1");

    // Lag and metrics are exposed.
    auto p = json::parse(s.get(c, "/v1/projections", s.auditor).body);
    EXPECT_EQ(p["projectors"].size(), 9u);  // credit, ledger, orders, loyalty, passport, affiliates, catalog, subscriptions,
                                            // provider_calls
    auto m = c.request("GET", "/metrics");
    EXPECT_NE(m.body.find("tally_http_requests_total"), std::string::npos);
    EXPECT_NE(m.body.find("tally_batch_commit_seconds_bucket"), std::string::npos);
    EXPECT_NE(m.body.find("tally_relay_lag_events"), std::string::npos);
    EXPECT_NE(m.body.find("tally_projector_lag_events{projector=\"credit\"}"), std::string::npos);
    EXPECT_EQ(c.request("GET", "/healthz").status, 200);
    EXPECT_EQ(c.request("GET", "/readyz").status, 200);
}

TEST(Http, BadInputGetsAProblemDocumentAndWritesNothing) {
    Stack s(std::map<std::string, std::string>{{"TALLY_BODY_BYTES_MAX", "4096"}});
    auto c = s.client();
    struct Case {
        std::string name, body, key;
        int status;
        std::string code, field;
    };
    const std::vector<Case> cases = {
        {"malformed", "{\"amount_minor\": 1,", "k", 400, "malformed_json", ""},
        {"not an object", "[1]", "k", 400, "malformed_json", ""},
        {"unknown field", R"({"amount_minor":1,"currency":"USD","reason":"r","admin":true})", "k", 400, "unknown_field", "admin"},
        {"wrong type", R"({"amount_minor":"100","currency":"USD","reason":"r"})", "k", 400, "wrong_type", "amount_minor"},
        {"float money", R"({"amount_minor":10.5,"currency":"USD","reason":"r"})", "k", 400, "wrong_type", "amount_minor"},
        {"missing reason", R"({"amount_minor":100,"currency":"USD"})", "k", 400, "missing_field", "reason"},
        {"negative", body(-100), "k", 422, "amount_must_be_positive", "amount_minor"},
        {"zero", body(0), "k", 422, "amount_must_be_positive", "amount_minor"},
        {"unknown currency", body(100, "ABC"), "k", 422, "unknown_currency", "currency"},
        {"empty reason", body(100, "USD", ""), "k", 422, "invalid_value", "reason"},
        {"NUL in reason", R"({"amount_minor":100,"currency":"USD","reason":"a\u0000b"})", "k", 422, "invalid_value", "reason"},
        {"invalid UTF-8", "{\"amount_minor\":100,\"currency\":\"USD\",\"reason\":\"\xc3\x28\"}", "k", 400, "malformed_json", ""},
        {"huge integer", R"({"amount_minor":99999999999999999999,"currency":"USD","reason":"r"})", "k", 400, "wrong_type", "amount_minor"},
        {"no idempotency key", body(100), "", 400, "idempotency_key_required", "Idempotency-Key"},
    };
    for (const auto& tc : cases) {
        auto r = s.grant(c, "cust-1", tc.body, tc.key, s.admin);
        EXPECT_EQ(r.status, tc.status) << tc.name << ": " << r.body;
        EXPECT_EQ(r.headers["content-type"], "application/problem+json") << tc.name;
        auto j = json::parse(r.body, nullptr, false);
        ASSERT_TRUE(j.is_object()) << tc.name;
        EXPECT_EQ(j["title"], tc.code) << tc.name;
        EXPECT_EQ(j["status"], tc.status) << tc.name;
        EXPECT_FALSE(j["detail"].get<std::string>().empty()) << tc.name;
        EXPECT_EQ(j["type"], "https://tally.dev/problems/" + tc.code) << tc.name;
        if (!tc.field.empty()) {
            EXPECT_EQ(j["field"], tc.field) << tc.name;
        }
    }
    // An oversized body is refused before it is read whole.
    auto big = s.grant(c, "cust-1", body(100, "USD", std::string(8000, 'x')), "big", s.admin);
    EXPECT_EQ(big.status, 413) << big.body;
    // A path id outside the allowed alphabet.
    auto c2 = s.client();
    EXPECT_EQ(s.grant(c2, "cust%201", body(100), "p", s.admin).status, 400);
    EXPECT_EQ(s.journal_count(), 0);
}

TEST(Http, AuthenticationAndRoles) {
    Stack s;
    auto c = s.client();
    const std::string customer = testing::token_for(s.url, "cust-1", "customer");
    const std::string other = testing::token_for(s.url, "cust-2", "customer");
    const std::string clerk = testing::token_for(s.url, "emp-1", "employee", "orders.view");
    const std::string support = testing::token_for(s.url, "emp-2", "employee", "credit.manage");

    EXPECT_EQ(c.request("POST", "/v1/customers/cust-1/credit-grants", body(100), {{"Idempotency-Key", "a"}}).status, 401);
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "a", "not.a.token").status, 401);
    // Signed with a key the server does not hold.
    auto forged = http::KeyRing::parse("test:ffffffffffffffffffffffffffffffff")->mint({"admin-1", "admin", 1, 0, 4102444800, 0});
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "a", forged).status, 401);
    // Expired.
    auto expired = testing::token_for(s.url, "admin-9", "admin", "", -10);
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "a", expired).status, 401);
    // Wrong roles for a grant.
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "a", customer).status, 403);
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "a", s.auditor).status, 403);
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "a", support).status, 403);
    EXPECT_EQ(s.journal_count(), 0);

    ASSERT_EQ(s.grant(c, "cust-1", body(100), "ok", s.admin).status, 201);
    // Reading credit: self yes, another customer no, employees by permission.
    EXPECT_EQ(s.get(c, "/v1/customers/cust-1/credit", customer).status, 200);
    EXPECT_EQ(s.get(c, "/v1/customers/cust-1/credit", other).status, 403);
    EXPECT_EQ(s.get(c, "/v1/customers/cust-1/credit", clerk).status, 403);
    EXPECT_EQ(s.get(c, "/v1/customers/cust-1/credit", support).status, 200);  // manage implies view
    EXPECT_EQ(s.get(c, "/v1/streams/credit-cust-1/events", customer).status, 403);
    EXPECT_EQ(s.get(c, "/v1/ledger/accounts", customer).status, 403);

    // Revocation: bumping the session version invalidates tokens issued before.
    ASSERT_TRUE(s.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE principals SET session_version = session_version + 1 WHERE id IN ('admin-1', 'cust-1')");
    }));
    auto revoked = s.grant(c, "cust-1", body(100), "after-revoke", s.admin);
    EXPECT_EQ(revoked.status, 401) << revoked.body;
    EXPECT_NE(revoked.body.find("token_revoked"), std::string::npos);
    EXPECT_EQ(s.get(c, "/v1/customers/cust-1/credit", customer).status, 401);
    // A role changed in the record: the old token no longer routes as admin.
    const std::string demoted = testing::token_for(s.url, "admin-3", "admin");
    ASSERT_TRUE(s.pool.transact([&](sql::Tx& tx) { tx.exec("UPDATE principals SET role = 'customer' WHERE id = 'admin-3'"); }));
    EXPECT_EQ(s.grant(c, "cust-1", body(100), "demoted", demoted).status, 403);
    EXPECT_EQ(s.journal_count(), 1);
}

TEST(Http, IdempotencyAndCapsOverHttp) {
    Stack s;
    auto c = s.client();
    // The caps are finance's policy, an event: no restart, no environment.
    auto policy = c.request("PUT", "/v1/credit/policy",
                            R"({"grant_max_minor": 1000, "balance_max_minor": 1500, "reason": "test caps"})",
                            {{"Authorization", "Bearer " + s.admin}, {"Idempotency-Key", "caps"}});
    ASSERT_EQ(policy.status, 200) << policy.body;
    auto first = s.grant(c, "cust-1", body(800), "same", s.admin);
    ASSERT_EQ(first.status, 201);
    auto replay = s.grant(c, "cust-1", body(800), "same", s.admin);
    EXPECT_EQ(replay.status, 201);
    EXPECT_EQ(replay.body, first.body);
    EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
    auto reused = s.grant(c, "cust-1", body(801), "same", s.admin);
    EXPECT_EQ(reused.status, 422);
    EXPECT_NE(reused.body.find("idempotency_key_reused"), std::string::npos);

    auto over = s.grant(c, "cust-1", body(1001), "over", s.admin);
    EXPECT_EQ(over.status, 422);
    EXPECT_NE(over.body.find("grant_exceeds_cap"), std::string::npos);
    auto full = s.grant(c, "cust-1", body(701), "full", s.admin);
    EXPECT_EQ(full.status, 409);
    EXPECT_NE(full.body.find("balance_would_exceed_cap"), std::string::npos);
    auto eur = s.grant(c, "cust-1", body(10, "EUR"), "eur", s.admin);
    EXPECT_EQ(eur.status, 409);
    EXPECT_NE(eur.body.find("currency_must_match"), std::string::npos);
    EXPECT_EQ(s.journal_count(), 2);  // the policy and the one grant
}

TEST(Http, RebuildEndpointSwapsInAFreshModel) {
    Stack s;
    auto c = s.client();
    for (int i = 0; i < 20; ++i) ASSERT_EQ(s.grant(c, "cust-" + std::to_string(i % 3), body(10), "k" + std::to_string(i), s.admin).status, 201);
    ASSERT_TRUE(testing::eventually([&] {
        auto p = json::parse(s.get(c, "/v1/projections", s.auditor).body);
        return p["projectors"][0]["applied_position"] == 20;
    }));
    ASSERT_TRUE(s.pool.transact([&](sql::Tx& tx) { tx.exec("UPDATE credit_balances SET balance_minor = -1"); }));
    EXPECT_EQ(c.request("POST", "/v1/projections/credit/rebuild", "", {{"Authorization", "Bearer " + s.auditor}}).status, 403);
    auto r = c.request("POST", "/v1/projections/credit/rebuild", "", {{"Authorization", "Bearer " + s.admin}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["events_replayed"], 20);
    auto credit = json::parse(s.get(c, "/v1/customers/cust-0/credit", s.admin).body);
    EXPECT_EQ(credit["balance_minor"], 70);
    // The rebuild is the admin's recorded act.
    ASSERT_TRUE(s.pool.transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT payload, actor, position FROM journal WHERE stream_id = 'projection-credit'"
                            " AND type = 'ProjectionRebuilt'");
        ASSERT_EQ(rows.size(), 1u);
        v1::ProjectionRebuilt act;
        ASSERT_TRUE(act.ParseFromString(rows.front().bytes(0)));
        EXPECT_EQ(act.projector(), "credit");
        EXPECT_EQ(act.operator_id(), "admin-1");
        EXPECT_EQ(act.events_replayed(), 20);
        EXPECT_EQ(act.reason(), "api");
        EXPECT_EQ(rows.front().str(1), "admin-1");
        EXPECT_EQ(json::parse(r.body)["recorded_position"], rows.front().i64(2));
    }));
    EXPECT_EQ(c.request("POST", "/v1/projections/nope/rebuild", "", {{"Authorization", "Bearer " + s.admin}}).status, 404);
}

}  // namespace tally

namespace tally {
namespace {

// A connection of the test's own that holds a table lock until `release` (libpq: a LOCK
// cannot be prepared, and the sql facade prepares every statement).
class TableLock {
public:
    TableLock(const std::string& url, const std::string& table) : conn_(PQconnectdb(url.c_str())) {
        EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
        exec("BEGIN");
        exec("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
    }
    ~TableLock() {
        release();
        PQfinish(conn_);
    }
    void release() {
        if (held_) exec("COMMIT");
        held_ = false;
    }

private:
    void exec(const std::string& sql) {
        PGresult* r = PQexec(conn_, sql.c_str());
        EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(conn_);
        PQclear(r);
    }
    PGconn* conn_;
    bool held_ = true;
};

}  // namespace

// http/README.md, Threading: reads run on a pool of their own. With one read thread and a
// queue of one, a read that waits on a lock holds that thread, a second waits in the
// queue, and a third is answered 503 overloaded at once; meanwhile writes, health and
// metrics are answered as usual; when the lock goes, both held reads are answered.
TEST(Http, ASlowReadHoldsOneReadThreadAndNothingElse) {
    Stack s(std::map<std::string, std::string>{{"TALLY_HTTP_READ_THREADS", "1"}, {"TALLY_HTTP_READ_QUEUE", "1"}});
    auto c = s.client();
    ASSERT_EQ(s.grant(c, "cust-1", body(2500), "k1", s.admin).status, 201);
    const std::string target = "/v1/customers/cust-1/credit";
    // The read model is there before the lock (then the held reads have something to show).
    for (int i = 0; i < 200 && json::parse(s.get(c, target, s.admin).body)["balance_minor"] != 2500; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_EQ(json::parse(s.get(c, target, s.admin).body)["balance_minor"], 2500);

    auto lock = std::make_unique<TableLock>(s.url, "credit_balances");
    std::atomic<int> answered{0};
    std::vector<int> statuses(2, 0);
    std::vector<std::thread> held;
    // The first read takes the read thread and waits on the lock in PostgreSQL; the second
    // takes the queue's one place.
    const std::function<bool()> waiting_on_the_lock = [&] {
        int64_t waiting = 0;
        EXPECT_TRUE(s.pool.transact([&](sql::Tx& tx) {
            waiting = tx.exec("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                              " AND query LIKE '%FROM credit_balances%'").at(0).i64(0);
        }));
        return waiting == 1;
    };
    const std::function<bool()> one_queued = [&] {
        auto probe = s.client();
        return probe.request("GET", "/metrics").body.find("tally_http_queued{pool=\"read\"} 1") != std::string::npos;
    };
    for (int i = 0; i < 2; ++i) {
        held.emplace_back([&, i] {
            auto own = s.client();
            statuses[static_cast<size_t>(i)] = s.get(own, target, s.admin).status;
            ++answered;
        });
        EXPECT_TRUE(testing::eventually(i == 0 ? waiting_on_the_lock : one_queued)) << "read " << i << " is not in place";
    }
    EXPECT_EQ(answered.load(), 0);  // both wait on the lock (or for the thread that does)
    auto third = s.client();
    const auto start = std::chrono::steady_clock::now();
    auto refused = s.get(third, target, s.admin);
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(json::parse(refused.body)["title"], "overloaded");
    EXPECT_EQ(refused.headers["retry-after"], "1");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));  // at once, not after the lock
    // Writes, health and metrics do not wait for reads.
    EXPECT_EQ(s.grant(third, "cust-2", body(100), "k2", s.admin).status, 201);
    EXPECT_EQ(third.request("GET", "/healthz").status, 200);
    auto metrics = third.request("GET", "/metrics");
    EXPECT_NE(metrics.body.find("tally_http_overloaded_total{pool=\"read\"} 1"), std::string::npos);
    EXPECT_EQ(answered.load(), 0);
    lock->release();
    for (auto& t : held) t.join();
    EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
    EXPECT_EQ(s.get(third, target, s.admin).status, 200);  // the connection refused before is still served
}

}  // namespace tally
