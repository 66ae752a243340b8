#pragma once
// The journal and everything written in a command batch's transaction:
// idempotency records, principals, stream snapshots, appended events.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "infra/sql.h"
#include "tally/v1/envelope.pb.h"

namespace tally::journal {

struct IdempotencyKey {
    std::string principal;
    std::string key;
    auto operator<=>(const IdempotencyKey&) const = default;
};

struct StoredResponse {
    std::string body_hash;
    int status = 0;
    std::string body;
};

struct Principal {
    std::string id;
    std::string role;
    std::vector<std::string> permissions;
    int64_t session_version = 0;
    bool active = false;
    // Tokens without a session version issued (iat) before this are revoked; read by
    // load_principal only (a batch checks the version its request adopted).
    int64_t sessions_since_unix_s = 0;
};

struct StreamSnapshot {
    std::string stream_id;
    int64_t version = 0;     // 0: the stream has no events yet
    std::string state;       // aggregate-specific bytes; empty for a new stream
    std::string last_hash;   // genesis hash for a new stream
};

// Operations inside one batch transaction, in as few round trips as possible
// (each costs the most when the machine is busy). REQUIRES: one WriteTx per sql::Tx.
class WriteTx {
public:
    explicit WriteTx(sql::Tx& tx) : tx_(tx) {}

    struct Context {
        std::map<IdempotencyKey, StoredResponse> responses;
        std::map<std::string, Principal> principals;
    };
    // Stored responses for the keys and the principals' records, in one query.
    Context load_context(const std::vector<IdempotencyKey>& keys, const std::vector<std::string>& principal_ids);
    struct Streams {
        std::map<std::string, StreamSnapshot> locked;  // every id asked to lock, created if missing
        std::map<std::string, StreamSnapshot> read;    // the read-only ids that exist and are not locked
    };
    // Creates missing snapshots of `lock_ids` and locks them in stream-id order; in the same
    // statement reads `read_ids` without a lock (streams the batch prices from but never
    // writes: a concurrent change to one serializes after this batch).
    Streams lock_streams(std::vector<std::string> lock_ids, std::vector<std::string> read_ids = {});
    // Takes the journal head lock (held to commit) and sets consecutive positions on the
    // events in vector order.
    void reserve_positions(std::vector<v1::EventEnvelope>& events);
    // Inserts the (sealed, positioned) events, updates the snapshots and stores the
    // idempotency responses, in one statement.
    void write(const std::vector<v1::EventEnvelope>& events, const std::vector<StreamSnapshot>& snapshots,
               const std::vector<std::pair<IdempotencyKey, StoredResponse>>& responses);

private:
    sql::Tx& tx_;
};

// Reads, outside command batches.
std::vector<v1::EventEnvelope> read_after(sql::Tx& tx, int64_t position, int64_t limit);
std::vector<v1::EventEnvelope> read_stream(sql::Tx& tx, const std::string& stream_id,
                                           int64_t after_version, int64_t limit);
int64_t head_position(sql::Tx& tx);
// Current snapshot state bytes of the streams that exist (plain read, no lock).
std::map<std::string, std::string> read_states(sql::Tx& tx, const std::vector<std::string>& stream_ids);
// One stream's state (nullopt while it has no events).
std::optional<std::string> read_state(sql::Tx& tx, const std::string& stream_id);
// The states of the streams whose ids lie strictly between `after` and `before`, in id
// order, at most `limit` (a keyset walk over one kind of stream: "loyalty-" .. "loyalty.").
std::vector<std::pair<std::string, std::string>> read_states_between(sql::Tx& tx, const std::string& after,
                                                                     const std::string& before, int64_t limit);
// Every stream's tip as its snapshot records it (id, version, last event's hash), unordered.
void for_each_snapshot_tip(sql::Tx& tx,
                           const std::function<void(const std::string&, int64_t, const std::string&)>& fn);
std::optional<Principal> load_principal(sql::Tx& tx, const std::string& id);
// Operators' acts (kOperatorActTypes), newest first, strictly before `before_position`
// (a partial index holds exactly these).
std::vector<v1::EventEnvelope> read_operator_acts(sql::Tx& tx, int64_t before_position, int64_t limit);
// The event types that are operators' acts: rebuilds, dead-letter retries, principal
// changes, and changes of financial or catalog policy.
inline constexpr const char* kOperatorActTypes =
    "'ProjectionRebuilt', 'DeadLetterRetried', 'PrincipalDefined', 'PrincipalSessionsRevoked', 'CreditPolicySet',"
    " 'CatalogSettingsChanged', 'LoyaltyProgramDefined', 'AffiliatePayoutScheduleSet'";

}  // namespace tally::journal
