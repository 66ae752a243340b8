// tally-replay detects tampering with the journal and caches that disagree with the ledger.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

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

// On a live deployment events keep coming while `verify` walks the journal: it reads the
// journal and the snapshots in one database snapshot, so a stream written during the walk
// is not reported as a snapshot ahead of its journal.
TEST(Replay, VerifyWhileCustomersAreWrittenToSeesOneConsistentJournal) {
    const std::string url = testing::fresh_database();
    testing::Broker broker;
    testing::Tallyd tallyd(url, broker.bootstraps());
    tallyd.start();
    const std::string admin = testing::token_for(url, "admin-1", "admin");
    std::atomic<bool> stop{false};
    std::atomic<int> granted{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
        writers.emplace_back([&, w] {
            http::Client c("127.0.0.1", tallyd.port());
            for (int i = 0; !stop; ++i) {
                auto body = nlohmann::json{{"amount_minor", 100}, {"currency", "EUR"}, {"reason", "r"}}.dump();
                auto r = c.request("POST", "/v1/customers/live" + std::to_string(i % 2) + "/credit-grants", body,
                                   {{"Authorization", "Bearer " + admin},
                                    {"Idempotency-Key", "live-" + std::to_string(w) + "-" + std::to_string(i)}});
                if (r.status == 201) ++granted;
            }
        });
    }
    ASSERT_TRUE(testing::eventually([&] { return granted >= 20; }));
    std::vector<std::string> outputs;
    int failed = 0;
    for (int run = 0; run < 8; ++run) {
        const int before = granted;
        auto v = replay(url, "verify");
        if (v.status != 0) {
            ++failed;
            outputs.push_back(v.out);
        }
        // The walk overlapped writes to the streams it checked.
        ASSERT_TRUE(testing::eventually([&] { return granted > before; }));
    }
    stop = true;
    for (auto& t : writers) t.join();
    EXPECT_EQ(failed, 0) << (outputs.empty() ? "" : outputs.front());
    auto v = replay(url, "verify");
    EXPECT_EQ(v.status, 0) << v.out;
}

}  // namespace tally
