#include "projectors/runner.h"

#include <spdlog/spdlog.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>

#include "infra/journal.h"
#include "infra/journal_scan.h"
#include "infra/kafka.h"
#include "infra/metrics.h"
#include "infra/ownership.h"
#include "infra/threads.h"

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

// Whether apply() would issue any statement for these events: a dry run that stops at
// the first one. Projections issue none for a batch they ignore (projection.h).
bool writes_anything(const Projection& projection, const std::vector<v1::EventEnvelope>& events, const TableMap& tables) {
    struct WouldWrite {};
    struct DryRun final : sql::Tx {
        sql::Rows exec(std::string_view, const std::vector<sql::Param>&) override { throw WouldWrite{}; }
    } dry;
    try {
        projection.apply(dry, events, tables);
    } catch (const WouldWrite&) {
        return true;
    }
    return false;
}

}  // namespace

std::expected<void, Fenced> apply_fenced(sql::Tx& tx, const Projection& projection, const TableMap& tables,
                                         const std::vector<v1::EventEnvelope>& events,
                                         const std::vector<PartitionBatch>& partitions) {
    std::vector<int64_t> parts, positions, offsets;
    for (const auto& p : partitions) {
        parts.push_back(p.partition);
        positions.push_back(p.position);
        offsets.push_back(p.offset);
    }
    // The fence: whoever holds these rows applies; a batch read after anything but the
    // stored checkpoint (a stale owner's, a zombie's) is refused whole.
    std::map<int32_t, int64_t> stored;
    for (const auto& row : tx.exec("SELECT partition, position FROM projector_checkpoints WHERE projector = $1"
                                   " AND partition = ANY($2::int[]) ORDER BY partition FOR UPDATE",
                                   {projection.name(), sql::int_array(parts)}))
        stored[static_cast<int32_t>(row.i64(0))] = row.i64(1);
    for (const auto& p : partitions) {
        auto it = stored.find(p.partition);
        const int64_t have = it == stored.end() ? -1 : it->second;
        if (have != p.base_position) return std::unexpected(Fenced{p.partition, have, p.base_position});
    }
    projection.apply(tx, events, tables);
    tx.exec("UPDATE projector_checkpoints c SET position = u.pos, kafka_offset = u.o, updated_at = now()"
            " FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS u(p, pos, o)"
            " WHERE c.projector = $1 AND c.partition = u.p",
            {projection.name(), sql::int_array(parts), sql::int_array(positions), sql::int_array(offsets)});
    return {};
}

struct Runner::Clients {
    kafka::Rebalance rebalance;
    std::unique_ptr<kafka::Consumer> consumer;
};

Runner::Runner(sql::Pool& pool, std::string brokers, std::string topic, std::unique_ptr<Projection> projection,
               RunnerOptions options)
    : pool_(pool),
      brokers_(std::move(brokers)),
      topic_(std::move(topic)),
      projection_(std::move(projection)),
      name_(projection_->name()),
      options_(std::move(options)),
      clients_(std::make_unique<Clients>()) {
    if (options_.owner.empty()) options_.owner = infra::process_name();
    for (const auto& t : projection_->tables()) live_[t] = t;
    clients_->rebalance.on_assign = [this](const std::vector<int32_t>& p) { return on_assign(p); };
    clients_->rebalance.on_revoke = [this](const std::vector<int32_t>& p, bool lost) { on_revoke(p, lost); };
    auto& m = metrics::global();
    m.help("tally_projector_lag_events", "gauge", "Events on Kafka not yet applied by the projector");
    m.help("tally_projector_lag_seconds", "gauge", "Age of the newest applied event while behind");
    m.help("tally_projector_position", "gauge", "Highest journal position applied");
    m.help("tally_projector_applied_events_total", "counter", "Events applied to the read models");
    m.help("tally_projector_failed_batches_total", "counter", "Batches rolled back by an error (retried)");
    m.help("tally_projector_fenced_batches_total", "counter", "Batches refused because another owner had moved the checkpoint");
    const std::string label = "projector=\"" + name_ + "\"";
    m.gauge("tally_projector_lag_events", label, [this] { return static_cast<double>(lag().events); }, this);
    m.gauge("tally_projector_lag_seconds", label, [this] { return lag().seconds; }, this);
    m.gauge("tally_projector_position", label, [this] { return static_cast<double>(lag().applied_position); }, this);
    m.help("tally_projector_partitions_owned", "gauge", "Partitions this process applies for the projector");
    m.gauge("tally_projector_partitions_owned", label, [this] { return static_cast<double>(owned().size()); }, this);
}

