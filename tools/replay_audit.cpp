#include "tools/replay_audit.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "events/envelope.h"
#include "infra/journal.h"
#include "infra/kafka.h"
#include "infra/sql.h"
#include "tally/v1/envelope.pb.h"

namespace tally::replay {
namespace {

using Clock = std::chrono::steady_clock;

// What must agree between Kafka and the journal, in eight bytes.
uint64_t digest(const v1::EventEnvelope& e) {
    const std::string d = events::sha256(std::to_string(e.position()) + "\n" + e.stream_id() + "\n" +
                                         std::to_string(e.stream_version()) + "\n" + e.type() + "\n" + e.event_id() +
                                         "\n" + e.hash() + e.prev_hash() + e.payload());
    uint64_t out = 0;
    std::memcpy(&out, d.data(), sizeof out);
    return out | 1;  // 0 means "not seen"
}

// A line every few seconds (a progress bar on a terminal).
class Progress {
public:
    explicit Progress(const char* what) : what_(what), tty_(::isatty(2)) {}
    void tick(int64_t done, int64_t total, const std::string& current) {
        const auto now = Clock::now();
        if (now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5))) return;
        last_ = now;
        const double s = std::chrono::duration<double>(now - start_).count();
        const double rate = s > 0 ? static_cast<double>(done) / s : 0;
        const double eta = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
        if (tty_)
            std::fprintf(stderr, "\r%s: %lld/%lld events, %.0f/s, ETA %.0f s, %s\x1b[K", what_,
                         static_cast<long long>(done), static_cast<long long>(total), rate, eta, current.c_str());
        else
            std::fprintf(stderr, "%s: %lld/%lld events, %.0f/s, ETA %.0f s\n", what_, static_cast<long long>(done),
                         static_cast<long long>(total), rate, eta);
    }
    void done() {
        if (tty_) std::fprintf(stderr, "\n");
    }

private:
    const char* what_;
    bool tty_;
    Clock::time_point start_ = Clock::now(), last_{};
};

}  // namespace

