#pragma once
// A stream's snapshot against the fold of its events through the domain's evolve
// functions (the same the commands use). Kinds with a fold: credit, order, loyalty,
// stock, affiliate payout accounts. Every other kind is compared by version and last hash
// only (the hash chain makes those exact about which events the snapshot has seen).

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tally/v1/envelope.pb.h"

namespace tally::projectors::reconcile {

struct SnapshotDiff {
    std::string field;
    std::string cached;
    std::string log;
};

struct SnapshotCheck {
    bool folded = false;              // false: no fold for this kind, or an event it cannot fold
    std::vector<SnapshotDiff> diffs;  // empty: the snapshot agrees
};

// REQUIRES: `events` are the whole stream, in version order. `version`/`last_hash`/`state`
// are the snapshot row (version 0: none).
SnapshotCheck check_snapshot(const std::string& stream_id, std::span<const v1::EventEnvelope> events,
                             int64_t version, const std::string& last_hash, const std::string& state);

}  // namespace tally::projectors::reconcile