std::vector<int32_t> Runner::owned() const {
    std::lock_guard lock(apply_mu_);
    std::vector<int32_t> out;
    for (const auto& [p, cp] : owned_) out.push_back(p);
    return out;
}

Runner::~Runner() {
    metrics::global().drop_gauges(this);  // first: a render may be reading them
    stop();
}

void Runner::start() {
    thread_ = std::thread([this] {
        infra::name_this_thread("proj:" + name_);
        run();
    });
}

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
    auto probe = kafka::Consumer::create(brokers_);
    if (!probe) {
        spdlog::error("projector {}: Kafka client: {}", name_, probe.error());
        return false;
    }
    auto count = (*probe)->partition_count(topic_, kKafkaTimeout);
    if (!count) {
        spdlog::debug("projector {}: topic {} not ready: {}", name_, topic_, count.error());
        return false;
    }
    // Every partition has a checkpoint row before anyone applies, so the fence always
    // has a row to lock.
    auto seeded = pool_.transact([&](sql::Tx& tx) {
        tx.exec("INSERT INTO projector_checkpoints (projector, partition, position, kafka_offset)"
                " SELECT $1, p, 0, -1 FROM generate_series(0, $2::int - 1) AS p ON CONFLICT DO NOTHING",
                {name_, std::to_string(*count)});
    });
    if (!seeded) return false;
    {
        std::lock_guard lock(apply_mu_);
        partitions_ = *count;
        owned_.clear();
    }
    kafka::GroupOptions group{topic_ + ".projector." + name_, options_.session_timeout_ms,
                              std::max(options_.session_timeout_ms * 3, 30000)};
    auto consumer = kafka::Consumer::create_group(brokers_, topic_, group, &clients_->rebalance);
    if (!consumer) {
        spdlog::warn("projector {}: cannot join group {}: {}", name_, group.group_id, consumer.error());
        return false;
    }
    clients_->consumer = std::move(*consumer);
    spdlog::info("projector {}: joined group {} for {} partitions of {}", name_, group.group_id, *count, topic_);
    return true;
}

// The broker gave this process some partitions: resume each after its stored checkpoint.
std::vector<std::pair<int32_t, int64_t>> Runner::on_assign(const std::vector<int32_t>& partitions) {
    std::map<int32_t, Checkpoint> cps;
    for (auto p : partitions) cps[p] = Checkpoint{};
    std::vector<int64_t> parts(partitions.begin(), partitions.end());
    auto loaded = pool_.transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT partition, position, kafka_offset FROM projector_checkpoints"
                                     " WHERE projector = $1 AND partition = ANY($2::int[])",
                                     {name_, sql::int_array(parts)}))
            cps[static_cast<int32_t>(r.i64(0))] = Checkpoint{r.i64(1), r.i64(2), r.i64(1)};
        // Who applies what, for operators: this process, since now.
        tx.exec("INSERT INTO projector_owners (projector, partition, owner, since)"
                " SELECT $1, p, $3, now() FROM unnest($2::int[]) AS p"
                " ON CONFLICT (projector, partition) DO UPDATE SET owner = EXCLUDED.owner, since = now()",
                {name_, sql::int_array(parts), options_.owner});
    });
    if (!loaded) spdlog::warn("projector {}: loading checkpoints: {}", name_, loaded.error().message);
    std::vector<std::pair<int32_t, int64_t>> starts;
    // A client of its own reads the checkpoints' events, without disturbing the assignment;
    // made only for an assignment (rare), so an idle process keeps one client per projector.
    std::unique_ptr<kafka::Consumer> probe;
    if (loaded && std::any_of(cps.begin(), cps.end(), [](const auto& c) { return c.second.offset >= 0; })) {
        auto made = kafka::Consumer::create(brokers_);
        if (made) probe = std::move(*made);
        else spdlog::warn("projector {}: no client to check its checkpoints: {}", name_, made.error());
    }
    for (auto& [p, cp] : cps) {
        int64_t start = -2;  // the beginning; events at or below the checkpoint are skipped
        if (loaded && cp.offset >= 0 && probe) {
            // Resume after the checkpoint only if Kafka still holds that event at that offset
            // (a broker that restarted empty renumbers its offsets).
            auto at = probe->message_at(topic_, p, cp.offset, kKafkaTimeout);
            if (at && *at) {
                v1::EventEnvelope e;
                if (e.ParseFromString((*at)->value) && e.position() == cp.position) start = cp.offset + 1;
            }
        }
        // Unknown checkpoint (the database did not answer): -1 can never match the fence,
        // so nothing is applied until the next assignment reads it.
        if (!loaded) cp.position = -1;
        starts.push_back({p, start});
    }
    std::lock_guard lock(apply_mu_);
    for (auto& [p, cp] : cps) {
        cp.stored = cp.position;
        owned_[p] = cp;
    }
    int64_t highest = 0;
    for (const auto& [p, cp] : owned_) highest = std::max(highest, cp.position);
    applied_position_ = highest;
    spdlog::info("projector {}: assigned partitions {} (now {} of {})", name_, fmt::join(partitions, ","),
                 owned_.size(), partitions_);
    return starts;
}