int audit(const AuditOptions& o) {
    auto consumer = kafka::Consumer::create(o.brokers);
    if (!consumer) {
        std::fprintf(stderr, "kafka: %s\n", consumer.error().c_str());
        return 2;
    }
    auto partitions = (*consumer)->partition_count(o.topic, std::chrono::seconds(10));
    if (!partitions) {
        std::fprintf(stderr, "topic %s: %s\n", o.topic.c_str(), partitions.error().c_str());
        return 2;
    }
    std::set<int32_t> truncated;
    std::map<int32_t, int64_t> first_position;  // of each partition's first message still held
    std::vector<int64_t> next, end;
    std::vector<std::pair<int32_t, int64_t>> starts;
    int64_t total = 0;
    for (int32_t p = 0; p < *partitions; ++p) {
        auto marks = (*consumer)->watermarks(o.topic, p, std::chrono::seconds(10));
        if (!marks) {
            std::fprintf(stderr, "partition %d: %s\n", p, marks.error().c_str());
            return 2;
        }
        // A broker that dropped a partition's beginning (retention; the embedded broker keeps
        // 5 MB or 100000 message sets a partition) cannot show the whole log.
        if (marks->first > 0) {
            std::printf("partition %d starts at offset %lld: the broker no longer holds its beginning\n", p,
                        static_cast<long long>(marks->first));
            truncated.insert(p);
        }
        next.push_back(marks->first);
        end.push_back(marks->second);
        total += marks->second - marks->first;
        starts.push_back({p, -2});
    }
    if (auto a = (*consumer)->assign(o.topic, starts); !a) {
        std::fprintf(stderr, "kafka: %s\n", a.error().c_str());
        return 2;
    }
    struct Tip {
        int64_t version = 0;
        std::string hash = events::genesis_hash();
        bool broken = false;
    };
    std::map<std::string, Tip> streams;
    std::vector<uint8_t> seen;      // by position: how many times (up to 2)
    std::vector<uint64_t> digests;  // by position, with a database
    int64_t problems = static_cast<int64_t>(truncated.size()), count = 0, unverifiable = 0;
    auto report = [&](const std::string& line) {
        std::printf("%s\n", line.c_str());
        ++problems;
    };
    Progress progress("audit");
    auto last_message = Clock::now();
    auto finished = [&] {
        for (size_t p = 0; p < next.size(); ++p)
            if (next[p] < end[p]) return false;
        return true;
    };
    while (!finished()) {
        auto batch = (*consumer)->poll(1000, std::chrono::milliseconds(200));
        if (batch.empty()) {
            if (Clock::now() - last_message > std::chrono::seconds(30)) {
                std::fprintf(stderr, "kafka: nothing arrived for 30 s before the end of the topic\n");
                return 2;
            }
            continue;
        }
        last_message = Clock::now();
        for (const auto& m : batch) {
            const size_t p = static_cast<size_t>(m.partition);
            if (m.offset >= end[p]) continue;  // written after the audit began
            next[p] = m.offset + 1;
            ++count;
            v1::EventEnvelope e;
            if (!e.ParseFromString(m.value)) {
                report("partition " + std::to_string(p) + " offset " + std::to_string(m.offset) + ": not an event envelope");
                continue;
            }
            if (e.position() <= 0) {
                report("partition " + std::to_string(p) + " offset " + std::to_string(m.offset) + ": no position");
                continue;
            }
            first_position.try_emplace(m.partition, e.position());
            const auto pos = static_cast<size_t>(e.position());
            if (seen.size() <= pos) seen.resize(std::max(pos + 1, seen.size() * 2), 0);
            if (seen[pos] < 2) ++seen[pos];
            if (!o.pg_url.empty()) {
                if (digests.size() <= pos) digests.resize(std::max(pos + 1, digests.size() * 2), 0);
                digests[pos] = digest(e);
            }
            if (m.key != e.stream_id() || kafka::partition_for(e.stream_id(), *partitions) != m.partition)
                report("position " + std::to_string(e.position()) + ": stream " + e.stream_id() +
                       " is not keyed to its partition");
            auto [it, first_seen] = streams.try_emplace(e.stream_id());
            auto& tip = it->second;
            if (first_seen && e.stream_version() > 1 && truncated.contains(m.partition)) {
                // Its beginning is gone with the partition's: checked from here on.
                ++unverifiable;
                tip.version = e.stream_version() - 1;
                tip.hash = e.prev_hash();
            }
            if (tip.broken) continue;
            std::string why;
            if (e.stream_version() != tip.version + 1) why = "version gap (expected " + std::to_string(tip.version + 1) + ")";
            else if (e.prev_hash() != tip.hash) why = "prev_hash does not match the previous event's hash";
            else if (events::compute_hash(e) != e.hash()) why = "hash does not match the event's content";
            if (!why.empty()) {
                report("stream " + e.stream_id() + " broken at version " + std::to_string(e.stream_version()) +
                       " (position " + std::to_string(e.position()) + "): " + why);
                tip.broken = true;
                continue;
            }
            tip.version = e.stream_version();
            tip.hash = e.hash();
            progress.tick(count, total, e.stream_id());
        }
    }
    progress.done();
    // Positions 1..N, each once.
    int64_t max_position = 0;
    for (size_t i = seen.size(); i-- > 1;)
        if (seen[i]) {
            max_position = static_cast<int64_t>(i);
            break;
        }
    // Below the first position a truncated partition still holds, a missing position may
    // have been in what it dropped (said above, once): the positions are checked from there.
    int64_t lowest = 1;
    for (int32_t p : truncated)
        if (auto it = first_position.find(p); it != first_position.end()) lowest = std::max(lowest, it->second);
    if (lowest > 1)
        std::printf("positions below %lld are not all held any more: positions are checked from there, and %lld "
                    "streams from their first event still held\n",
                    static_cast<long long>(lowest), static_cast<long long>(unverifiable));
    for (int64_t pos = lowest; pos <= max_position; ++pos) {
        const auto i = static_cast<size_t>(pos);
        if (seen[i] == 0) {
            int64_t last = pos;
            while (last + 1 <= max_position && seen[static_cast<size_t>(last + 1)] == 0) ++last;
            report(last == pos ? "position gap: " + std::to_string(pos) + " is missing from the topic"
                               : "position gap: " + std::to_string(pos) + ".." + std::to_string(last) +
                                     " are missing from the topic");
            pos = last;
        } else if (seen[i] > 1) {
            report("position " + std::to_string(pos) + " is in the topic more than once");
        }
    }
    std::printf("audited %lld messages (positions 1..%lld) in %zu streams from %d partitions of %s\n",
                static_cast<long long>(count), static_cast<long long>(max_position), streams.size(), *partitions,
                o.topic.c_str());
    if (!o.pg_url.empty()) {
        // The journal in position order against what Kafka held at each position.
        sql::Pool pool(o.pg_url, 1);
        int64_t after = 0, expected = 1, compared = 0, dropped = 0;
        std::vector<uint8_t> in_journal(static_cast<size_t>(max_position) + 1, 0);
        while (true) {
            std::vector<v1::EventEnvelope> page;
            auto r = pool.transact([&](sql::Tx& tx) { page = journal::read_after(tx, after, 10000); });
            if (!r) {
                std::fprintf(stderr, "journal: %s\n", r.error().message.c_str());
                return 2;
            }
            for (const auto& e : page) {
                const auto pos = e.position();
                for (; expected < pos; ++expected) {
                    if (expected <= max_position && seen[static_cast<size_t>(expected)])
                        report("position " + std::to_string(expected) + ": in Kafka, missing from the journal");
                }
                expected = pos + 1;
                if (pos < lowest) {  // older than what the broker still holds (said above)
                    ++dropped;
                    continue;
                }
                ++compared;
                if (pos > max_position || digests.size() <= static_cast<size_t>(pos) || digests[static_cast<size_t>(pos)] == 0) {
                    report("position " + std::to_string(pos) + " (" + e.stream_id() + " v" +
                           std::to_string(e.stream_version()) + "): in the journal, missing from Kafka");
                    continue;
                }
                in_journal[static_cast<size_t>(pos)] = 1;
                if (digests[static_cast<size_t>(pos)] != digest(e))
                    report("position " + std::to_string(pos) + " (" + e.stream_id() + " v" +
                           std::to_string(e.stream_version()) + "): Kafka and the journal differ");
            }
            if (page.size() < 10000) break;
            after = page.back().position();
        }
        for (int64_t pos = expected; pos <= max_position; ++pos)
            if (seen[static_cast<size_t>(pos)] && !in_journal[static_cast<size_t>(pos)])
                report("position " + std::to_string(pos) + ": in Kafka, missing from the journal");
        std::printf("compared %lld journal events with the topic", static_cast<long long>(compared));
        if (dropped) std::printf(" (%lld older ones are no longer in it)", static_cast<long long>(dropped));
        std::printf("\n");
    }
    std::printf("%s\n", problems ? "DISCREPANCIES FOUND" : "the topic is intact");
    return problems ? 1 : 0;
}

}  // namespace tally::replay
