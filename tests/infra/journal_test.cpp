// The journal on a real PostgreSQL: gap-free positions in commit order,
// append-only, the (stream, version) guard.
#include "infra/journal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "events/envelope.h"
#include "tests/support/support.h"

namespace tally::journal {
namespace {

// Seals `n` events for a stream continuing from `snap` and advances it.
std::vector<v1::EventEnvelope> make_events(StreamSnapshot& snap, int n, const std::string& cmd) {
    std::vector<v1::EventEnvelope> out;
    for (int i = 0; i < n; ++i) {
        v1::EventEnvelope e;
        e.set_event_id(events::event_id_for(cmd, i));
        e.set_stream_id(snap.stream_id);
        e.set_stream_version(snap.version + 1);
        e.set_type("Test");
        e.set_schema_version(1);
        e.set_payload("p");
        events::seal(e, snap.last_hash);
        snap.version = e.stream_version();
        snap.last_hash = e.hash();
        out.push_back(e);
    }
    return out;
}

// Appends n events to `stream` in one transaction; `hold` runs after the append, before commit.
void append_tx(sql::Pool& pool, const std::string& stream, int n, const std::string& cmd,
               const std::function<void()>& hold = {}) {
    auto r = pool.transact([&](sql::Tx& tx) {
        WriteTx w(tx);
        auto snaps = w.lock_streams({stream});
        auto snap = snaps.locked.at(stream);
        auto evs = make_events(snap, n, cmd);
        w.reserve_positions(evs);
        w.write(evs, {snap}, {});
        if (hold) hold();
    });
    ASSERT_TRUE(r) << r.error().message;
}

}  // namespace

TEST(Journal, AppendsWithConsecutivePositionsAndAValidChain) {
    const auto url = testing::fresh_database();
    sql::Pool pool(url, 2);
    append_tx(pool, "s-a", 3, "c1");
    append_tx(pool, "s-b", 2, "c2");
    append_tx(pool, "s-a", 2, "c3");
    std::vector<v1::EventEnvelope> all, a;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) {
        all = read_after(tx, 0, 100);
        a = read_stream(tx, "s-a", 0, 100);
        EXPECT_EQ(head_position(tx), 7);
    }));
    ASSERT_EQ(all.size(), 7u);
    for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].position(), static_cast<int64_t>(i) + 1);
    ASSERT_EQ(a.size(), 5u);
    EXPECT_FALSE(events::verify_stream(a));
}

TEST(Journal, RefusesUpdateDeleteAndTruncate) {
    const auto url = testing::fresh_database();
    sql::Pool pool(url, 2);
    append_tx(pool, "s", 1, "c");
    for (const char* stmt : {"UPDATE journal SET actor = 'mallory'", "DELETE FROM journal", "TRUNCATE journal"}) {
        auto r = pool.transact([&](sql::Tx& tx) { tx.exec(stmt); });
        ASSERT_FALSE(r) << stmt;
        EXPECT_NE(r.error().message.find("append-only"), std::string::npos) << r.error().message;
    }
}

TEST(Journal, StreamVersionIsUniqueEvenWithoutTheSnapshotLock) {
    const auto url = testing::fresh_database();
    sql::Pool pool(url, 2);
    append_tx(pool, "s", 1, "c1");
    // A writer that skipped the lock and reused version 1 is stopped by the constraint.
    auto r = pool.transact([&](sql::Tx& tx) {
        WriteTx w(tx);
        StreamSnapshot stale{"s", 0, "", events::genesis_hash()};
        auto evs = make_events(stale, 1, "c2");
        w.reserve_positions(evs);
        w.write(evs, {}, {});
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, sql::DbErrorKind::conflict);
}

TEST(Journal, ReaderNeverSkipsAnEventCommittedLate) {
    const auto url = testing::fresh_database();
    sql::Pool pool(url, 4);
    std::mutex mu;
    std::condition_variable cv;
    bool a_appended = false, release_a = false;

    // A takes positions 1..2 and holds its transaction open.
    std::thread a([&] {
        append_tx(pool, "s-a", 2, "ca", [&] {
            std::unique_lock lock(mu);
            a_appended = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release_a; });
        });
    });
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return a_appended; });
    }
    // B starts while A is open; it must not become visible with a later position first.
    std::atomic<bool> b_done{false};
    std::thread b([&] {
        append_tx(pool, "s-b", 1, "cb");
        b_done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::vector<v1::EventEnvelope> seen;
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) { seen = read_after(tx, 0, 100); }));
    EXPECT_TRUE(seen.empty()) << "a reader saw position " << seen.front().position() << " while position 1 was in flight";
    EXPECT_FALSE(b_done.load()) << "B committed while A held earlier positions";
    {
        std::lock_guard lock(mu);
        release_a = true;
    }
    cv.notify_all();
    a.join();
    b.join();
    ASSERT_TRUE(pool.transact([&](sql::Tx& tx) { seen = read_after(tx, 0, 100); }));
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].stream_id(), "s-a");
    EXPECT_EQ(seen[1].stream_id(), "s-a");
    EXPECT_EQ(seen[2].stream_id(), "s-b");
    EXPECT_EQ(seen[2].position(), 3);
}

TEST(Journal, TailingReaderSeesContiguousPositionsUnderConcurrentWriters) {
    const auto url = testing::fresh_database();
    sql::Pool pool(url, 6);
    constexpr int kWriters = 4, kTxPerWriter = 40;
    std::atomic<int> total{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w)
        writers.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(w));
            for (int i = 0; i < kTxPerWriter; ++i) {
                const int n = 1 + static_cast<int>(rng() % 5);
                append_tx(pool, "s-" + std::to_string(rng() % 6), n, "w" + std::to_string(w) + "-" + std::to_string(i));
                total += n;
            }
        });
    std::atomic<bool> writing{true};
    std::thread closer([&] {
        for (auto& t : writers) t.join();
        writing = false;
    });
    int64_t last = 0;
    int64_t gaps = 0;
    while (true) {
        const bool was_writing = writing.load();
        std::vector<v1::EventEnvelope> batch;
        ASSERT_TRUE(pool.transact([&](sql::Tx& tx) { batch = read_after(tx, last, 1000); }));
        for (const auto& e : batch) {
            if (e.position() != last + 1) ++gaps;
            last = e.position();
        }
        if (!was_writing && batch.empty()) break;
    }
    closer.join();
    EXPECT_EQ(gaps, 0);
    EXPECT_EQ(last, total.load());
}

}  // namespace tally::journal