void Runner::on_revoke(const std::vector<int32_t>& partitions, bool lost) {
    {
        std::lock_guard lock(apply_mu_);
        for (auto p : partitions) owned_.erase(p);
    }
    std::vector<int64_t> parts(partitions.begin(), partitions.end());
    auto r = pool_.transact([&](sql::Tx& tx) {
        tx.exec("DELETE FROM projector_owners WHERE projector = $1 AND partition = ANY($2::int[]) AND owner = $3",
                {name_, sql::int_array(parts), options_.owner});
    });
    (void)r;  // only the ownership view; the next owner overwrites it anyway
    if (lost)
        spdlog::warn("projector {}: lost partitions {} (this process was away past its session)", name_,
                     fmt::join(partitions, ","));
    else
        spdlog::info("projector {}: handed over partitions {}", name_, fmt::join(partitions, ","));
}

void Runner::refresh_lag() {
    const auto now = std::chrono::steady_clock::now();
    if (now - lag_checked_ < std::chrono::milliseconds(500)) return;
    lag_checked_ = now;
    int64_t behind = 0;
    std::lock_guard lock(apply_mu_);
    for (const auto& [p, cp] : owned_) {
        // The consumer's own view from its fetches: cheap, and never blocks on a broker that is away.
        auto marks = clients_->consumer->cached_watermarks(topic_, p);
        if (!marks) continue;
        // Offsets are only comparable if the checkpoint came from this broker's numbering.
        const int64_t next = cp.offset + 1;
        behind += std::max<int64_t>(0, marks->second - std::max<int64_t>(next, marks->first));
    }
    lag_events_ = behind;
}

bool Runner::consume_once() {
    auto messages = clients_->consumer->poll(kBatchEventsMax, std::chrono::milliseconds(100));
    refresh_lag();
    std::lock_guard lock(apply_mu_);
    if (messages.empty()) return store({}, {});  // quiet: store what ignored batches left
    std::vector<v1::EventEnvelope> fresh;
    std::map<int32_t, Checkpoint> next;
    int64_t newest_ms = 0;
    for (const auto& m : messages) {
        if (!owned_.contains(m.partition)) continue;  // fetched before it was handed over
        v1::EventEnvelope e;
        if (!e.ParseFromString(m.value)) {
            spdlog::error("projector {}: partition {} offset {} is not an envelope; skipped", name_, m.partition, m.offset);
            continue;
        }
        auto& cp = next.try_emplace(m.partition, owned_.at(m.partition)).first->second;
        if (e.position() <= cp.position) {
            cp.offset = std::max(cp.offset, m.offset);  // already applied: just move past it
            continue;
        }
        cp.position = e.position();
        cp.offset = m.offset;
        newest_ms = std::max(newest_ms, e.occurred_at_unix_ms());
        fresh.push_back(std::move(e));
    }
    if (next.empty()) return true;
    if (std::chrono::steady_clock::now() - stored_at_ < std::chrono::milliseconds(options_.store_ignored_ms) &&
        !writes(fresh)) {
        for (const auto& [p, cp] : next) owned_[p] = cp;  // nothing to write: stored later
    } else if (!store(fresh, next)) {
        return false;
    }
    int64_t highest = applied_position_.load();
    for (const auto& e : fresh) highest = std::max(highest, e.position());
    applied_position_ = highest;
    if (newest_ms) applied_occurred_ms_ = newest_ms;
    metrics::global().counter("tally_projector_applied_events_total", "projector=\"" + name_ + "\"").add(fresh.size());
    return true;
}

