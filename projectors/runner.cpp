#include "projectors/runner.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>

#include "infra/journal.h"
#include "infra/kafka.h"
#include "infra/metrics.h"

namespace tally::projectors {
namespace {

constexpr auto kKafkaTimeout = std::chrono::seconds(5);
constexpr size_t kBatchEventsMax = 2000;
constexpr int64_t kRebuildChunk = 5000;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t lock_key(const std::string& name) {
    return 7263100 + static_cast<int64_t>(std::hash<std::string>{}(name) % 100000);
}

}  // namespace

struct Runner::Clients {
    std::unique_ptr<kafka::Consumer> consumer;
    std::unique_ptr<kafka::Consumer> probe;  // for watermarks, without disturbing the assignment
};

Runner::Runner(sql::Pool& pool, std::string brokers, std::string topic, std::unique_ptr<Projection> projection)
    : pool_(pool),
      brokers_(std::move(brokers)),
      topic_(std::move(topic)),
      projection_(std::move(projection)),
      name_(projection_->name()),
      clients_(std::make_unique<Clients>()) {
    auto& m = metrics::global();
    m.help("tally_projector_lag_events", "gauge", "Events on Kafka not yet applied by the projector");
    m.help("tally_projector_lag_seconds", "gauge", "Age of the newest applied event while behind");
    m.help("tally_projector_position", "gauge", "Highest journal position applied");
    const std::string label = "projector=\"" + name_ + "\"";
    m.gauge("tally_projector_lag_events", label, [this] { return static_cast<double>(lag().events); });
    m.gauge("tally_projector_lag_seconds", label, [this] { return lag().seconds; });
    m.gauge("tally_projector_position", label, [this] { return static_cast<double>(lag().applied_position); });
}

Runner::~Runner() { stop(); }

void Runner::start() { thread_ = std::thread([this] { run(); }); }

void Runner::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

Lag Runner::lag() const {
    Lag l;
    l.events = lag_events_.load();
    l.applied_position = applied_position_.load();
    if (l.events > 0 && applied_occurred_ms_.load() > 0)
        l.seconds = static_cast<double>(now_ms() - applied_occurred_ms_.load()) / 1000.0;
    return l;
}

bool Runner::init() {
    auto consumer = kafka::Consumer::create(brokers_);
    auto probe = kafka::Consumer::create(brokers_);
    if (!consumer || !probe) return false;
    auto count = (*probe)->partition_count(topic_, kKafkaTimeout);
    if (!count) {
        spdlog::debug("projector {}: topic {} not ready: {}", name_, topic_, count.error());
        return false;
    }
    std::vector<Checkpoint> cps(static_cast<size_t>(*count));
    auto loaded = pool_.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT partition, position, kafka_offset FROM projector_checkpoints"
                                     " WHERE projector = $1", {name_})) {
            const auto p = static_cast<size_t>(r.i64(0));
            if (p < cps.size()) cps[p] = Checkpoint{r.i64(1), r.i64(2)};
        }
    });
    if (!loaded) return false;
    std::vector<std::pair<int32_t, int64_t>> starts;
    for (int32_t p = 0; p < *count; ++p) {
        auto& cp = cps[static_cast<size_t>(p)];
        int64_t start = -2;  // the beginning; events at or below the checkpoint are skipped
        if (cp.offset >= 0) {
            // Resume after the checkpoint only if Kafka still holds that event at that offset
            // (a broker that restarted empty renumbers its offsets).
            auto at = (*probe)->message_at(topic_, p, cp.offset, kKafkaTimeout);
            if (at && *at) {
                v1::EventEnvelope e;
                if (e.ParseFromString((*at)->value) && e.position() == cp.position) start = cp.offset + 1;
            }
        }
        starts.push_back({p, start});
    }
    if (auto a = (*consumer)->assign(topic_, starts); !a) return false;
    {
        std::lock_guard lock(apply_mu_);
        checkpoints_ = std::move(cps);
        high_offsets_.assign(checkpoints_.size(), 0);
        int64_t highest = 0;
        for (const auto& cp : checkpoints_) highest = std::max(highest, cp.position);
        applied_position_ = highest;
    }
    clients_->consumer = std::move(*consumer);
    clients_->probe = std::move(*probe);
    spdlog::info("projector {}: consuming {} partitions of {}", name_, starts.size(), topic_);
    return true;
}

