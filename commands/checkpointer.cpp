#include "commands/checkpointer.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "infra/journal.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "infra/metrics.h"
#include "infra/ownership.h"

namespace tally::commands {
namespace {

class AppendCheckpoint final : public Command {
public:
    explicit AppendCheckpoint(v1::ChainCheckpoint c) : c_(std::move(c)) {}
    std::vector<std::string> streams() const override { return {std::string(events::kCheckpointStream)}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "system") return Rejection{RejectionKind::forbidden, "forbidden", "only the checkpointer"};
        const std::string stream(events::kCheckpointStream);
        v1::ChainCheckpointState state;
        if (!states.at(stream).state.empty()) state.ParseFromString(states.at(stream).state);
        if (state.position() != c_.previous_position() || c_.position() <= state.position())
            return Rejection{RejectionKind::state_forbids, "checkpoint_moved",
                             "the last checkpoint is at " + std::to_string(state.position()) + ", not " +
                                 std::to_string(c_.previous_position())};
        Accepted a;
        a.events.push_back({stream, std::string(events::kChainCheckpoint), 1, c_.SerializeAsString()});
        state.set_position(c_.position());
        state.set_running_hash(c_.running_hash());
        state.set_at_unix_ms(c_.at_unix_ms());
        state.set_count(state.count() + 1);
        a.new_states[stream] = state.SerializeAsString();
        a.reply = [p = c_.position()](const std::vector<v1::EventEnvelope>&) {
            return Reply{201, nlohmann::json{{"position", p}}.dump()};
        };
        return a;
    }

private:
    v1::ChainCheckpoint c_;
};

}  // namespace

std::unique_ptr<Command> append_checkpoint(v1::ChainCheckpoint checkpoint) {
    return std::make_unique<AppendCheckpoint>(std::move(checkpoint));
}

Claims checkpointer_claims() { return {"system:checkpoints", "system", 1}; }

Checkpointer::Checkpointer(sql::Pool& pool, Pipeline& pipeline, events::SigningKey key, CheckpointerOptions options,
                           Clock clock)
    : OwnedJob(pool, infra::locks::kCheckpoints, "chain checkpointer", "signs chain checkpoints", options.poll_ms),
      pool_(pool),
      pipeline_(pipeline),
      key_(std::move(key)),
      options_(options),
      clock_(std::move(clock)),
      started_ms_(clock_()) {
    auto& m = metrics::global();
    m.help("tally_checkpoints_total", "counter", "Signed chain checkpoints appended by this process");
    m.help("tally_checkpoint_position", "gauge", "The position the last checkpoint this process signed covers");
    m.gauge("tally_checkpoint_position", "", [this] { return static_cast<double>(signed_.load()); }, this);
}

Checkpointer::~Checkpointer() {
    metrics::global().drop_gauges(this);  // first: a render may be reading them
    stop();
}

int64_t Checkpointer::step() {
    if (!take_ownership()) return -1;
    v1::ChainCheckpointState last;
    int64_t head = 0;
    bool fresh = false;
    auto read = pool_.transact([&](sql::Tx& tx) {
        if (auto s = journal::read_state(tx, std::string(events::kCheckpointStream))) last.ParseFromString(*s);
        // The head: every position up to it is committed (it moves in the appending transaction).
        head = tx.exec("SELECT position FROM journal_head WHERE id = 1").at(0).i64(0);
        // Anything new but checkpoints? (One row is enough to say.)
        if (head > last.position())
            fresh = !tx.exec("SELECT 1 FROM journal WHERE position > $1 AND position <= $2 AND stream_id <> $3 LIMIT 1",
                             {std::to_string(last.position()), std::to_string(head),
                              std::string(events::kCheckpointStream)})
                         .empty();
    });
    if (!read) {
        spdlog::warn("chain checkpointer: reading: {}", read.error().message);
        return -1;
    }
    const int64_t now = clock_();
    // Nothing new but checkpoints: nothing to sign. Else by count, or by time (since the
    // last checkpoint, or since this process started when there is none yet).
    const int64_t since = std::max(last.at_unix_ms(), started_ms_);
    if (!fresh || (head - last.position() < options_.every_events && now - since < options_.every_ms)) return 0;
    std::string running = last.position() == 0 ? events::running_hash_start() : last.running_hash();
    int64_t at = last.position();
    while (at < head) {
        int64_t got = 0;
        bool gap = false;
        auto page = pool_.transact([&](sql::Tx& tx) {
            for (const auto& row : tx.exec("SELECT position, hash FROM journal WHERE position > $1 AND position <= $2"
                                           " ORDER BY position LIMIT $3",
                                           {std::to_string(at), std::to_string(head), std::to_string(options_.page)})) {
                if (row.i64(0) != at + 1) gap = true;
                if (gap) return;
                running = events::running_hash_next(running, row.bytes(1));
                at = row.i64(0);
                ++got;
            }
        });
        if (!page || gap || got == 0) {
            spdlog::error("chain checkpointer: the journal after {} is not contiguous or cannot be read: {}", at,
                          page ? "a gap" : page.error().message);
            return -1;
        }
    }
    v1::ChainCheckpoint c;
    c.set_position(head);
    c.set_running_hash(running);
    c.set_previous_position(last.position());
    c.set_key_id(key_.key_id);
    c.set_signature(events::sign_ed25519(key_, events::checkpoint_message(head, running, key_.key_id)));
    c.set_at_unix_ms(now);
    if (c.signature().size() != 64) {
        spdlog::error("chain checkpointer: signing failed");
        return -1;
    }
    const std::string key = "checkpoint-" + std::to_string(head);
    auto outcome = submit_and_wait(pipeline_, checkpointer_claims(), append_checkpoint(std::move(c)), key,
                                   events::sha256("checkpoint\n" + key));
    if (auto* rej = std::get_if<Rejection>(&outcome)) {
        spdlog::warn("chain checkpointer: {}: {}", rej->code, rej->detail);
        return -1;
    }
    metrics::global().counter("tally_checkpoints_total").add();
    signed_ = head;
    spdlog::info("chain checkpoint at position {} signed by key {}", head, key_.key_id);
    return head;
}

}  // namespace tally::commands
