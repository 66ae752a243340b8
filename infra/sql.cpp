#include "infra/sql.h"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include <charconv>
#include <functional>
#include <thread>
#include <type_traits>
#include <unordered_set>

#include "domain/assert.h"
#include "events/envelope.h"

namespace tally::sql {
namespace {

void quote_into(std::string& out, std::string_view item) {
    out.push_back('"');
    for (char c : item) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
}

DbError classify(const std::exception& e) {
    if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        const std::string state = sql->sqlstate();
        // 23505 unique, 40001 serialization, 40P01 deadlock: the batch may simply be retried.
        if (state == "23505" || state == "40001" || state == "40P01")
            return {DbErrorKind::conflict, sql->what(), state};
        // Class 08 (connection), 57P01 (admin shutdown), 53 (resources): the server is away.
        if (state.rfind("08", 0) == 0 || state.rfind("57", 0) == 0 || state.rfind("53", 0) == 0)
            return {DbErrorKind::unavailable, sql->what(), state};
        return {DbErrorKind::rejected, sql->what(), state};
    }
    if (dynamic_cast<const pqxx::broken_connection*>(&e) ||
        dynamic_cast<const pqxx::in_doubt_error*>(&e))
        return {DbErrorKind::unavailable, e.what(), ""};
    return {DbErrorKind::rejected, e.what(), ""};
}

}  // namespace

const std::string& Row::str(size_t i) const {
    TALLY_ASSERT(cols_.at(i).has_value(), "column {} is null", i);
    return *cols_[i];
}

int64_t Row::i64(size_t i) const {
    const std::string& s = str(i);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    TALLY_ASSERT(ec == std::errc() && end == s.data() + s.size(), "column {} is not an integer: {}", i, s);
    return v;
}

bool Row::boolean(size_t i) const { return str(i) == "t"; }

std::string Row::bytes(size_t i) const {
    const std::string& s = str(i);
    TALLY_ASSERT(s.size() >= 2 && s[0] == '\\' && s[1] == 'x', "column {} is not hex bytea", i);
    std::string out;
    out.reserve((s.size() - 2) / 2);
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (size_t k = 2; k + 1 < s.size(); k += 2)
        out.push_back(static_cast<char>(nibble(s[k]) << 4 | nibble(s[k + 1])));
    return out;
}

class Connection {
public:
    explicit Connection(const std::string& url) : conn_(url) {
        // Every statement is prepared, and after five runs PostgreSQL may keep one generic
        // plan for it, made without the arrays' sizes and often when the table was small:
        // a batch of 20 keys then hash-joins a whole-table scan of snapshots or idempotency
        // for as long as the process lives. A plan per execution costs a little planning
        // and keeps the batches on the indexes (BENCHMARKS.md, issue 15: in a 50k-grant run,
        // sequential scans of snapshots 2,253 → 222-274, of idempotency 1,151 → 56-102).
        conn_.set_variable("plan_cache_mode", "force_custom_plan");
        // The write path's tables live in shared buffers: a random page costs about what a
        // sequential one does. With the default (4.0) a batch's 50-key lookup priced its
        // index probes above reading a table of up to ~50k rows whole, so idempotency and
        // snapshots were scanned end to end while they grew (BENCHMARKS.md, issue 15).
        conn_.set_variable("random_page_cost", "1.1");
    }

    Rows exec(pqxx::transaction_base& tx, std::string_view sql, const std::vector<Param>& params) {
        const std::string name = "s" + std::to_string(std::hash<std::string_view>{}(sql));
        if (!prepared_.contains(name)) {
            conn_.prepare(name, std::string(sql));
            prepared_.insert(name);
        }
        std::vector<const char*> raw;
        raw.reserve(params.size());
        for (const auto& p : params) raw.push_back(p ? p->c_str() : nullptr);
        pqxx::result r = tx.exec_prepared(name, pqxx::prepare::make_dynamic_params(raw));
        Rows rows;
        rows.reserve(r.size());
        for (const auto& row : r) {
            std::vector<std::optional<std::string>> cols;
            cols.reserve(row.size());
            for (const auto& field : row)
                cols.push_back(field.is_null() ? std::nullopt
                                               : std::optional<std::string>(field.c_str()));
            rows.emplace_back(std::move(cols));
        }
        return rows;
    }

    pqxx::connection& raw() { return conn_; }
    bool ok() const { return conn_.is_open(); }

private:
    pqxx::connection conn_;
    std::unordered_set<std::string> prepared_;
};

namespace {

template <typename TxType>
class TxImpl final : public Tx {
public:
    TxImpl(Connection& c, TxType& tx) : c_(c), tx_(tx) {}
    Rows exec(std::string_view sql, const std::vector<Param>& params) override {
        return c_.exec(tx_, sql, params);
    }

private:
    Connection& c_;
    TxType& tx_;
};

}  // namespace

