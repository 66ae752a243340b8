#pragma once
// The chain checkpointer (events/checkpoint.h): every `every_events` events, or every
// `every_ms` when anything was written meanwhile, it folds the running hash over the
// events since the last checkpoint (read in pages, committed ones only: up to the journal
// head), signs it with the Ed25519 key held outside the database, and appends a
// ChainCheckpoint to stream "checkpoints" through the pipeline. One process at a time
// (OwnedJob); the command is refused unless the stream still ends at the checkpoint the
// fold started from, so a stale owner cannot append a wrong one.

#include <atomic>
#include <cstdint>
#include <functional>

#include "commands/owned_job.h"
#include "commands/pipeline.h"
#include "events/checkpoint.h"
#include "tally/v1/checkpoint.pb.h"

namespace tally::commands {

std::unique_ptr<Command> append_checkpoint(v1::ChainCheckpoint checkpoint);

Claims checkpointer_claims();

struct CheckpointerOptions {
    int64_t every_events = 10000;
    int64_t every_ms = 60000;
    int64_t poll_ms = 1000;
    int page = 10000;  // events read at a time
};

class Checkpointer final : public OwnedJob {
public:
    using Clock = std::function<int64_t()>;
    Checkpointer(sql::Pool& pool, Pipeline& pipeline, events::SigningKey key, CheckpointerOptions options, Clock clock);
    ~Checkpointer() override;

    // One look: a checkpoint when one is due. Its position, 0 when none was due, -1 when
    // this process does not own the job or something failed.
    int64_t step();

private:
    bool run_once() override { return step() > 0; }

    sql::Pool& pool_;
    Pipeline& pipeline_;
    events::SigningKey key_;
    CheckpointerOptions options_;
    Clock clock_;
    int64_t started_ms_;
    std::atomic<int64_t> signed_{0};
};

}  // namespace tally::commands