bool Runner::writes(const std::vector<v1::EventEnvelope>& events) {
    for (const auto& e : events)
        if (writing_types_.contains(e.type())) return true;
    if (!writes_anything(*projection_, events, live_)) return false;
    // Learn which of these types wrote on their own: a later batch holding one is stored
    // without a dry run (storing a batch is always right; only skipping one needs proof).
    std::set<std::string> tried;
    for (const auto& e : events)
        if (tried.insert(e.type()).second && writes_anything(*projection_, {e}, live_)) writing_types_.insert(e.type());
    return true;
}

bool Runner::store(const std::vector<v1::EventEnvelope>& events, std::map<int32_t, Checkpoint> next) {
    for (const auto& [p, cp] : owned_)
        if (cp.position != cp.stored) next.try_emplace(p, cp);
    if (next.empty()) return true;
    std::vector<PartitionBatch> batch;
    for (const auto& [p, cp] : next) batch.push_back({p, cp.stored, cp.position, cp.offset});
    // A refused batch wrote nothing (the fence runs before any write), so the
    // transaction just commits its read.
    std::optional<Fenced> fenced;
    auto r = pool_.transact([&](sql::Tx& tx) {
        if (options_.statement_timeout_ms > 0)
            tx.exec("SELECT set_config('statement_timeout', $1, true)", {std::to_string(options_.statement_timeout_ms)});
        if (auto applied = apply_fenced(tx, *projection_, live_, events, batch); !applied) fenced = applied.error();
    });
    if (!r) {
        metrics::global().counter("tally_projector_failed_batches_total", "projector=\"" + name_ + "\"").add();
        spdlog::warn("projector {}: applying {} events failed: {}; will re-read", name_, events.size(), r.error().message);
        return false;
    }
    if (fenced) {
        metrics::global().counter("tally_projector_fenced_batches_total", "projector=\"" + name_ + "\"").add();
        spdlog::warn("projector {}: a batch of {} events was refused: partition {} is at position {} in the database, "
                     "not {} (another owner or a rebuild moved it); rejoining",
                     name_, events.size(), fenced->partition, fenced->stored_position, fenced->expected_position);
        return false;
    }
    for (auto& [p, cp] : next) {
        cp.stored = cp.position;
        owned_[p] = cp;
    }
    stored_at_ = std::chrono::steady_clock::now();
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
        // Failed: leave the group (handing the partitions over) and join again from the
        // stored checkpoints after a pause.
        initialised = false;
        ready_ = false;
        clients_->consumer.reset();
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
    clients_->consumer.reset();
}

