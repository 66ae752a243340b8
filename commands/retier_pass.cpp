#include "commands/retier_pass.h"

#include <spdlog/spdlog.h>

#include "infra/journal.h"
#include "commands/loyalty.h"
#include "domain/loyalty.h"
#include "events/envelope.h"
#include "infra/metrics.h"
#include "infra/ownership.h"

namespace tally::commands {
namespace {

Claims retier_claims() { return {"system:retier", "system", 1}; }

// Customer loyalty streams sort between these two ('.' follows '-'), the program's
// ("program-loyalty") outside them.
constexpr std::string_view kFirst = "loyalty-";
constexpr std::string_view kPastLast = "loyalty.";

}  // namespace

RetierPass::RetierPass(sql::Pool& pool, Pipeline& pipeline, RetierPassOptions options)
    : OwnedJob(pool, infra::locks::kRetierPass, "re-tiering pass", "re-tiers", options.interval_ms),
      pool_(pool),
      pipeline_(pipeline),
      options_(options) {
    metrics::global().help("tally_loyalty_retiered_total", "counter",
                           "Customers re-tiered by the pass after a loyalty program change");
}

RetierPass::~RetierPass() { stop(); }

int RetierPass::step() {
    if (!take_ownership()) return -1;
    ProgramState program;
    std::string after;
    std::vector<std::pair<std::string, std::string>> streams;  // stream id, state
    bool done = false;
    auto read = pool_.transact([&](sql::Tx& tx) {
        auto p = journal::read_state(tx, std::string(loyalty::kProgramStream));
        if (!p) return;
        program = program_of(*p);
        auto progress = tx.exec("SELECT program_version, after_stream, completed FROM loyalty_retier_progress WHERE id = 1");
        if (!progress.empty() && progress.front().i64(0) == program.version) {
            if (progress.front().boolean(2)) {
                done = true;
                return;
            }
            after = progress.front().str(1);
        }
        streams = journal::read_states_between(tx, after.empty() ? std::string(kFirst) : after, std::string(kPastLast),
                                               options_.batch_max);
    });
    if (!read) {
        spdlog::warn("re-tiering pass: reading: {}", read.error().message);
        return -1;
    }
    if (done || program.version == 0) return -1;

    int retiered = 0;
    bool stuck = false;
    std::string last = after;
    for (const auto& [stream, bytes] : streams) {
        v1::LoyaltyState state;
        if (!state.ParseFromString(bytes)) {
            spdlog::error("re-tiering pass: {} does not parse; skipped", stream);
            last = stream;
            continue;
        }
        const std::string customer = stream.substr(kFirst.size());
        // Only customers the program moves: the rest need no command at all.
        if (!loyalty::decide(state, program.view(), loyalty::ProgramChanged{}).empty()) {
            const std::string key = "retier-" + customer + "-v" + std::to_string(program.version);
            auto outcome = submit_and_wait(pipeline_, retier_claims(), retier(customer), key,
                                           events::sha256("re-tiering pass\n" + key));
            if (auto* rej = std::get_if<Rejection>(&outcome)) {
                // Not recorded as done: the next step starts again from this customer.
                spdlog::warn("re-tiering pass: {}: {}: {}", customer, rej->code, rej->detail);
                stuck = true;
                break;
            }
            const auto& reply = std::get<Reply>(outcome);
            if (!reply.replayed) {
                ++retiered;
                metrics::global().counter("tally_loyalty_retiered_total").add();
            }
        }
        last = stream;
    }
    const bool completed = !stuck && static_cast<int>(streams.size()) < options_.batch_max;
    // Through the lock's own session: a process that lost the lock records nothing.
    auto wrote = lock_session().exec(
        "INSERT INTO loyalty_retier_progress (id, program_version, after_stream, completed) VALUES (1, $1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET program_version = EXCLUDED.program_version,"
        " after_stream = EXCLUDED.after_stream, completed = EXCLUDED.completed",
        {std::to_string(program.version), last, completed ? "true" : "false"});
    if (!wrote) spdlog::warn("re-tiering pass: recording progress: {}", wrote.error().message);
    if (completed) spdlog::info("re-tiering pass: program version {} done", program.version);
    return stuck || (completed && retiered == 0) ? -1 : retiered;
}

}  // namespace tally::commands
