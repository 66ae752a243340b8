// infra/journal_scan.h against a real PostgreSQL: rows written out of position order come
// back in order, a missing position is passed over, stream order and type filters, stopping early, every
// field decoded, and a scan inside an exported snapshot sees only that snapshot.
#include "infra/journal_scan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "infra/sql.h"
#include "tests/support/support.h"

namespace tally {
namespace {

// Inserts events with these positions, in this physical order; stream s{p % 7}, type
// T{p % 3}, and a payload with every byte value in it.
void insert(sql::Pool& pool, const std::vector<int64_t>& positions) {
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (int64_t p : positions) {
            std::string payload;
            for (int b = 0; b < 256; ++b) payload.push_back(static_cast<char>((b + p) % 256));
            tx.exec("INSERT INTO journal (position, stream_id, stream_version, event_id, type, schema_version,"
                    " occurred_at_unix_ms, causation_id, correlation_id, actor, payload, prev_hash, hash)"
                    " VALUES ($1, $2, $3, $4, $5, 1, $6, 'cause', 'corr', 'admin-1', $7, $8, $9)",
                    {std::to_string(p), "s" + std::to_string(p % 7), std::to_string(p), "evt-" + std::to_string(p),
                     "T" + std::to_string(p % 3), std::to_string(1700000000000 + p), sql::bytea_param(payload),
                     sql::bytea_param(std::string(32, '\0')), sql::bytea_param(std::string(32, static_cast<char>(p % 256)))});
        }
    }));
}

std::vector<int64_t> scanned(const std::string& url, const journal::ScanOptions& o, size_t* calls = nullptr) {
    std::vector<int64_t> out;
    auto r = journal::scan(url, o, [&](const std::vector<v1::EventEnvelope>& batch) {
        if (calls) ++*calls;
        for (const auto& e : batch) out.push_back(e.position());
        return true;
    });
    EXPECT_TRUE(r.has_value()) << r.error();
    return out;
}

std::vector<int64_t> range(int64_t from, int64_t to) {
    std::vector<int64_t> v;
    for (int64_t p = from; p <= to; ++p) v.push_back(p);
    return v;
}

TEST(JournalScan, RowsOutOfPlaceComeBackInPositionOrder) {
    const std::string url = testing::fresh_database();
    sql::Pool pool(url, 2);
    auto physical = range(1, 5000);
    std::reverse(physical.begin(), physical.end());  // the worst case: every row out of place
    insert(pool, physical);
    EXPECT_EQ(scanned(url, {}), range(1, 5000));
    journal::ScanOptions window;
    window.after_position = 100;
    window.up_to_position = 4000;
    EXPECT_EQ(scanned(url, window), range(101, 4000));
}

TEST(JournalScan, AMissingPositionIsPassedOverAndTheRestStillArrives) {
    const std::string url = testing::fresh_database();
    sql::Pool pool(url, 2);
    insert(pool, {1, 2, 5, 4, 7});
    EXPECT_EQ(scanned(url, {}), (std::vector<int64_t>{1, 2, 4, 5, 7}));
}

TEST(JournalScan, StreamOrderTypesStoppingAndEveryField) {
    const std::string url = testing::fresh_database();
    sql::Pool pool(url, 2);
    insert(pool, range(1, 6000));
    journal::ScanOptions by_stream;
    by_stream.by_stream = true;
    std::vector<std::pair<std::string, int64_t>> order;
    ASSERT_TRUE(journal::scan(url, by_stream, [&](const std::vector<v1::EventEnvelope>& batch) {
        for (const auto& e : batch) order.emplace_back(e.stream_id(), e.stream_version());
        return true;
    }));
    ASSERT_EQ(order.size(), 6000u);
    EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
    journal::ScanOptions typed;
    typed.types = {"T1"};
    for (int64_t p : scanned(url, typed)) EXPECT_EQ(p % 3, 1);
    EXPECT_EQ(scanned(url, typed).size(), 2000u);
    // Stopping after the first batch: no second call.
    size_t calls = 0;
    ASSERT_TRUE(journal::scan(url, {}, [&](const std::vector<v1::EventEnvelope>&) { return ++calls < 1; }));
    EXPECT_EQ(calls, 1u);
    // Every field of one event.
    v1::EventEnvelope seen;
    journal::ScanOptions one;
    one.after_position = 4;
    one.up_to_position = 5;
    ASSERT_TRUE(journal::scan(url, one, [&](const std::vector<v1::EventEnvelope>& b) {
        seen = b.at(0);
        return true;
    }));
    EXPECT_EQ(seen.position(), 5);
    EXPECT_EQ(seen.stream_id(), "s5");
    EXPECT_EQ(seen.stream_version(), 5);
    EXPECT_EQ(seen.event_id(), "evt-5");
    EXPECT_EQ(seen.type(), "T2");
    EXPECT_EQ(seen.schema_version(), 1);
    EXPECT_EQ(seen.occurred_at_unix_ms(), 1700000000005);
    EXPECT_EQ(seen.causation_id(), "cause");
    EXPECT_EQ(seen.correlation_id(), "corr");
    EXPECT_EQ(seen.actor(), "admin-1");
    ASSERT_EQ(seen.payload().size(), 256u);
    EXPECT_EQ(static_cast<unsigned char>(seen.payload()[0]), 5);
    EXPECT_EQ(static_cast<unsigned char>(seen.payload()[251]), 0);
    EXPECT_EQ(seen.prev_hash(), std::string(32, '\0'));
    EXPECT_EQ(seen.hash(), std::string(32, '\5'));
}