void Runner::refresh_lag() {
    const auto now = std::chrono::steady_clock::now();
    if (now - lag_checked_ < std::chrono::milliseconds(500)) return;
    lag_checked_ = now;
    int64_t behind = 0;
    std::lock_guard lock(apply_mu_);
    for (size_t p = 0; p < checkpoints_.size(); ++p) {
        // The consumer's own view from its fetches: cheap, and never blocks on a broker that is away.
        auto marks = clients_->consumer->cached_watermarks(topic_, static_cast<int32_t>(p));
        if (!marks) continue;
        high_offsets_[p] = marks->second;
        // Offsets are only comparable if the checkpoint came from this broker's numbering.
        const int64_t next = checkpoints_[p].offset + 1;
        behind += std::max<int64_t>(0, marks->second - std::max<int64_t>(next, marks->first));
    }
    lag_events_ = behind;
}

bool Runner::consume_once() {
    auto messages = clients_->consumer->poll(kBatchEventsMax, std::chrono::milliseconds(100));
    refresh_lag();
    if (messages.empty()) return true;
    std::lock_guard lock(apply_mu_);
    std::vector<v1::EventEnvelope> fresh;
    std::vector<Checkpoint> next = checkpoints_;
    std::vector<bool> changed(next.size(), false);
    int64_t newest_ms = 0;
    for (const auto& m : messages) {
        v1::EventEnvelope e;
        if (!e.ParseFromString(m.value)) {
            spdlog::error("projector {}: partition {} offset {} is not an envelope; skipped", name_, m.partition, m.offset);
            continue;
        }
        auto& cp = next.at(static_cast<size_t>(m.partition));
        changed[static_cast<size_t>(m.partition)] = true;
        if (e.position() <= cp.position) {
            cp.offset = std::max(cp.offset, m.offset);  // already applied: just move past it
            continue;
        }
        cp = Checkpoint{e.position(), m.offset};
        newest_ms = std::max(newest_ms, e.occurred_at_unix_ms());
        fresh.push_back(std::move(e));
    }
    std::vector<int64_t> parts, positions, offsets;
    for (size_t p = 0; p < next.size(); ++p)
        if (changed[p]) {
            parts.push_back(static_cast<int64_t>(p));
            positions.push_back(next[p].position);
            offsets.push_back(next[p].offset);
        }
    TableMap live;
    for (const auto& t : projection_->tables()) live[t] = t;
    auto r = pool_.transact([&](sql::Tx& tx) {
        projection_->apply(tx, fresh, live);
        tx.exec("INSERT INTO projector_checkpoints (projector, partition, position, kafka_offset)"
                " SELECT $1, p, pos, o FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS u(p, pos, o)"
                " ON CONFLICT (projector, partition) DO UPDATE SET position = EXCLUDED.position,"
                " kafka_offset = EXCLUDED.kafka_offset, updated_at = now()",
                {name_, sql::int_array(parts), sql::int_array(positions), sql::int_array(offsets)});
    });
    if (!r) {
        spdlog::warn("projector {}: applying {} events failed: {}; will re-read", name_, fresh.size(), r.error().message);
        return false;
    }
    checkpoints_ = std::move(next);
    int64_t highest = applied_position_.load();
    for (const auto& e : fresh) highest = std::max(highest, e.position());
    applied_position_ = highest;
    if (newest_ms) applied_occurred_ms_ = newest_ms;
    metrics::global().counter("tally_projector_applied_events_total", "projector=\"" + name_ + "\"").add(fresh.size());
    return true;
}

