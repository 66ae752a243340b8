#pragma once
// The journal and everything written in a command batch's transaction:
// idempotency records, principals, stream snapshots, appended events.

#include <cstdint>
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
};

struct StreamSnapshot {
    std::string stream_id;
    int64_t version = 0;     // 0: the stream has no events yet
    std::string state;       // aggregate-specific bytes; empty for a new stream
    std::string last_hash;   // genesis hash for a new stream
};

// Operations inside one batch transaction. REQUIRES: one WriteTx per sql::Tx.
class WriteTx {
public:
    explicit WriteTx(sql::Tx& tx) : tx_(tx) {}

    std::map<IdempotencyKey, StoredResponse> find_responses(const std::vector<IdempotencyKey>& keys);
    std::map<std::string, Principal> load_principals(const std::vector<std::string>& ids);
    // Creates missing snapshots, then locks all of them in stream-id order.
    std::map<std::string, StreamSnapshot> lock_streams(std::vector<std::string> stream_ids);
    // Takes the journal head lock (held to commit), assigns consecutive positions
    // in vector order and inserts the events. Events must be sealed.
    void append(std::vector<v1::EventEnvelope>& events);
    void save_snapshots(const std::vector<StreamSnapshot>& snapshots);
    void save_responses(const std::vector<std::pair<IdempotencyKey, StoredResponse>>& responses);

private:
    sql::Tx& tx_;
};

// Reads, outside command batches.
std::vector<v1::EventEnvelope> read_after(sql::Tx& tx, int64_t position, int64_t limit);
std::vector<v1::EventEnvelope> read_stream(sql::Tx& tx, const std::string& stream_id,
                                           int64_t after_version, int64_t limit);
int64_t head_position(sql::Tx& tx);
std::optional<Principal> load_principal(sql::Tx& tx, const std::string& id);

}  // namespace tally::journal
