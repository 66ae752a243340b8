#include "infra/kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <optional>
#include <thread>

namespace tally::kafka {
namespace {

std::string set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
    char err[512];
    if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        return std::string(key) + ": " + err;
    return {};
}

// Counts outstanding deliveries of one produce_all call.
struct DeliveryBatch {
    std::atomic<int64_t> outstanding{0};
    std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    auto* batch = static_cast<DeliveryBatch*>(m->_private);
    if (!batch) return;
    if (m->err && batch->first_error.empty()) batch->first_error = rd_kafka_err2str(m->err);
    batch->outstanding.fetch_sub(1);
}

void on_log(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    if (level <= 3) spdlog::warn("kafka {}: {}", fac, buf);
    else spdlog::debug("kafka {}: {}", fac, buf);
}

}  // namespace

MockCluster::MockCluster(int brokers) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set_log_cb(conf, on_log);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk_) {
        spdlog::error("mock cluster host: {}", err);
        return;
    }
    mock_ = rd_kafka_mock_cluster_new(rk_, brokers);
}

MockCluster::~MockCluster() {
    if (mock_) rd_kafka_mock_cluster_destroy(mock_);
    if (rk_) rd_kafka_destroy(rk_);
}

std::string MockCluster::bootstraps() const { return mock_ ? rd_kafka_mock_cluster_bootstraps(mock_) : ""; }

bool MockCluster::create_topic(const std::string& topic, int partitions) {
    return mock_ && rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, 1) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int32_t partition_for(const std::string& key, int partitions) {
    uint32_t h = 2166136261u;
    for (unsigned char c : key) {
        h ^= c;
        h *= 16777619u;
    }
    return static_cast<int32_t>(h % static_cast<uint32_t>(partitions));
}

std::expected<std::unique_ptr<Producer>, std::string> Producer::create(const std::string& brokers) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (auto [k, v] : {std::pair<const char*, std::string>{"bootstrap.servers", brokers},
                        {"enable.idempotence", "true"},
                        {"acks", "all"},
                        {"linger.ms", "2"},
                        {"message.timeout.ms", "30000"},
                        {"allow.auto.create.topics", "false"}}) {
        if (auto e = set(conf, k, v); !e.empty() && std::string(k) != "allow.auto.create.topics") {
            rd_kafka_conf_destroy(conf);
            return std::unexpected(e);
        }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) return std::unexpected(std::string(err));
    return std::unique_ptr<Producer>(new Producer(rk));
}

Producer::~Producer() {
    rd_kafka_flush(rk_, 5000);
    rd_kafka_destroy(rk_);
}

std::expected<void, std::string> Producer::ensure_topic(const std::string& topic, int partitions,
                                                        std::chrono::milliseconds timeout) {
    char err[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, err, sizeof err);
    if (!nt) return std::unexpected(std::string(err));
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
    rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err, sizeof err);
    rd_kafka_CreateTopics(rk_, &nt, 1, opts, q);
    std::expected<void, std::string> result = std::unexpected("no answer to CreateTopics");
    if (rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000)) {
        if (rd_kafka_event_error(ev)) {
            result = std::unexpected(std::string(rd_kafka_event_error_string(ev)));
        } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
            size_t n = 0;
            const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(res, &n);
            result = {};
            for (size_t i = 0; i < n; ++i) {
                auto code = rd_kafka_topic_result_error(topics[i]);
                if (code && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                    result = std::unexpected(std::string(rd_kafka_err2str(code)));
            }
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return result;
}

namespace {
std::expected<int, std::string> partitions_of(rd_kafka_t* rk_, const std::string& topic,
                                              std::chrono::milliseconds timeout) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    auto code = rd_kafka_metadata(rk_, 0, t, &md, static_cast<int>(timeout.count()));
    std::expected<int, std::string> result = std::unexpected(std::string(rd_kafka_err2str(code)));
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0)
            result = md->topics[0].partition_cnt;
        else
            result = std::unexpected("topic " + topic + " has no partitions");
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return result;
}
}  // namespace

std::expected<int, std::string> Producer::partition_count(const std::string& topic,
                                                          std::chrono::milliseconds timeout) {
    return partitions_of(rk_, topic, timeout);
}

std::expected<int, std::string> Consumer::partition_count(const std::string& topic,
                                                          std::chrono::milliseconds timeout) {
    return partitions_of(rk_, topic, timeout);
}