Pool::Pool(std::string url, size_t size) : url_(std::move(url)), size_(size) {}
Pool::~Pool() = default;

std::unique_ptr<Connection> Pool::acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
    }
    ++open_;
    lock.unlock();
    try {
        return std::make_unique<Connection>(url_);
    } catch (...) {
        lock.lock();
        --open_;
        cv_.notify_one();
        throw;
    }
}

// `c` may be a reset pointer: the connection was dropped and its slot is freed.
void Pool::release(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    if (c && c->ok()) idle_.push_back(std::move(c));
    else --open_;
    cv_.notify_one();
}

// Runs fn on a pooled connection inside a TxType (pqxx::work commits, nontransaction
// autocommits each statement), turning any libpqxx exception into a DbError.
template <typename TxType>
std::expected<void, DbError> Pool::run(const std::function<void(Tx&)>& fn, const std::string& setup) {
    std::unique_ptr<Connection> c;
    try {
        c = acquire();
        {
            TxType tx(c->raw());
            if (!setup.empty()) tx.exec0(setup);
            TxImpl<TxType> facade(*c, tx);
            fn(facade);
            if constexpr (!std::is_same_v<TxType, pqxx::nontransaction>) tx.commit();
        }
        release(std::move(c));
        return {};
    } catch (const std::exception& e) {
        DbError err = classify(e);
        // A connection that failed mid-transaction is not trusted again. When acquire()
        // itself failed there is nothing to release: it already gave its slot back.
        if (c) {
            if (err.kind == DbErrorKind::unavailable) c.reset();
            release(std::move(c));
        }
        return std::unexpected(std::move(err));
    }
}

std::expected<void, DbError> Pool::transact(const std::function<void(Tx&)>& fn) { return run<pqxx::work>(fn); }

std::expected<void, DbError> Pool::snapshot(const std::function<void(Tx&)>& fn) {
    return run<pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>>(fn);
}

std::expected<void, DbError> Pool::snapshot_of(const std::string& exported, const std::function<void(Tx&)>& fn) {
    // A snapshot id is hex digits and dashes ("00000003-0000001B-1"); nothing else is sent.
    if (exported.empty() || exported.find_first_not_of("0123456789ABCDEFabcdef-") != std::string::npos)
        return std::unexpected(DbError{DbErrorKind::rejected, "not a snapshot id: " + exported, ""});
    return run<pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only>>(
        fn, "SET TRANSACTION SNAPSHOT '" + exported + "'");
}

std::expected<void, DbError> Pool::autocommit(const std::function<void(Tx&)>& fn) {
    return run<pqxx::nontransaction>(fn);
}

Session::Session(const std::string& url) : conn_(std::make_unique<Connection>(url)) {}
Session::~Session() = default;

std::expected<Rows, DbError> Session::exec(std::string_view sql, const std::vector<Param>& params) {
    try {
        pqxx::nontransaction tx(conn_->raw());
        return conn_->exec(tx, sql, params);
    } catch (const std::exception& e) {
        return std::unexpected(classify(e));
    }
}

std::expected<bool, DbError> SessionLock::try_acquire() {
    if (held_) {
        if (session_ && session_->exec("SELECT 1")) return true;
        release();  // the session is gone, and the lock with it
    }
    try {
        if (!session_) {
            session_ = std::make_unique<Session>(url_);
            for (const char* set : {"SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5",
                                    "SET tcp_keepalives_count = 3"})
                (void)session_->exec(set);
        }
    } catch (const std::exception& e) {
        session_.reset();
        return std::unexpected(classify(e));
    }
    auto got = session_->exec("SELECT pg_try_advisory_lock($1)", {std::to_string(key_)});
    if (!got) {
        session_.reset();
        return std::unexpected(got.error());
    }
    held_ = got->at(0).boolean(0);
    return held_;
}

void SessionLock::release() {
    session_.reset();
    held_ = false;
}

Param bytea_param(std::string_view bytes) {
    std::string out;
    out.reserve(2 + bytes.size() * 2);
    out.append("\\x");
    out.append(events::to_hex(bytes));
    return out;
}

std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        quote_into(out, items[i]);
    }
    out.push_back('}');
    return out;
}

std::string bytea_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        out += "\"\\\\x";
        out += events::to_hex(items[i]);
        out.push_back('"');
    }
    out.push_back('}');
    return out;
}

std::string int_array(const std::vector<int64_t>& items) {
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        out += std::to_string(items[i]);
    }
    out.push_back('}');
    return out;
}

bool wait_until_ready(const std::string& url, std::chrono::milliseconds deadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (true) {
        try {
            pqxx::connection c(url);
            if (c.is_open()) return true;
        } catch (const std::exception& e) {
            if (std::chrono::steady_clock::now() >= until) {
                if (deadline.count() > 0) spdlog::error("postgres at {} not ready: {}", url, e.what());
                return false;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

}  // namespace tally::sql