TEST(JournalScan, InsideAnExportedSnapshotLaterEventsAreNotSeen) {
    const std::string url = testing::fresh_database();
    sql::Pool pool(url, 2);
    insert(pool, range(1, 100));
    std::vector<int64_t> seen;
    ASSERT_TRUE(pool.snapshot([&](sql::Tx& tx) {
        const std::string snapshot = tx.exec("SELECT pg_export_snapshot()").at(0).str(0);
        insert(pool, range(101, 150));  // committed by another transaction meanwhile
        journal::ScanOptions o;
        o.snapshot = snapshot;
        seen = scanned(url, o);
    }));
    EXPECT_EQ(seen, range(1, 100));
    EXPECT_EQ(scanned(url, {}), range(1, 150));
}

TEST(JournalScan, ReusedPagesKeepNothingOfTheEventsBefore) {
    // Pages are handed back and decoded into again: over several pages, payloads and
    // actors of every length (long after short, empty after long) each come back as written.
    const std::string url = testing::fresh_database();
    sql::Pool pool(url, 2);
    const int64_t n = 3 * static_cast<int64_t>(journal::kBatchEvents) + 17;
    auto payload_of = [](int64_t p) { return std::string(static_cast<size_t>((p * 37) % 301), static_cast<char>('a' + p % 26)); };
    auto actor_of = [](int64_t p) { return p % 5 == 0 ? std::string() : "actor-" + std::string(static_cast<size_t>(p % 40), 'x'); };
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        for (int64_t p = 1; p <= n; ++p)
            tx.exec("INSERT INTO journal (position, stream_id, stream_version, event_id, type, schema_version,"
                    " occurred_at_unix_ms, causation_id, correlation_id, actor, payload, prev_hash, hash)"
                    " VALUES ($1, $2, 1, $3, 'T', 1, 1, '', '', $4, $5, $6, $6)",
                    {std::to_string(p), "s" + std::to_string(p), "e" + std::to_string(p), actor_of(p),
                     sql::bytea_param(payload_of(p)), sql::bytea_param(std::string(32, '\0'))});
    }));
    int64_t seen = 0, wrong = 0;
    auto r = journal::scan(url, {}, [&](const std::vector<v1::EventEnvelope>& page) {
        for (const auto& e : page) {
            ++seen;
            if (e.payload() != payload_of(e.position()) || e.actor() != actor_of(e.position()) ||
                e.stream_id() != "s" + std::to_string(e.position()) || !e.causation_id().empty())
                ++wrong;
        }
        return true;
    });
    ASSERT_TRUE(r.has_value()) << r.error();
    EXPECT_EQ(seen, n);
    EXPECT_EQ(wrong, 0);
}

TEST(SqlPool, ATransactionInAnExportedSnapshotSeesWhatItsExporterSees) {
    const std::string url = testing::fresh_database();
    sql::Pool pool(url, 3);
    insert(pool, range(1, 10));
    int64_t in_snapshot = -1;
    ASSERT_TRUE(pool.snapshot([&](sql::Tx& tx) {
        const std::string snapshot = tx.exec("SELECT pg_export_snapshot()").at(0).str(0);
        insert(pool, range(11, 15));  // committed meanwhile
        auto r = pool.snapshot_of(snapshot, [&](sql::Tx& own) { in_snapshot = own.exec("SELECT count(*) FROM journal").at(0).i64(0); });
        ASSERT_TRUE(r.has_value()) << r.error().message;
    }));
    EXPECT_EQ(in_snapshot, 10);
    // Nothing but a snapshot id is sent.
    auto bad = pool.snapshot_of("1'; DROP TABLE journal; --", [](sql::Tx&) {});
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message.find("not a snapshot id"), std::string::npos);
    auto gone = pool.snapshot_of("00000003-0000001B-1", [](sql::Tx&) {});
    EXPECT_FALSE(gone.has_value());
}

TEST(JournalScan, ABadUrlOrSnapshotIsAnErrorNotAnEmptyJournal) {
    auto r = journal::scan("postgresql://tally@127.0.0.1:1/none", {}, [](const auto&) { return true; });
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("journal scan"), std::string::npos);
    const std::string url = testing::fresh_database();
    journal::ScanOptions o;
    o.snapshot = "00000003-0000001B-1";
    r = journal::scan(url, o, [](const auto&) { return true; });
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("snapshot"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace tally