std::expected<Rebuilt, std::string> rebuild_projection(sql::Pool& pool, const Projection& projection, int32_t partitions,
                                                      std::mutex* swap_mu, const std::function<void(int64_t)>& progress) {
    const std::string name = projection.name();
    if (!projection.rebuildable()) return std::unexpected(name + " is not rebuildable: its tables hold more than the log");
    // One owner at a time, across processes: a session-level advisory lock.
    sql::SessionLock rebuild_lock(pool.url(), infra::locks::projector_rebuild(name));
    auto got = rebuild_lock.try_acquire();
    if (!got) return std::unexpected("database unavailable: " + got.error().message);
    if (!*got) return std::unexpected("a rebuild of " + name + " is already running");

    TableMap shadow;
    for (const auto& t : projection.tables()) shadow[t] = t + "_rebuild";
    int64_t cursor = 0;
    Rebuilt out;
    // A shadow left by a rebuild that died is dropped: the live tables were never touched.
    auto prepared = pool.transact([&](sql::Tx& tx) {
        for (const auto& [live, tmp] : shadow) {
            tx.exec("DROP TABLE IF EXISTS " + tmp);
            tx.exec("CREATE TABLE " + tmp + " (LIKE " + live + " INCLUDING ALL)");
        }
    });
    if (!prepared) return std::unexpected(prepared.error().message);
    // Replay in chunks while the live tables keep serving: the journal streamed
    // (infra/journal_scan.h), each chunk applied in its own transaction.
    std::vector<v1::EventEnvelope> chunk;
    std::string failed;
    auto flush = [&]() -> bool {
        if (chunk.empty()) return true;
        auto r = pool.transact([&](sql::Tx& tx) { projection.apply(tx, chunk, shadow); });
        if (!r) {
            failed = r.error().message;
            return false;
        }
        cursor = chunk.back().position();
        out.replayed += static_cast<int64_t>(chunk.size());
        chunk.clear();
        if (progress) progress(cursor);
        return true;
    };
    auto scanned = journal::scan(pool.url(), {}, [&](const std::vector<v1::EventEnvelope>& batch) {
        chunk.insert(chunk.end(), batch.begin(), batch.end());
        return chunk.size() < static_cast<size_t>(kRebuildChunk) || flush();
    });
    if (!failed.empty()) return std::unexpected(failed);
    if (!scanned) return std::unexpected(scanned.error());
    if (!flush()) return std::unexpected(failed);
    // Swap: pause this process's applier, lock every process's checkpoints of this projector
    // (a live apply holds them to its commit: after this no batch is half in the old tables),
    // catch up to the head, rename, move the checkpoints. One transaction: a crash anywhere
    // before its commit leaves the live tables as they were.
    std::unique_lock<std::mutex> lock;
    if (swap_mu) lock = std::unique_lock(*swap_mu);
    int64_t head = cursor;
    auto swapped = pool.transact([&](sql::Tx& tx) {
        int32_t known = partitions;
        for (const auto& row : tx.exec("SELECT partition FROM projector_checkpoints WHERE projector = $1 FOR UPDATE", {name}))
            known = std::max<int32_t>(known, static_cast<int32_t>(row.i64(0)) + 1);
        // The topic's partitions as the relay knows them, so that a projector that never ran
        // starts after the rebuilt head on every one of them.
        for (const auto& row : tx.exec("SELECT coalesce(max(partition), -1) FROM relay_progress"))
            known = std::max<int32_t>(known, static_cast<int32_t>(row.i64(0)) + 1);
        known = std::max<int32_t>(known, 1);
        while (true) {
            auto batch = journal::read_after(tx, head, kRebuildChunk);
            if (batch.empty()) break;
            projection.apply(tx, batch, shadow);
            head = batch.back().position();
            out.replayed += static_cast<int64_t>(batch.size());
        }
        for (const auto& [live, tmp] : shadow) {
            tx.exec("ALTER TABLE " + live + " RENAME TO " + live + "_retired");
            tx.exec("ALTER TABLE " + tmp + " RENAME TO " + live);
            tx.exec("DROP TABLE " + live + "_retired");
        }
        // Everything at or below `head` is in the new tables: the live consumers skip it.
        std::vector<int64_t> parts;
        for (int32_t p = 0; p < known; ++p) parts.push_back(p);
        tx.exec("INSERT INTO projector_checkpoints (projector, partition, position, kafka_offset)"
                " SELECT $1, p, $3, -1 FROM unnest($2::int[]) AS p"
                " ON CONFLICT (projector, partition) DO UPDATE SET"
                " position = GREATEST(projector_checkpoints.position, EXCLUDED.position), updated_at = now()",
                {name, sql::int_array(parts), std::to_string(head)});
    });
    if (!swapped) return std::unexpected(swapped.error().message);
    out.head = head;
    spdlog::info("projector {}: rebuilt from {} events up to position {}", name, out.replayed, head);
    return out;
}

std::expected<int64_t, std::string> Runner::rebuild() {
    if (!projection_->rebuildable()) return std::unexpected(name_ + " is not rebuildable: its tables hold more than the log");
    if (!ready_) return std::unexpected("the projector " + name_ + " is not consuming yet; try again");
    auto done = rebuild_projection(pool_, *projection_, std::max<int32_t>(partitions_, 1), &apply_mu_);
    if (!done) return std::unexpected(done.error());
    // Other processes' appliers find their checkpoints moved: the fence refuses their next
    // batch and they resume after the head.
    std::lock_guard lock(apply_mu_);
    for (auto& [p, cp] : owned_) cp.position = std::max(cp.position, done->head);
    applied_position_ = std::max(applied_position_.load(), done->head);
    return done->replayed;
}

}  // namespace tally::projectors