void Runner::run() {
    auto backoff = std::chrono::milliseconds(100);
    bool initialised = false;
    while (!stopping_) {
        if (!initialised) initialised = init();
        ready_ = initialised;
        if (initialised && consume_once()) {
            backoff = std::chrono::milliseconds(100);
            continue;
        }
        // Failed: start again from the stored checkpoints after a pause.
        initialised = false;
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
    clients_->consumer.reset();
    clients_->probe.reset();
}

std::expected<int64_t, std::string> Runner::rebuild() {
    if (!projection_->rebuildable()) return std::unexpected(name_ + " is not rebuildable: its tables hold more than the log");
    if (!ready_) return std::unexpected("the projector " + name_ + " is not consuming yet; try again");
    // One owner at a time, across processes: a session-level advisory lock.
    sql::Session session(pool_.url());
    auto got = session.exec("SELECT pg_try_advisory_lock($1)", {std::to_string(lock_key(name_))});
    if (!got) return std::unexpected("database unavailable: " + got.error().message);
    if (!got->at(0).boolean(0)) return std::unexpected("a rebuild of " + name_ + " is already running");

    TableMap shadow;
    for (const auto& t : projection_->tables()) shadow[t] = t + "_rebuild";
    int64_t cursor = 0;
    int64_t replayed = 0;
    auto prepared = pool_.transact([&](sql::Tx& tx) {
        for (const auto& [live, tmp] : shadow) {
            tx.exec("DROP TABLE IF EXISTS " + tmp);
            tx.exec("CREATE TABLE " + tmp + " (LIKE " + live + " INCLUDING ALL)");
        }
    });
    if (!prepared) return std::unexpected(prepared.error().message);
    // Replay in chunks while the live tables keep serving.
    while (true) {
        size_t n = 0;
        auto r = pool_.transact([&](sql::Tx& tx) {
            auto batch = journal::read_after(tx, cursor, kRebuildChunk);
            n = batch.size();
            if (batch.empty()) return;
            projection_->apply(tx, batch, shadow);
            cursor = batch.back().position();
        });
        if (!r) return std::unexpected(r.error().message);
        replayed += static_cast<int64_t>(n);
        if (n < static_cast<size_t>(kRebuildChunk)) break;
    }
    // Swap: pause the live applier, catch up to the head, rename, move checkpoints.
    std::lock_guard lock(apply_mu_);
    const size_t partitions = std::max<size_t>(checkpoints_.size(), 1);
    int64_t head = cursor;
    auto swapped = pool_.transact([&](sql::Tx& tx) {
        while (true) {
            auto batch = journal::read_after(tx, head, kRebuildChunk);
            if (batch.empty()) break;
            projection_->apply(tx, batch, shadow);
            head = batch.back().position();
            replayed += static_cast<int64_t>(batch.size());
        }
        for (const auto& [live, tmp] : shadow) {
            tx.exec("ALTER TABLE " + live + " RENAME TO " + live + "_retired");
            tx.exec("ALTER TABLE " + tmp + " RENAME TO " + live);
            tx.exec("DROP TABLE " + live + "_retired");
        }
        // Everything at or below `head` is in the new tables: the live consumer skips it.
        std::vector<int64_t> parts;
        for (size_t p = 0; p < partitions; ++p) parts.push_back(static_cast<int64_t>(p));
        tx.exec("INSERT INTO projector_checkpoints (projector, partition, position, kafka_offset)"
                " SELECT $1, p, $3, -1 FROM unnest($2::int[]) AS p"
                " ON CONFLICT (projector, partition) DO UPDATE SET"
                " position = GREATEST(projector_checkpoints.position, EXCLUDED.position), updated_at = now()",
                {name_, sql::int_array(parts), std::to_string(head)});
    });
    if (!swapped) return std::unexpected(swapped.error().message);
    for (auto& cp : checkpoints_) cp.position = std::max(cp.position, head);
    applied_position_ = std::max(applied_position_.load(), head);
    spdlog::info("projector {}: rebuilt from {} events up to position {}", name_, replayed, head);
    return replayed;
}

}  // namespace tally::projectors
