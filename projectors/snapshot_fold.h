#pragma once
// A stream's snapshot against the fold of its events through the domain's evolve
// functions (the same the commands use). Kinds with a fold: credit, order, loyalty,
// stock, affiliate payout accounts, subscriptions, principals. Every other kind is compared by version and last hash
// only (the hash chain makes those exact about which events the snapshot has seen).

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tally/v1/envelope.pb.h"
#include "tally/v1/principal.pb.h"

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

// A stream's events folded one at a time, so that a long stream (a hot product's stock)
// never sits in memory whole: `add` each event in version order, then `finish` with the
// snapshot row (version 0: none).
class StreamFold {
public:
    explicit StreamFold(std::string stream_id);
    ~StreamFold();
    StreamFold(StreamFold&&) noexcept;
    StreamFold& operator=(StreamFold&&) noexcept;

    void add(const v1::EventEnvelope& e);
    SnapshotCheck finish(int64_t version, const std::string& last_hash, const std::string& state);

    const std::string& stream() const { return stream_; }
    int64_t last_position() const { return last_position_; }

private:
    struct Folded;
    std::string stream_;
    std::unique_ptr<Folded> f_;
    bool ok_ = true;  // false: an event this fold cannot fold (then only version and hash are compared)
    std::string broken_;  // an event that breaks a domain invariant (the log's fault): reported as a diff
    void fold_one(const v1::EventEnvelope& e);
    int64_t count_ = 0, last_version_ = 0, last_position_ = 0;
    std::string last_hash_;
};

// One event of a principal's stream folded into its record; false: not one of its events.
bool fold_principal(v1::PrincipalRecord& record, const v1::EventEnvelope& e);

// The same for a whole stream at hand. REQUIRES: `events` are the whole stream, in version order. `version`/`last_hash`/`state`
// are the snapshot row (version 0: none).
SnapshotCheck check_snapshot(const std::string& stream_id, std::span<const v1::EventEnvelope> events,
                             int64_t version, const std::string& last_hash, const std::string& state);

}  // namespace tally::projectors::reconcile
