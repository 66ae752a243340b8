#include "tools/bench_preload.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>

#include "commands/credit.h"
#include "commands/pipeline.h"
#include "events/envelope.h"
#include "infra/config.h"
#include "infra/journal.h"
#include "infra/migrate.h"
#include "infra/sql.h"

namespace tally::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The request a grant stands for, hashed as the API hashes it (method, path, body), so a
// client retrying one of these keys with the same request gets the stored answer.
std::string request_hash(const std::string& customer, int64_t amount) {
    return events::sha256("POST /v1/customers/" + customer + "/credit-grants\n{\"amount_minor\":" + std::to_string(amount) +
                          ",\"currency\":\"USD\",\"reason\":\"preload\"}");
}

}  // namespace

int preload(const PreloadOptions& o) {
    if (o.customers <= 0 || o.events < o.customers || o.batch <= 0) {
        std::fprintf(stderr, "preload: need customers > 0, events >= customers, batch > 0\n");
        return 2;
    }
    if (auto m = infra::migrate(o.pg_url); !m) {
        std::fprintf(stderr, "preload: migrating %s: %s\n", o.pg_url.c_str(), m.error().message.c_str());
        return 1;
    }
    sql::Pool pool(o.pg_url, 4);
    int64_t session_version = 0;
    auto made = pool.transact([&](sql::Tx& tx) {
        tx.exec("INSERT INTO principals (id, role, permissions) VALUES ($1, 'admin', '') ON CONFLICT (id) DO NOTHING",
                {o.principal});
        session_version = tx.exec("SELECT session_version FROM principals WHERE id = $1", {o.principal}).at(0).i64(0);
    });
    if (!made) {
        std::fprintf(stderr, "preload: the principal: %s\n", made.error().message.c_str());
        return 1;
    }

    // The grants stay under the default caps (events / customers grants per customer must
    // fit the balance cap); the preload sets no policy.
    const credit::CreditPolicy policy = credit::kDefaultPolicy;
    const int64_t per_customer = (o.events + o.customers - 1) / o.customers;
    const int64_t amount = std::max<int64_t>(1, std::min(policy.grant_max_minor, policy.balance_max_minor / per_customer));
    const Money each{amount, *Currency::parse("USD")};
    commands::PipelineOptions options;
    options.batch_commands_max = static_cast<size_t>(o.batch);
    options.batch_wait_us = 2000;
    options.queue_commands_max = static_cast<size_t>(o.batch) * 4;
    commands::Pipeline pipeline(pool, options, unix_ms, [] {});
    pipeline.start();

    std::mutex mu;
    std::condition_variable cv;
    int64_t answered = 0, accepted = 0;
    std::map<std::string, int64_t> refused;  // code -> count
    const commands::Claims claims{o.principal, "admin", session_version};
    const auto started = Clock::now();
    auto report = [&](bool last) {
        const double s = std::chrono::duration<double>(Clock::now() - started).count();
        int64_t n = 0;
        {
            std::lock_guard lock(mu);  // the writers' callbacks count under it
            n = answered;
        }
        std::printf("%s%lld of %lld grants, %.0f/s, %.1f s\n", last ? "preload: " : "  ", static_cast<long long>(n),
                    static_cast<long long>(o.events), static_cast<double>(n) / std::max(s, 1e-9), s);
        std::fflush(stdout);
    };
    auto next_report = Clock::now() + std::chrono::seconds(10);
    for (int64_t i = 0; i < o.events; ++i) {
        const std::string customer = "pre-" + std::to_string(i % o.customers);
        commands::Submission s;
        s.claims = claims;
        s.idempotency_key = "preload-" + std::to_string(i);
        s.body_hash = request_hash(customer, amount);
        s.correlation_id = s.idempotency_key;
        s.command = commands::grant_credit(credit::GrantCredit{"", customer, each, "preload", o.principal});
        s.done = [&](commands::Outcome outcome) {
            std::lock_guard lock(mu);
            ++answered;
            if (auto* r = std::get_if<commands::Reply>(&outcome); r && r->status == 201 && !r->replayed) ++accepted;
            else if (auto* j = std::get_if<commands::Rejection>(&outcome)) ++refused[j->code];
            else ++refused[r->replayed ? "replayed" : "status " + std::to_string(r->status)];
            cv.notify_all();
        };
        // The queue bounds memory: wait for room when it is full (this is its only submitter).
        while (pipeline.queued() >= options.queue_commands_max) {
            std::unique_lock lock(mu);
            const int64_t seen = answered;
            cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return answered != seen; });
        }
        if (!pipeline.submit(std::move(s))) {
            std::fprintf(stderr, "preload: the pipeline refused a grant\n");
            pipeline.stop();
            return 1;
        }
        if (Clock::now() >= next_report) {
            report(false);
            next_report += std::chrono::seconds(10);
        }
    }
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return answered == o.events; });
    }
    pipeline.stop();
    report(true);
    int64_t head = -1;
    (void)pool.transact([&](sql::Tx& tx) { head = journal::head_position(tx); });
    std::printf("preload: %lld customers with credit (%lld x %.2f USD each at most), %lld accepted, journal head %lld\n",
                static_cast<long long>(o.customers), static_cast<long long>(per_customer), amount / 100.0,
                static_cast<long long>(accepted), static_cast<long long>(head));
    for (const auto& [code, n] : refused) std::fprintf(stderr, "preload: %lld refused: %s\n", static_cast<long long>(n), code.c_str());
    return accepted == o.events ? 0 : 1;
}

}  // namespace tally::bench
