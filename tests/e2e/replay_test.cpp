// tally-replay detects tampering with the journal and caches that disagree with the ledger.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "infra/sql.h"
#include "tests/support/support.h"

namespace tally {
namespace {

testing::ToolRun replay(const std::string& url, const std::string& verb) {
    return testing::run_tool("tally-replay", {verb}, {{"TALLY_PG_URL", url}});
}

}  // namespace

TEST(Replay, VerifiesChainsAndReconcilesCachesAndCatchesTampering) {
    const std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd(url, broker.bootstraps());
    tallyd.start();
    const std::string admin = testing::token_for(url, "admin-1", "admin");
    http::Client c("127.0.0.1", tallyd.port());
    for (int i = 0; i < 30; ++i) {
        auto body = nlohmann::json{{"amount_minor", 100 + i}, {"currency", "EUR"}, {"reason", "r"}}.dump();
        ASSERT_EQ(c.request("POST", "/v1/customers/c" + std::to_string(i % 4) + "/credit-grants", body,
                            {{"Authorization", "Bearer " + admin}, {"Idempotency-Key", "k" + std::to_string(i)}})
                      .status,
                  201);
    }
    sql::Pool pool(url, 1);
    // Both read models must have caught up before tallyd stops (each grant posts two legs).
    ASSERT_TRUE(testing::eventually([&] {
        int64_t entries = 0, legs = 0;
        pool.transact([&](sql::Tx& tx) {
            entries = tx.exec("SELECT count(*) FROM credit_entries").at(0).i64(0);
            legs = tx.exec("SELECT coalesce(sum(postings_count), 0) FROM ledger_accounts").at(0).i64(0);
        });
        return entries == 30 && legs == 60;
    }, std::chrono::seconds(60)));
    tallyd.stop();

    auto v = replay(url, "verify");
    EXPECT_EQ(v.status, 0) << v.out;
    EXPECT_NE(v.out.find("verified 30 events in 4 streams: all chains intact"), std::string::npos) << v.out;
    auto r = replay(url, "reconcile");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("every cache agrees"), std::string::npos) << r.out;

    // A stale cache: reconcile names it, and the ledger wins.
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) { tx.exec("UPDATE credit_balances SET balance_minor = balance_minor + 1 WHERE customer_id = 'c2'"); }));
    r = replay(url, "reconcile");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("credit_balances c2"), std::string::npos) << r.out;

    // Someone with superuser rights edits an event behind the trigger's back.
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        tx.exec("ALTER TABLE journal DISABLE TRIGGER journal_no_update_delete");
        tx.exec("UPDATE journal SET actor = 'mallory' WHERE stream_id = 'credit-c1' AND stream_version = 3");
        tx.exec("ALTER TABLE journal ENABLE TRIGGER journal_no_update_delete");
    }));
    v = replay(url, "verify");
    EXPECT_EQ(v.status, 1) << v.out;
    EXPECT_NE(v.out.find("stream credit-c1 broken at version 3"), std::string::npos) << v.out;
}

}  // namespace tally
