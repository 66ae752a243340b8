#include "infra/relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "infra/journal.h"
#include "infra/kafka.h"
#include "infra/metrics.h"
#include "infra/ownership.h"
#include "infra/threads.h"

namespace tally::infra {
namespace {

constexpr int64_t kBatchEventsMax = 2000;
constexpr auto kKafkaTimeout = std::chrono::seconds(10);
constexpr auto kProgressEvery = std::chrono::milliseconds(100);

}  // namespace

struct Relay::Clients {
    std::unique_ptr<sql::SessionLock> lock;  // the leader's
    std::unique_ptr<kafka::Producer> producer;
    int partitions = 0;
    int64_t epoch = 0;  // this leadership's, from relay_leader
};

// Wins the advisory lock, then takes the next epoch on the lock's own session. A batch's
// delivery (10 s at most) ends well inside the time PostgreSQL takes to free the lock of
// a vanished leader (about 25 s, see sql::SessionLock).
bool Relay::try_lead() {
    auto& c = *clients_;
    if (!c.lock) c.lock = std::make_unique<sql::SessionLock>(pg_url_, locks::kRelay);
    auto got = c.lock->try_acquire();
    if (!got || !*got) return false;
    auto epoch = c.lock->session().exec(
        "INSERT INTO relay_leader (topic, epoch, owner) VALUES ($1, 1, $2) ON CONFLICT (topic) DO UPDATE"
        " SET epoch = relay_leader.epoch + 1, owner = EXCLUDED.owner, since = now() RETURNING epoch",
        {topic_, process_name()});
    if (!epoch) {
        c.lock->release();
        return false;
    }
    c.epoch = epoch->at(0).i64(0);
    spdlog::info("relay: leader (epoch {})", c.epoch);
    return true;
}

// The fence, before every batch: on the lock's own session (a query that works proves
// the session, and so the lock, is alive) the stored epoch must still be ours.
bool Relay::still_leader() {
    auto& c = *clients_;
    if (!c.lock) return false;
    auto rows = c.lock->session().exec("SELECT epoch FROM relay_leader WHERE topic = $1", {topic_});
    if (rows && !rows->empty() && rows->at(0).i64(0) == c.epoch) return true;
    metrics::global().counter("tally_relay_fenced_total").add();
    spdlog::warn("relay: no longer the leader (epoch {} {}); stepping down", c.epoch,
                 rows ? "superseded" : "session lost: " + rows.error().message);
    c.lock->release();
    leader_ = false;
    synced_ = false;
    return false;
}

Relay::Relay(sql::Pool& pool, std::string pg_url, std::string brokers, std::string topic, int partitions)
    : pool_(pool),
      pg_url_(std::move(pg_url)),
      brokers_(std::move(brokers)),
      topic_(std::move(topic)),
      partitions_wanted_(partitions),
      clients_(std::make_unique<Clients>()) {
    auto& m = metrics::global();
    m.help("tally_relay_watermark_position", "gauge", "Highest journal position Kafka acknowledged");
    m.gauge("tally_relay_watermark_position", "", [this] { return static_cast<double>(watermark()); }, this);
    m.help("tally_relay_lag_events", "gauge", "Journal events not yet acknowledged by Kafka");
    m.help("tally_relay_published_events_total", "counter", "Journal events Kafka acknowledged from this process");
    m.help("tally_relay_fenced_total", "counter", "Times this relay found it was no longer the leader and stepped down");
    m.gauge("tally_relay_lag_events", "", [this] {
        return static_cast<double>(std::max<int64_t>(0, journal_head() - watermark()));
    }, this);
}

Relay::~Relay() {
    metrics::global().drop_gauges(this);  // first: a render may be reading them
    stop();
}

void Relay::start() {
    thread_ = std::thread([this] {
        name_this_thread("relay");
        run();
    });
}

void Relay::stop() {
    stopping_ = true;
    notify();
    if (thread_.joinable()) thread_.join();
}

void Relay::notify() {
    std::lock_guard lock(mu_);
    pending_ = true;
    cv_.notify_one();
}

bool Relay::sync() {
    auto& c = *clients_;
    if (!c.producer) {
        auto p = kafka::Producer::create(brokers_);
        if (!p) {
            spdlog::error("relay: producer: {}", p.error());
            return false;
        }
        c.producer = std::move(*p);
    }
    // Create the topic only when it is missing (the mock cluster has no controller for CreateTopics).
    auto count = c.producer->partition_count(topic_, kKafkaTimeout);
    if (!count) {
        if (auto t = c.producer->ensure_topic(topic_, partitions_wanted_, kKafkaTimeout); !t) {
            spdlog::warn("relay: topic {} is missing and cannot be created: {}", topic_, t.error());
            return false;
        }
        count = c.producer->partition_count(topic_, kKafkaTimeout);
    }
    if (!count) {
        spdlog::warn("relay: metadata for {}: {}", topic_, count.error());
        return false;
    }
    c.partitions = *count;

    // What Kafka holds: the position of the last message of each partition.
    auto consumer = kafka::Consumer::create(brokers_);
    if (!consumer) {
        spdlog::error("relay: consumer to read Kafka's tail: {}", consumer.error());
        return false;
    }
    std::vector<int64_t> kafka_last(static_cast<size_t>(c.partitions), 0);
    for (int32_t p = 0; p < c.partitions; ++p) {
        auto last = (*consumer)->last_message(topic_, p, kKafkaTimeout);
        if (!last) {
            spdlog::warn("relay: reading partition {}: {}", p, last.error());
            return false;
        }
        if (*last) {
            v1::EventEnvelope e;
            if (!e.ParseFromString((*last)->value)) {
                spdlog::error("relay: partition {} ends with a message that is not an envelope", p);
                return false;
            }
            kafka_last[static_cast<size_t>(p)] = e.position();
        }
    }
    // What Postgres says Kafka acknowledged before.
    std::map<int, int64_t> acked;
    auto r = pool_.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT partition, position FROM relay_progress WHERE topic = $1", {topic_}))
            acked[static_cast<int>(row.i64(0))] = row.i64(1);
    });
    if (!r) return false;
    const int64_t w = acked.contains(-1) ? acked[-1] : 0;
    resume_.assign(static_cast<size_t>(c.partitions), 0);
    for (int p = 0; p < c.partitions; ++p) {
        const int64_t k = kafka_last[static_cast<size_t>(p)];
        const int64_t a = acked.contains(p) ? acked[p] : 0;
        // Kafka behind what it acknowledged: it lost data, republish after what it has.
        // Otherwise no event of p at or below the watermark is missing.
        resume_[static_cast<size_t>(p)] = k < a ? k : std::max(k, w);
        if (k < a) spdlog::warn("relay: partition {} lacks events after position {} (acked {}); republishing", p, k, a);
    }
    unsaved_.assign(resume_.size(), 0);
    cursor_ = *std::min_element(resume_.begin(), resume_.end());
    watermark_ = std::min(w, cursor_);
    spdlog::info("relay: synced with {} partitions of {}, resuming after position {}", c.partitions, topic_, cursor_);
    return true;
}