std::expected<void, std::string> Producer::produce_all(const std::string& topic,
                                                       const std::vector<OutMessage>& messages,
                                                       std::chrono::milliseconds timeout) {
    DeliveryBatch batch;
    for (const auto& m : messages) {
        batch.outstanding.fetch_add(1);
        while (true) {
            auto code = rd_kafka_producev(
                rk_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(m.partition),
                RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&batch), RD_KAFKA_V_END);
            if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk_, 10);  // bounded local queue: wait for room
                continue;
            }
            if (code) {
                batch.outstanding.fetch_sub(1);
                // Wait for what was already queued so no callback outlives `batch`.
                rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
                return std::unexpected(std::string(rd_kafka_err2str(code)));
            }
            break;
        }
    }
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (batch.outstanding.load() > 0) {
        rd_kafka_poll(rk_, 5);
        if (std::chrono::steady_clock::now() > until) {
            // Purge so no delivery report can reach `batch` after we return.
            rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(rk_, 1000);
            while (batch.outstanding.load() > 0) rd_kafka_poll(rk_, 10);
            return std::unexpected("delivery timed out");
        }
    }
    if (!batch.first_error.empty()) return std::unexpected(batch.first_error);
    return {};
}

namespace {

std::vector<int32_t> partitions_in(const rd_kafka_topic_partition_list_t* list) {
    std::vector<int32_t> out;
    for (int i = 0; i < list->cnt; ++i) out.push_back(list->elems[i].partition);
    return out;
}

// Cooperative rebalancing: assign and unassign only what moved, at the offsets the
// member asks for (its checkpoints live in PostgreSQL, not in Kafka).
void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* membership = static_cast<Consumer::Membership*>(opaque);
    auto* rebalance = membership->rebalance;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        membership->assigned = true;
        const auto starts = rebalance->on_assign(partitions_in(parts));
        for (int i = 0; i < parts->cnt; ++i) {
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            for (const auto& [p, offset] : starts)
                if (p == parts->elems[i].partition) parts->elems[i].offset = offset;
        }
        if (auto* e = rd_kafka_incremental_assign(rk, parts)) {
            spdlog::error("kafka: incremental assign: {}", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        rebalance->on_revoke(partitions_in(parts), rd_kafka_assignment_lost(rk));
        if (auto* e = rd_kafka_incremental_unassign(rk, parts)) {
            spdlog::error("kafka: incremental unassign: {}", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        spdlog::error("kafka: rebalance: {}", rd_kafka_err2str(err));
    }
}

}  // namespace

namespace {

using Settings = std::vector<std::pair<const char*, std::string>>;

std::atomic<int> g_fetch_wait_ms{10};

// A consumer handle with the settings every tally consumer shares, plus `extra`.
std::expected<rd_kafka_t*, std::string> new_consumer(const std::string& brokers, const Settings& extra,
                                                     Consumer::Membership* rebalance) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    Settings settings = {{"bootstrap.servers", brokers},
                         {"enable.auto.commit", "false"},
                         {"enable.partition.eof", "false"},
                         {"auto.offset.reset", "earliest"},
                         {"fetch.wait.max.ms", std::to_string(g_fetch_wait_ms.load())},
                         // Prefetch bounded per consumer (librdkafka's defaults allow 64 MB
                         // queued and 50 MB a fetch): seven projectors catching up on a long
                         // journal peaked tallyd at 109-129 MB, with these at 81 MB (300k
                         // events, BENCHMARKS.md "Years of data"). fetch.max.bytes
                         // may not be below message.max.bytes (1 MB), or no client is made.
                         {"queued.max.messages.kbytes", "2048"},
                         {"fetch.max.bytes", "1048576"}};
    settings.insert(settings.end(), extra.begin(), extra.end());
    for (const auto& [k, v] : settings) {
        if (auto e = set(conf, k, v); !e.empty()) {
            rd_kafka_conf_destroy(conf);
            return std::unexpected(e);
        }
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    if (rebalance) {
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_opaque(conf, rebalance);
    }
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) return std::unexpected(std::string(err));
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

}  // namespace

void set_consumer_fetch_wait(int milliseconds) { g_fetch_wait_ms = milliseconds; }

std::expected<std::unique_ptr<Consumer>, std::string> Consumer::create_group(const std::string& brokers,
                                                                             const std::string& topic,
                                                                             const GroupOptions& options,
                                                                             Rebalance* rebalance) {
    auto membership = std::make_unique<Membership>();
    membership->rebalance = rebalance;
    auto rk = new_consumer(brokers,
                           {{"group.id", options.group_id},
                            {"partition.assignment.strategy", "cooperative-sticky"},
                            {"session.timeout.ms", std::to_string(options.session_timeout_ms)},
                            {"heartbeat.interval.ms", std::to_string(std::max(100, options.session_timeout_ms / 10))},
                            {"max.poll.interval.ms", std::to_string(options.max_poll_interval_ms)},
                            {"enable.auto.offset.store", "false"}},
                           membership.get());
    if (!rk) return std::unexpected(rk.error());
    auto consumer = std::unique_ptr<Consumer>(new Consumer(*rk, std::move(membership)));
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), RD_KAFKA_PARTITION_UA);
    const auto code = rd_kafka_subscribe(*rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (code) return std::unexpected(std::string(rd_kafka_err2str(code)));
    return consumer;
}

// Manual assignment only: the group id is never joined.
std::expected<std::unique_ptr<Consumer>, std::string> Consumer::create(const std::string& brokers) {
    auto rk = new_consumer(brokers, {{"group.id", "tally-manual"}}, nullptr);
    if (!rk) return std::unexpected(rk.error());
    return std::unique_ptr<Consumer>(new Consumer(*rk));
}

Consumer::~Consumer() {
    // librdkafka 2.0 (Debian 12) asserts when a cooperative-sticky member is destroyed
    // before its first assignment (confluentinc/librdkafka#4312, fixed in 2.3): give the
    // join a few seconds to finish, and if it never does, leave the handle to the process
    // exit rather than abort it.
    if (membership_ && !membership_->assigned) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!membership_->assigned && std::chrono::steady_clock::now() < give_up)
            if (auto* m = rd_kafka_consumer_poll(rk_, 100)) rd_kafka_message_destroy(m);
        if (!membership_->assigned) {
            spdlog::warn("kafka: a group member stopped before its first assignment; its handle is left to the process exit");
            (void)membership_.release();  // the callback's opaque must outlive the handle
            return;
        }
    }
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
}

