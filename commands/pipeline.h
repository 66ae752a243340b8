#pragma once
// The group-commit pipeline. HTTP handlers submit commands; one writer thread
// takes bounded batches and runs each batch in ONE Postgres transaction:
// idempotency lookup, a fresh principal check, snapshots locked in stream order,
// decide/evolve in arrival order in memory, journal append, snapshot and
// idempotency writes, commit. Only then is every submitter answered.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "infra/journal.h"
#include "infra/sql.h"
#include "tally/v1/envelope.pb.h"

namespace tally::commands {

// What the token claims; re-checked against the principals table in the batch.
struct Claims {
    std::string principal_id;
    std::string role;
    int64_t session_version = 0;
    // An identity provider's token (no version of its own: the request adopted the
    // principal's) and when it was issued, checked against the last revocation.
    bool external = false;
    int64_t issued_at = 0;
};

// An accepted (or stored, replayed) answer: the HTTP status and JSON body.
struct Reply {
    int status = 200;
    std::string body;
    bool replayed = false;
};

// What the caller should do about a refusal; http/ maps it to a status.
enum class RejectionKind : uint16_t {
    fix_request = 1,     // 400/422
    state_forbids = 2,   // 409
    retry_later = 3,     // 503
    unauthenticated = 4, // 401
    forbidden = 5,       // 403
    internal = 6,        // 500: the database refused what we wrote; a bug to fix, not to retry
};

struct Rejection {
    RejectionKind kind;
    std::string code;    // stable machine name, e.g. "grant_exceeds_cap"
    std::string detail;  // a sentence for people
    std::string extension_json = {};  // a JSON object merged into the problem document, e.g. a new breakdown
    std::string field = {};           // the request field at fault, when one is
};

using Outcome = std::variant<Reply, Rejection>;

struct StreamState {
    int64_t version = 0;
    std::string state;      // aggregate snapshot bytes
    std::string last_hash;
};

struct NewEvent {
    std::string stream_id;
    std::string type;
    int schema_version = 1;
    std::string payload;
};

struct DecideContext {
    std::string command_id;
    std::string actor;
    int64_t now_unix_ms = 0;
    // The principal as read inside this batch's transaction: authorisation that depends
    // on permissions or ownership is decided here, on fresh data.
    std::string role;
    std::vector<std::string> permissions;
};

// The principal record, read fresh, still backs the token: it exists and is active,
// the session version matches (else revoked), the role matches. Nothing: it does.
std::optional<Rejection> check_principal(const Claims& claims, const journal::Principal* principal);

// `resource.action` granted, where `.manage` implies `.view`.
bool has_permission(const std::vector<std::string>& permissions, const std::string& resource,
                    const std::string& action);

// Financial configuration and movement (commission, fees, credit caps, the loyalty program,
// payout schedules): admins, and employees with finance.manage.
bool manages_finance(const DecideContext& ctx);

// An accepted decision: the events, the new snapshot bytes, and the reply once
// the events have positions.
struct Accepted {
    std::vector<NewEvent> events;
    std::map<std::string, std::string> new_states;
    std::function<Reply(const std::vector<v1::EventEnvelope>&)> reply;
};

using Decision = std::variant<Accepted, Rejection>;

class Command {
public:
    virtual ~Command() = default;
    // Streams the command may write: locked for the batch, created if missing.
    virtual std::vector<std::string> streams() const = 0;
    // Streams it only reads (e.g. the catalog it prices from): read in the batch without a
    // lock, so hot read-mostly streams do not serialize batches. A command that changes
    // one of them serializes after the reading batch. Never written by this command.
    virtual std::vector<std::string> read_streams() const { return {}; }
    // Pure with respect to `states`: reads them, never writes them.
    virtual Decision decide(const std::map<std::string, StreamState>& states,
                            const DecideContext& ctx) const = 0;
};

struct Submission {
    Claims claims;
    std::string idempotency_key;
    std::string body_hash;       // SHA-256 over method, path and body
    std::string correlation_id;  // the request id
    std::unique_ptr<Command> command;
    std::function<void(Outcome)> done;  // called exactly once
};

struct PipelineOptions {
    size_t batch_commands_max = 512;
    int batch_wait_us = 200;
    size_t queue_commands_max = 20000;
    int attempts_max = 3;
    // Writer threads, each with its own transaction: one batch can lock and decide while
    // another waits for its commit. Positions stay in commit order (the journal head lock).
    int writers = 2;
};

// A stream's snapshot state as a protobuf message; nothing for a new (empty) stream or
// bytes that do not parse.
template <typename Message>
std::optional<Message> parse_state(std::string_view bytes) {
    if (bytes.empty()) return std::nullopt;
    Message m;
    if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return std::nullopt;
    return m;
}

// The command id: deterministic from principal and idempotency key, so a retried
// request produces the same event ids.
std::string command_id_for(const std::string& principal, const std::string& idempotency_key);

class Pipeline {
public:
    using Clock = std::function<int64_t()>;  // unix milliseconds
    Pipeline(sql::Pool& pool, PipelineOptions options, Clock clock, std::function<void()> on_commit);
    ~Pipeline();

    void start();
    // Refuses new submissions, finishes every queued and in-flight batch, then returns.
    void stop();
    // False when the queue is full or the pipeline is stopping: answer 503.
    bool submit(Submission s);

    size_t queued() const;

private:
    void run();
    void process(std::vector<Submission>& batch);

    sql::Pool& pool_;
    PipelineOptions options_;
    Clock clock_;
    std::function<void()> on_commit_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Submission> queue_;
    bool stopping_ = false;
    std::vector<std::thread> writers_;
};

// For background jobs: submits as `claims` and waits for the batch's answer. The body
// hash makes the key's idempotency record; keep it stable for a job's keys.
Outcome submit_and_wait(Pipeline& pipeline, const Claims& claims, std::unique_ptr<Command> command,
                        const std::string& key, const std::string& body_hash);

}  // namespace tally::commands
