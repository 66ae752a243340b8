#pragma once
// A narrow facade over libpqxx so that only infra/ includes it. Parameters and
// results travel in PostgreSQL's text format; bytea goes as "\x<hex>" (see
// bytea_param / bytea_value). Exceptions from libpqxx never leave infra/:
// Pool::transact turns them into DbError values.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::sql {

using Param = std::optional<std::string>;  // nullopt is SQL NULL

class Row {
public:
    explicit Row(std::vector<std::optional<std::string>> cols) : cols_(std::move(cols)) {}
    bool is_null(size_t i) const { return !cols_.at(i).has_value(); }
    const std::string& str(size_t i) const;  // REQUIRES: not null
    int64_t i64(size_t i) const;
    std::string bytes(size_t i) const;       // decodes a bytea column
    bool boolean(size_t i) const;
    size_t size() const { return cols_.size(); }

private:
    std::vector<std::optional<std::string>> cols_;
};

using Rows = std::vector<Row>;

enum class DbErrorKind : uint16_t {
    unavailable = 1,       // cannot connect or the connection broke: retry later
    conflict = 2,          // unique violation, serialization failure, deadlock: retry now
    rejected = 3,          // the statement or data is wrong: a bug or bad input
};

struct DbError {
    DbErrorKind kind;
    std::string message;
    std::string sqlstate;
};

class Connection;

// A transaction on one connection. Statements are prepared once per connection.
class Tx {
public:
    virtual ~Tx() = default;
    // Throws (internally) on failure; the enclosing transact() catches it.
    virtual Rows exec(std::string_view sql, const std::vector<Param>& params = {}) = 0;
};

class Pool {
public:
    // Connections are opened lazily, at most `size` at once.
    Pool(std::string url, size_t size);
    ~Pool();

    // Runs fn in one transaction and commits when fn returns normally.
    std::expected<void, DbError> transact(const std::function<void(Tx&)>& fn);
    // A read-only REPEATABLE READ transaction: every statement sees one snapshot of the
    // database (e.g. a reconciliation comparing the journal with the caches).
    std::expected<void, DbError> snapshot(const std::function<void(Tx&)>& fn);
    // The same, in the snapshot another transaction exported (`SELECT pg_export_snapshot()`
    // there, while it is open): two connections then see exactly the same database.
    std::expected<void, DbError> snapshot_of(const std::string& exported, const std::function<void(Tx&)>& fn);
    // The same, outside a transaction block (each statement autocommits).
    std::expected<void, DbError> autocommit(const std::function<void(Tx&)>& fn);

    const std::string& url() const { return url_; }
    size_t size() const { return size_; }  // at most this many connections at once

private:
    // `setup`: a statement run first, unprepared (e.g. SET TRANSACTION SNAPSHOT).
    template <typename TxType>
    std::expected<void, DbError> run(const std::function<void(Tx&)>& fn, const std::string& setup = "");
    std::unique_ptr<Connection> acquire();
    void release(std::unique_ptr<Connection> c);

    std::string url_;
    size_t size_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Connection>> idle_;
    size_t open_ = 0;
};

// A dedicated session connection (advisory locks, LISTEN). Not thread-safe.
class Session {
public:
    explicit Session(const std::string& url);
    ~Session();
    std::expected<Rows, DbError> exec(std::string_view sql, const std::vector<Param>& params = {});

private:
    std::unique_ptr<Connection> conn_;
};

// A session-level advisory lock on a connection of its own, for single-owner jobs. It is
// held while that session lives: PostgreSQL frees it when the session ends, however the
// process ends, and the session's TCP keepalives let the server notice a vanished host
// within about 25 s.
class SessionLock {
public:
    SessionLock(std::string url, int64_t key) : url_(std::move(url)), key_(key) {}
    // True when this process holds the lock now (taking it if it is free); a lock whose
    // session stopped answering is given up first. An error when the database is away.
    std::expected<bool, DbError> try_acquire();
    // Ends the session, and with it the lock.
    void release();
    // The lock's own session, for work that must prove the lock still held. REQUIRES: held.
    Session& session() { return *session_; }

private:
    std::string url_;
    int64_t key_;
    std::unique_ptr<Session> session_;
    bool held_ = false;
};

Param bytea_param(std::string_view bytes);
std::string text_array(const std::vector<std::string>& items);
std::string bytea_array(const std::vector<std::string>& items);
std::string int_array(const std::vector<int64_t>& items);

// Waits until a server accepts connections at url, or the deadline passes.
bool wait_until_ready(const std::string& url, std::chrono::milliseconds deadline);

}  // namespace tally::sql