std::expected<std::pair<int64_t, int64_t>, std::string> Consumer::watermarks(
    const std::string& topic, int32_t partition, std::chrono::milliseconds timeout) {
    int64_t low = 0, high = 0;
    auto code = rd_kafka_query_watermark_offsets(rk_, topic.c_str(), partition, &low, &high,
                                                 static_cast<int>(timeout.count()));
    if (code) return std::unexpected(std::string(rd_kafka_err2str(code)));
    return std::pair{low, high};
}

std::expected<std::pair<int64_t, int64_t>, std::string> Consumer::cached_watermarks(const std::string& topic,
                                                                                   int32_t partition) {
    int64_t low = 0, high = 0;
    auto code = rd_kafka_get_watermark_offsets(rk_, topic.c_str(), partition, &low, &high);
    if (code) return std::unexpected(std::string(rd_kafka_err2str(code)));
    if (high < 0) return std::unexpected(std::string("no fetch yet"));
    return std::pair{low, high};
}

std::expected<void, std::string> Consumer::assign(const std::string& topic,
                                                  const std::vector<std::pair<int32_t, int64_t>>& starts) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(starts.size()));
    for (const auto& [p, offset] : starts)
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = offset;
    auto code = rd_kafka_assign(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (code) return std::unexpected(std::string(rd_kafka_err2str(code)));
    return {};
}

std::vector<InMessage> Consumer::poll(size_t max, std::chrono::milliseconds timeout) {
    std::vector<InMessage> out;
    int wait = static_cast<int>(timeout.count());
    while (out.size() < max) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait);
        if (!m) break;
        wait = 0;  // after the first message, take only what is already here
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                spdlog::warn("kafka consume: {}", rd_kafka_message_errstr(m));
        } else {
            out.push_back(InMessage{m->partition, m->offset,
                                    std::string(static_cast<const char*>(m->key), m->key_len),
                                    std::string(static_cast<const char*>(m->payload), m->len)});
        }
        rd_kafka_message_destroy(m);
    }
    return out;
}