// Records what Kafka acknowledged since the last record: the global watermark and each
// partition's highest position; written only under this leadership's epoch.
void Relay::record_progress(std::chrono::steady_clock::time_point now) {
    progress_saved_at_ = now;
    std::vector<int64_t> partitions{-1};
    std::vector<int64_t> positions{cursor_};
    for (size_t p = 0; p < unsaved_.size(); ++p)
        if (unsaved_[p] > 0) {
            partitions.push_back(static_cast<int64_t>(p));
            positions.push_back(unsaved_[p]);
        }
    auto saved = pool_.transact([&](sql::Tx& tx) {
        tx.exec(
            "INSERT INTO relay_progress (topic, partition, position)"
            " SELECT $1, p, pos FROM unnest($2::int[], $3::bigint[]) AS u(p, pos)"
            " WHERE (SELECT epoch FROM relay_leader WHERE topic = $1) = $4::bigint"
            " ON CONFLICT (topic, partition) DO UPDATE SET position = GREATEST(relay_progress.position,"
            " EXCLUDED.position), updated_at = now()",
            {topic_, sql::int_array(partitions), sql::int_array(positions), std::to_string(clients_->epoch)});
    });
    if (!saved) spdlog::warn("relay: saving progress: {}", saved.error().message);
    else unsaved_.assign(unsaved_.size(), 0);
}

