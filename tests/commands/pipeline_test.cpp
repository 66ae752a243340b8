// The group-commit pipeline against a real PostgreSQL.
#include "commands/pipeline.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "events/envelope.h"
#include "infra/journal.h"
#include "tests/support/grants.h"
#include "tests/support/support.h"

namespace tally::commands {
namespace {

using testing::grant_submission;

int64_t fixed_clock() { return 1'800'000'000'000; }

struct Fixture {
    std::string url = testing::fresh_database();
    sql::Pool pool{url, 4};
    Pipeline pipeline{pool, PipelineOptions{512, 0, 20000, 3}, fixed_clock, {}};

    Fixture() {
        testing::token_for(url, "admin-1", "admin");
    }

    int64_t journal_count() {
        int64_t n = 0;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { n = tx.exec("SELECT count(*) FROM journal").at(0).i64(0); }));
        return n;
    }
};

const Reply& reply_of(const Outcome& o) {
    static const Reply none{};
    auto* r = std::get_if<Reply>(&o);
    EXPECT_NE(r, nullptr) << "expected a reply, got rejection " << std::get<Rejection>(o).code;
    return r ? *r : none;
}

std::string rejection_of(const Outcome& o) {
    auto* r = std::get_if<Rejection>(&o);
    return r ? r->code : "(accepted)";
}

}  // namespace

TEST(Pipeline, TwoCommandsOnOneStreamInOneBatchSeeEachOther) {
    Fixture f;
    std::promise<Outcome> a, b;
    // Queued before start: they form one batch.
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k1", "c1", 100, a)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k2", "c1", 250, b)));
    f.pipeline.start();
    auto ra = a.get_future().get(), rb = b.get_future().get();
    EXPECT_EQ(reply_of(ra).status, 201);
    EXPECT_NE(reply_of(rb).body.find("\"balance_minor\":350"), std::string::npos) << reply_of(rb).body;
    EXPECT_NE(reply_of(rb).body.find("\"stream_version\":2"), std::string::npos);
    std::vector<v1::EventEnvelope> evs;
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) { evs = journal::read_stream(tx, "credit-c1", 0, 10); }));
    ASSERT_EQ(evs.size(), 2u);
    EXPECT_FALSE(events::verify_stream(evs));
}

TEST(Pipeline, ARejectedCommandWritesNothingAndDoesNotDisturbTheBatch) {
    Fixture f;
    std::promise<Outcome> a, b, c;
    // The default caps (no policy set): 1,000.00 per grant.
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k1", "c1", 500, a)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k2", "c1", credit::kDefaultPolicy.grant_max_minor + 1, b)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k3", "c1", 700, c)));
    f.pipeline.start();
    EXPECT_EQ(reply_of(a.get_future().get()).status, 201);
    EXPECT_EQ(rejection_of(b.get_future().get()), "grant_exceeds_cap");
    auto rc = c.get_future().get();
    EXPECT_NE(reply_of(rc).body.find("\"balance_minor\":1200"), std::string::npos);
    EXPECT_EQ(f.journal_count(), 2);
}

TEST(Pipeline, SameKeySameBodyReplaysDifferentBodyIsRefused) {
    Fixture f;
    f.pipeline.start();
    std::promise<Outcome> first, again, other;
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "key", "c1", 100, first)));
    const auto r1 = reply_of(first.get_future().get());
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "key", "c1", 100, again)));
    const auto r2 = reply_of(again.get_future().get());
    EXPECT_EQ(r2.body, r1.body);
    EXPECT_EQ(r2.status, r1.status);
    EXPECT_TRUE(r2.replayed);
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "key", "c1", 999, other)));
    EXPECT_EQ(rejection_of(other.get_future().get()), "idempotency_key_reused");
    EXPECT_EQ(f.journal_count(), 1);
}

TEST(Pipeline, DuplicateKeysWithinOneBatchCommitOnce) {
    Fixture f;
    std::promise<Outcome> a, b, c;
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "dup", "c1", 100, a)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "dup", "c1", 100, b)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "dup", "c1", 300, c)));
    f.pipeline.start();
    const auto ra = reply_of(a.get_future().get());
    const auto rb = reply_of(b.get_future().get());
    EXPECT_EQ(ra.body, rb.body);
    EXPECT_TRUE(rb.replayed);
    EXPECT_EQ(rejection_of(c.get_future().get()), "idempotency_key_reused");
    EXPECT_EQ(f.journal_count(), 1);
}

TEST(Pipeline, KeysAreScopedByPrincipal) {
    Fixture f;
    testing::token_for(f.url, "admin-2", "admin");
    f.pipeline.start();
    std::promise<Outcome> a, b;
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "same", "c1", 100, a)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-2", "same", "c1", 100, b)));
    EXPECT_EQ(reply_of(a.get_future().get()).status, 201);
    EXPECT_FALSE(reply_of(b.get_future().get()).replayed);
    EXPECT_EQ(f.journal_count(), 2);
}