std::expected<std::optional<InMessage>, std::string> Consumer::message_at(
    const std::string& topic, int32_t partition, int64_t offset, std::chrono::milliseconds timeout) {
    auto marks = watermarks(topic, partition, timeout);
    if (!marks) return std::unexpected(marks.error());
    if (offset < marks->first || offset >= marks->second) return std::optional<InMessage>{};
    if (auto a = assign(topic, {{partition, offset}}); !a) return std::unexpected(a.error());
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        for (auto& m : poll(1, std::chrono::milliseconds(100)))
            if (m.partition == partition && m.offset == offset) return std::optional(std::move(m));
    }
    return std::unexpected("no message at offset " + std::to_string(offset) + " of partition " +
                           std::to_string(partition));
}

std::expected<std::optional<InMessage>, std::string> Consumer::last_message(
    const std::string& topic, int32_t partition, std::chrono::milliseconds timeout) {
    auto marks = watermarks(topic, partition, timeout);
    if (!marks) return std::unexpected(marks.error());
    if (marks->second <= marks->first) return std::optional<InMessage>{};
    return message_at(topic, partition, marks->second - 1, timeout);
}

}  // namespace tally::kafka

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer builds only. librdkafka uses C11 threads, which glibc implements without
// going through the pthread functions TSan intercepts: its threads are never set up (their
// first allocation crashes inside the sanitizer) and its locks are invisible (every access
// they guard looks like a race). These definitions take the place of glibc's C11 thread,
// mutex and condition functions for the whole process and call the pthread ones, on the
// same objects (glibc's mtx_t and cnd_t are its pthread_mutex_t and pthread_cond_t).
#include <pthread.h>
#include <threads.h>

namespace {
struct C11Start {
    thrd_start_t func;
    void* arg;
};
void* c11_trampoline(void* p) {
    const C11Start start = *static_cast<C11Start*>(p);
    delete static_cast<C11Start*>(p);
    return reinterpret_cast<void*>(static_cast<intptr_t>(start.func(start.arg)));
}
}  // namespace

extern "C" int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
    auto* start = new C11Start{func, arg};
    const int rc = pthread_create(thr, nullptr, c11_trampoline, start);
    if (rc != 0) delete start;
    return rc == 0 ? thrd_success : rc == EAGAIN ? thrd_nomem : thrd_error;
}

extern "C" int thrd_join(thrd_t thr, int* res) {
    void* out = nullptr;
    if (pthread_join(thr, &out) != 0) return thrd_error;
    if (res) *res = static_cast<int>(reinterpret_cast<intptr_t>(out));
    return thrd_success;
}

extern "C" int thrd_detach(thrd_t thr) { return pthread_detach(thr) == 0 ? thrd_success : thrd_error; }

namespace {
static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t) && sizeof(cnd_t) == sizeof(pthread_cond_t));
pthread_mutex_t* as_pthread(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* as_pthread(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }
int c11_result(int rc) { return rc == 0 ? thrd_success : rc == EBUSY ? thrd_busy : rc == ETIMEDOUT ? thrd_timedout : thrd_error; }
}  // namespace

extern "C" int mtx_init(mtx_t* m, int type) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    const int rc = pthread_mutex_init(as_pthread(m), &attr);
    pthread_mutexattr_destroy(&attr);
    return c11_result(rc);
}
extern "C" int mtx_lock(mtx_t* m) { return c11_result(pthread_mutex_lock(as_pthread(m))); }
extern "C" int mtx_trylock(mtx_t* m) { return c11_result(pthread_mutex_trylock(as_pthread(m))); }
extern "C" int mtx_timedlock(mtx_t* __restrict m, const struct timespec* __restrict at) {
    return c11_result(pthread_mutex_timedlock(as_pthread(m), at));
}
extern "C" int mtx_unlock(mtx_t* m) { return c11_result(pthread_mutex_unlock(as_pthread(m))); }
extern "C" void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(as_pthread(m)); }
extern "C" int cnd_init(cnd_t* c) { return c11_result(pthread_cond_init(as_pthread(c), nullptr)); }
extern "C" int cnd_signal(cnd_t* c) { return c11_result(pthread_cond_signal(as_pthread(c))); }
extern "C" int cnd_broadcast(cnd_t* c) { return c11_result(pthread_cond_broadcast(as_pthread(c))); }
extern "C" int cnd_wait(cnd_t* c, mtx_t* m) { return c11_result(pthread_cond_wait(as_pthread(c), as_pthread(m))); }
extern "C" int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m, const struct timespec* __restrict at) {
    return c11_result(pthread_cond_timedwait(as_pthread(c), as_pthread(m), at));
}
extern "C" void cnd_destroy(cnd_t* c) { pthread_cond_destroy(as_pthread(c)); }
#endif