bool Relay::publish_once() {
    auto& c = *clients_;
    std::vector<v1::EventEnvelope> batch;
    auto r = pool_.transact([&](sql::Tx& tx) {
        batch = journal::read_after(tx, cursor_, kBatchEventsMax);
        head_ = journal::head_position(tx);
    });
    if (!r) {
        spdlog::warn("relay: reading the journal: {}", r.error().message);
        return false;
    }
    if (batch.empty()) {
        watermark_ = cursor_;
        return true;
    }
    std::vector<kafka::OutMessage> out;
    std::vector<int64_t> highest(static_cast<size_t>(c.partitions), 0);
    for (const auto& e : batch) {
        const int32_t p = kafka::partition_for(e.stream_id(), c.partitions);
        if (e.position() <= resume_[static_cast<size_t>(p)]) continue;  // Kafka has it
        out.push_back({p, e.stream_id(), e.SerializeAsString()});
        highest[static_cast<size_t>(p)] = e.position();
    }
    if (!out.empty()) {
        if (!still_leader()) return false;
        if (auto sent = c.producer->produce_all(topic_, out, kKafkaTimeout); !sent) {
            spdlog::warn("relay: publishing {} events failed: {}; resyncing", out.size(), sent.error());
            synced_ = false;
            return false;
        }
    }
    unsaved_.resize(highest.size(), 0);
    for (size_t p = 0; p < highest.size(); ++p) {
        resume_[p] = std::max(resume_[p], highest[p]);
        unsaved_[p] = std::max(unsaved_[p], highest[p]);
    }
    cursor_ = batch.back().position();
    // Record progress when the relay has caught up, and under load at most every
    // kProgressEvery: the record is a restart hint (sync() trusts Kafka's ends over it, and
    // a lower record only means a longer re-read), so a commit per batch bought nothing but
    // time on the path from commit to read model.
    const auto now = std::chrono::steady_clock::now();
    if (cursor_ >= head_ || now - progress_saved_at_ >= kProgressEvery) record_progress(now);
    watermark_ = cursor_;
    metrics::global().counter("tally_relay_published_events_total").add(out.size());
    return true;
}

void Relay::run() {
    auto backoff = std::chrono::milliseconds(100);
    while (!stopping_) {
        if (!leader_) {
            leader_ = try_lead();
            if (!leader_) {
                std::unique_lock lock(mu_);
                cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_.load(); });
                continue;
            }
        }
        if (!synced_) synced_ = sync();
        const bool ok = synced_ && publish_once();
        if (!ok) {
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, backoff, [&] { return stopping_.load(); });
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            continue;
        }
        backoff = std::chrono::milliseconds(100);
        if (watermark_ >= head_) {
            // Caught up. This process's commits wake the relay at once (notify); other
            // processes' commits are found by polling, every 50 ms while events come and
            // doubling to every 250 ms after quiet polls, so an idle relay costs little.
            const bool published = watermark_ != idle_watermark_;
            idle_watermark_ = watermark_;
            idle_poll_ = published ? kIdlePollMin : std::min(idle_poll_ * 2, kIdlePollMax);
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, idle_poll_, [&] { return pending_ || stopping_.load(); });
            pending_ = false;
        }
    }
    clients_->producer.reset();
    if (clients_->lock) clients_->lock->release();
    leader_ = false;
}

}  // namespace tally::infra