TEST(Pipeline, RevokedOrUnknownPrincipalsWriteNothing) {
    Fixture f;
    f.pipeline.start();
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE principals SET session_version = session_version + 1 WHERE id = 'admin-1'");
    }));
    std::promise<Outcome> a, b;
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k", "c1", 100, a)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("ghost", "k", "c1", 100, b)));
    EXPECT_EQ(rejection_of(a.get_future().get()), "token_revoked");
    EXPECT_EQ(rejection_of(b.get_future().get()), "principal_unknown");
    EXPECT_EQ(f.journal_count(), 0);
}

TEST(Pipeline, ConcurrentSubmittersEveryAcceptedGrantIsJournaledOnce) {
    Fixture f;
    f.pipeline.start();
    constexpr int kThreads = 8, kPerThread = 150;
    std::atomic<int> accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                std::promise<Outcome> p;
                auto fut = p.get_future();
                const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
                while (!f.pipeline.submit(grant_submission("admin-1", key, "c" + std::to_string(i % 7), 10, p)))
                    std::this_thread::yield();
                if (std::holds_alternative<Reply>(fut.get())) ++accepted;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(accepted.load(), kThreads * kPerThread);
    EXPECT_EQ(f.journal_count(), kThreads * kPerThread);
    // Snapshots agree with the journal, and every stream's chain verifies.
    ASSERT_TRUE(f.pool.transact([&](sql::Tx& tx) {
        for (int c = 0; c < 7; ++c) {
            const std::string stream = "credit-c" + std::to_string(c);
            auto evs = journal::read_stream(tx, stream, 0, 100000);
            EXPECT_FALSE(events::verify_stream(evs)) << stream;
            auto v = tx.exec("SELECT version FROM snapshots WHERE stream_id = $1", {stream}).at(0).i64(0);
            EXPECT_EQ(v, static_cast<int64_t>(evs.size()));
        }
    }));
}

TEST(Pipeline, StopAnswersEverythingQueued) {
    Fixture f;
    constexpr int kN = 300;
    std::vector<std::promise<Outcome>> answers(kN);
    for (int i = 0; i < kN; ++i)
        ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k" + std::to_string(i), "c" + std::to_string(i), 5, answers[i])));
    f.pipeline.start();
    f.pipeline.stop();
    for (auto& a : answers) {
        auto fut = a.get_future();
        ASSERT_EQ(fut.wait_for(std::chrono::seconds(0)), std::future_status::ready);
        EXPECT_EQ(reply_of(fut.get()).status, 201);
    }
    std::promise<Outcome> late;
    EXPECT_FALSE(f.pipeline.submit(grant_submission("admin-1", "late", "c", 5, late)));
    EXPECT_EQ(f.journal_count(), kN);
}

namespace {

// A command whose stream id PostgreSQL refuses (text cannot hold NUL): a stand-in
// for any command that trips the database.
class PoisonCommand final : public Command {
public:
    std::vector<std::string> streams() const override { return {std::string("bad\0stream", 10)}; }
    Decision decide(const std::map<std::string, StreamState>&, const DecideContext&) const override {
        return Accepted{};
    }
};

}  // namespace

TEST(Pipeline, ACommandTheDatabaseRefusesFailsAloneNotItsBatch) {
    Fixture f;
    std::promise<Outcome> a, poison, b;
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k1", "c1", 100, a)));
    Submission bad;
    bad.claims = {"admin-1", "admin", 1};
    bad.idempotency_key = "poison";
    bad.body_hash = "x";
    bad.command = std::make_unique<PoisonCommand>();
    bad.done = [&poison](Outcome o) { poison.set_value(std::move(o)); };
    ASSERT_TRUE(f.pipeline.submit(std::move(bad)));
    ASSERT_TRUE(f.pipeline.submit(grant_submission("admin-1", "k2", "c2", 200, b)));
    f.pipeline.start();
    EXPECT_EQ(reply_of(a.get_future().get()).status, 201);
    EXPECT_EQ(reply_of(b.get_future().get()).status, 201);
    auto p = poison.get_future().get();
    ASSERT_TRUE(std::holds_alternative<Rejection>(p));
    EXPECT_EQ(std::get<Rejection>(p).kind, RejectionKind::internal);
    EXPECT_EQ(f.journal_count(), 2);
}

TEST(Pipeline, DatabaseDownAnswersRetryLaterAndWritesNothing) {
    Fixture f;
    // A pool pointed at a port nobody listens on.
    sql::Pool dead("postgresql://tally@127.0.0.1:" + std::to_string(testing::free_port()) + "/x?connect_timeout=2", 2);
    Pipeline p(dead, PipelineOptions{16, 0, 100, 2}, fixed_clock, {});
    p.start();
    std::promise<Outcome> a;
    ASSERT_TRUE(p.submit(grant_submission("admin-1", "k", "c1", 100, a)));
    auto o = a.get_future().get();
    ASSERT_TRUE(std::holds_alternative<Rejection>(o));
    EXPECT_EQ(std::get<Rejection>(o).kind, RejectionKind::retry_later);
}

}  // namespace tally::commands
