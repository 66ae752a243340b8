// tally-replay: the auditor's and the operator's tool.
//
//   tally-replay verify [--public-key FILE]
//        every stream's hash chain, the gap-free positions, and (with the key) every signed
//        chain checkpoint
//   tally-replay reconcile [--json] [--repair --operator ADMIN_ID [--reason TEXT]]
//        folds the journal through the domain's evolve functions and compares every cache
//        (projectors/reconcile.h): snapshots, credit balances and entries, ledger accounts,
//        vendor payables, orders and sub-orders, coupon uses, loyalty, passports, affiliates,
//        the catalog, subscriptions, principals.
//        --json prints the drift report; --repair rebuilds each drifting projection (blue-green)
//        and records ProjectionRebuilt as the operator's act. A drifting snapshot refuses the
//        repair: it means a bug or tampering.
//   tally-replay audit --brokers B [--topic T] [--pg URL]   the topic checked on its own
//   tally-replay dump [--after POSITION] [--limit N]   events as JSON lines
//
// Exit status: 0 clean, 1 a discrepancy (or a refused repair), 2 usage or connection error.
// Reads TALLY_PG_URL (default: the private cluster on TALLY_PG_PORT). Only --repair writes.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <expected>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "domain/catalog.h"
#include "domain/credit.h"
#include "domain/order.h"
#include "domain/ledger.h"
#include "domain/loyalty.h"
#include "domain/passport.h"
#include "events/checkpoint.h"
#include "events/passport_facts.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/checkpoint.pb.h"
#include "infra/crash.h"
#include "infra/config.h"
#include "infra/journal.h"
#include "infra/journal_scan.h"
#include "infra/sql.h"
#include "commands/operator_acts.h"
#include "commands/pipeline.h"
#include "projectors/reconcile.h"
#include "projectors/runner.h"
#include "tools/replay_audit.h"

namespace {

using namespace tally;

// Every chain checkpoint, by the position it covers (few: one per thousands of events).
std::map<int64_t, v1::ChainCheckpoint> read_checkpoints(sql::Tx& tx) {
    std::map<int64_t, v1::ChainCheckpoint> out;
    for (const auto& row : tx.exec("SELECT payload FROM journal WHERE stream_id = $1 AND type = $2 ORDER BY position",
                                   {std::string(events::kCheckpointStream), std::string(events::kChainCheckpoint)})) {
        v1::ChainCheckpoint c;
        if (c.ParseFromString(row.bytes(0))) out[c.position()] = c;
    }
    return out;
}

// `public_keys`: the checkpoints' keys by id ("kid:hex" lines); empty: checkpoints unchecked.
int verify(sql::Pool& pool, const std::string& pg_url, const std::string& public_keys) {
    std::map<std::string, std::string> keys;
    if (!public_keys.empty()) {
        std::ifstream in(public_keys);
        std::stringstream ss;
        ss << in.rdbuf();
        auto parsed = events::parse_public_keys(ss.str());
        if (!in || !parsed) {
            std::fprintf(stderr, "--public-key %s: %s\n", public_keys.c_str(), parsed ? "cannot read it" : parsed.error().c_str());
            return 2;
        }
        keys = *parsed;
    }
    // The checkpoints, the snapshots' tips and the journal are read in ONE database snapshot:
    // on a live deployment, events (a checkpoint, say) appended while the walk runs would
    // otherwise put a snapshot ahead of the journal the walk saw.
    std::map<int64_t, v1::ChainCheckpoint> checkpoints;
    struct SnapshotTip {
        std::string stream, hash;
        int64_t version = 0;
    };
    std::vector<SnapshotTip> snapshot_tips;
    std::string running = events::running_hash_start();
    int64_t checked = 0, last_checked = 0;
    struct Tip {
        int64_t version = 0;
        std::string hash = events::genesis_hash();
        bool broken = false;
    };
    std::unordered_map<std::string, Tip> streams;
    int64_t expected_position = 1, problems = 0, count = 0;
    auto checkpoint_step = [&](const v1::EventEnvelope& e) {
        // The running hash over the stored event hashes (recomputed ones included: the
        // signature is what an editor cannot make again).
        running = events::running_hash_next(running, e.hash());
        auto c = checkpoints.find(e.position());
        if (c == checkpoints.end() || keys.empty()) return;
        const auto& cp = c->second;
        std::string why;
        auto key = keys.find(cp.key_id());
        if (key == keys.end()) why = "signed by key " + cp.key_id() + ", which --public-key does not hold";
        else if (!events::verify_ed25519(key->second, events::checkpoint_message(cp.position(), cp.running_hash(), cp.key_id()),
                                         cp.signature()))
            why = "the signature does not verify (the checkpoint was altered)";
        else if (cp.running_hash() != running)
            why = "the running hash of the journal up to here differs from the signed one: an event at or before this "
                  "position was changed";
        if (!why.empty()) {
            std::printf("checkpoint at position %lld: %s\n", static_cast<long long>(cp.position()), why.c_str());
            ++problems;
        } else {
            ++checked;
            last_checked = cp.position();
        }
    };
    auto walk = [&](const v1::EventEnvelope& e) {
        ++count;
        checkpoint_step(e);
        if (e.position() != expected_position) {
            std::printf("position gap: expected %lld, found %lld\n", static_cast<long long>(expected_position),
                        static_cast<long long>(e.position()));
            ++problems;
        }
        expected_position = e.position() + 1;
        auto& tip = streams[e.stream_id()];
        if (tip.broken) return;
        std::string why;
        if (e.stream_version() != tip.version + 1) why = "version gap";
        else if (e.prev_hash() != tip.hash) why = "prev_hash does not match the previous event's hash";
        else if (events::compute_hash(e) != e.hash()) why = "hash does not match the event's content";
        if (!why.empty()) {
            std::printf("stream %s broken at version %lld (position %lld): %s\n", e.stream_id().c_str(),
                        static_cast<long long>(e.stream_version()), static_cast<long long>(e.position()), why.c_str());
            tip.broken = true;
            ++problems;
            return;
        }
        tip.version = e.stream_version();
        tip.hash = e.hash();
    };
    std::string scan_error;
    auto r = pool.snapshot([&](sql::Tx& tx) {
        checkpoints = read_checkpoints(tx);
        journal::for_each_snapshot_tip(tx, [&](const std::string& stream, int64_t version, const std::string& hash) {
            snapshot_tips.push_back({stream, hash, version});
        });
        journal::ScanOptions options;
        options.up_to_position = journal::head_position(tx);
        options.snapshot = tx.exec("SELECT pg_export_snapshot()").at(0).str(0);
        auto scanned = journal::scan(pg_url, options, [&](const std::vector<v1::EventEnvelope>& batch) {
            for (const auto& e : batch) walk(e);
            return true;
        });
        if (!scanned) scan_error = scanned.error();
    });
    if (!r || !scan_error.empty()) {
        std::cerr << (r ? scan_error : r.error().message) << "\n";
        return 2;
    }
    // The snapshots must point at each stream's last event.
    for (const auto& t : snapshot_tips) {
        const auto& tip = streams[t.stream];
        if (!tip.broken && (tip.version != t.version || tip.hash != t.hash)) {
            std::printf("snapshot of %s is at version %lld, the journal at %lld\n", t.stream.c_str(),
                        static_cast<long long>(t.version), static_cast<long long>(tip.version));
            ++problems;
        }
    }
    if (keys.empty()) {
        std::printf("%zu signed checkpoints not checked: give --public-key FILE (GET /v1/audit/keys) to check them\n",
                    checkpoints.size());
    } else {
        std::printf("checked %lld of %zu signed checkpoints; the last covers position %lld, %lld events after it are "
                    "not yet covered\n",
                    static_cast<long long>(checked), checkpoints.size(), static_cast<long long>(last_checked),
                    static_cast<long long>(count - last_checked));
        if (checkpoints.empty()) ++problems;  // nothing signed: nothing proves the journal
    }
    std::printf("verified %lld events in %zu streams: %s\n", static_cast<long long>(count), streams.size(),
                problems ? "DISCREPANCIES FOUND" : "all chains intact");
    return problems ? 1 : 0;
}

// Progress on stderr: a bar redrawn in place on a terminal, else a line every few seconds.
class ProgressLine {
public:
    ProgressLine() : tty_(isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()) {}
    ~ProgressLine() {
        if (tty_ && drawn_) std::fputc('\n', stderr);
    }
    void operator()(const char* phase, int64_t done, int64_t total, const std::string& stream) {
        const auto now = std::chrono::steady_clock::now();
        if (phase != phase_) {
            phase_ = phase;
            phase_start_ = now;
            phase_done_ = done;
        }
        if (now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(5))) return;
        last_ = now;
        const double secs = std::chrono::duration<double>(now - phase_start_).count();
        const double rate = secs > 0 ? static_cast<double>(done - phase_done_) / secs : 0;
        const double eta = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
        const int pct = total > 0 ? static_cast<int>(100 * std::min(done, total) / total) : 0;
        std::string bar(20, ' ');
        for (int i = 0; i < pct / 5; ++i) bar[static_cast<size_t>(i)] = '#';
        const std::string what = phase_ == "journal" ? "events" : "streams";
        if (tty_) {
            std::fprintf(stderr, "\r%-9s [%s] %3d%% %lld/%lld %s, %.0f/s, ETA %.0f s, at %-40.40s", phase, bar.c_str(), pct,
                         static_cast<long long>(done), static_cast<long long>(total), what.c_str(), rate, eta,
                         stream.c_str());
            drawn_ = true;
        } else {
            std::fprintf(stderr, "%s: %lld/%lld %s (%d%%), %.0f/s, ETA %.0f s, at %s\n", phase, static_cast<long long>(done),
                         static_cast<long long>(total), what.c_str(), pct, rate, eta, stream.c_str());
        }
        std::fflush(stderr);
    }

private:
    bool tty_;
    bool drawn_ = false;
    std::string phase_;
    std::chrono::steady_clock::time_point start_, phase_start_, last_{};
    int64_t phase_done_ = 0;
};

struct ReconcileOptions {
    bool json = false;
    bool repair = false;
    std::string operator_id;  // the admin principal who repairs
    std::string reason;
};

// The operator who repairs: an active admin, loaded fresh (checked before anything is
// rebuilt, and again when each repair is recorded).
std::expected<journal::Principal, std::string> repairing_operator(sql::Pool& pool, const std::string& operator_id) {
    std::optional<journal::Principal> principal;
    auto r = pool.transact([&](sql::Tx& tx) { principal = journal::load_principal(tx, operator_id); });
    if (!r) return std::unexpected("--operator " + operator_id + ": " + r.error().message);
    if (!principal) return std::unexpected("--operator " + operator_id + ": no such principal");
    if (!principal->active) return std::unexpected("--operator " + operator_id + ": the principal is disabled");
    if (principal->role != "admin")
        return std::unexpected("--operator " + operator_id + ": only admins repair (the principal is " + principal->role + ")");
    return *principal;
}

// Records the repair as the operator's act, through the write path.
bool record_repair(sql::Pool& pool, const std::string& operator_id, const std::string& projector, int64_t replayed,
                   const std::vector<std::string>& drift, const std::string& reason) {
    auto principal = repairing_operator(pool, operator_id);
    if (!principal) {
        std::fprintf(stderr, "%s\n", principal.error().c_str());
        return false;
    }
    const auto now = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    };
    commands::Pipeline pipeline(pool, commands::PipelineOptions{}, now, [] {});
    pipeline.start();
    v1::ProjectionRebuilt act;
    act.set_projector(projector);
    act.set_operator_id(operator_id);
    act.set_events_replayed(replayed);
    act.set_reason(reason);
    for (const auto& d : drift) act.add_drift(d);
    act.set_at_unix_ms(now());
    const std::string key = "repair-" + projector + "-" + std::to_string(act.at_unix_ms());
    auto out = commands::submit_and_wait(pipeline, {operator_id, principal->role, principal->session_version},
                                         commands::record_rebuild(act), key, events::sha256(act.SerializeAsString()));
    pipeline.stop();
    if (const auto* no = std::get_if<commands::Rejection>(&out)) {
        std::fprintf(stderr, "recording the repair of %s was refused: %s (%s)\n", projector.c_str(), no->code.c_str(),
                     no->detail.c_str());
        return false;
    }
    return true;
}

int reconcile(sql::Pool& pool, const ReconcileOptions& o) {
    if (o.repair) {
        if (auto who = repairing_operator(pool, o.operator_id); !who) {
            std::fprintf(stderr, "%s: nothing was checked or repaired\n", who.error().c_str());
            return 2;
        }
    }
    ProgressLine progress;
    projectors::reconcile::Reconciler reconciler(std::ref(progress));
    auto report = reconciler.pass(pool);
    if (!report) {
        std::fprintf(stderr, "reconcile: %s\n", report.error().c_str());
        return 2;
    }
    auto print = [&](const projectors::reconcile::Report& r) {
        std::fputs((o.json ? projectors::reconcile::to_json(r) + "\n" : projectors::reconcile::to_text(r)).c_str(), stdout);
        std::fflush(stdout);
    };
    print(*report);
    if (report->clean()) return 0;
    if (!o.repair) return 1;
    if (report->snapshot_drift()) {
        std::fprintf(stderr,
                     "REFUSED: %lld snapshots disagree with their streams. Snapshots are written in the same transaction "
                     "as their events, so this is a bug or tampering, not lag: nothing was repaired. Investigate "
                     "(tally-replay verify --public-key) before rebuilding anything.\n",
                     static_cast<long long>(report->drift_count("snapshots")));
        return 1;
    }
    if (const int64_t n = report->drift_count("principals")) {
        std::fprintf(stderr,
                     "REFUSED: %lld principal values disagree with their streams. The principals table is written in "
                     "the same transaction as their events, so this is a bug or a hand edit (a role or a permission "
                     "granted behind the log's back), not lag: nothing was repaired. Set the principal again through "
                     "PUT /v1/principals/{id}, which writes the row from the record.\n",
                     static_cast<long long>(n));
        return 1;
    }
    const auto projections = report->drifting_projections();
    if (projections.empty()) {
        std::fprintf(stderr, "nothing repairable drifts (coupon uses live in snapshots)\n");
        return 1;
    }
    for (const auto& name : projections) {
        auto projection = projectors::rebuildable_projection(name);
        if (!projection) continue;
        std::vector<std::string> drift;
        for (const auto& d : report->drifts)
            if (d.cache.size() && std::any_of(report->caches.begin(), report->caches.end(), [&](const auto& c) {
                    return c.cache == d.cache && c.projection == name;
                }))
                drift.push_back(d.cache + " " + d.key + (d.field.empty() ? "" : " " + d.field) + ": cached " + d.cached +
                                ", log " + d.log);
        std::fprintf(stderr, "repairing %s (%zu drifting values): rebuilding it from the journal\n", name.c_str(), drift.size());
        const int64_t head = report->head;
        auto rebuilt = projectors::rebuild_projection(pool, *projection, 0, nullptr, [&](int64_t at) {
            progress("rebuild", at, head, name);
        });
        if (!rebuilt) {
            std::fprintf(stderr, "rebuilding %s failed: %s\n", name.c_str(), rebuilt.error().c_str());
            return 2;
        }
        if (!record_repair(pool, o.operator_id, name, rebuilt->replayed, drift, o.reason)) return 2;
        std::fprintf(stderr, "repaired %s: %lld events replayed up to position %lld; recorded as ProjectionRebuilt\n",
                     name.c_str(), static_cast<long long>(rebuilt->replayed), static_cast<long long>(rebuilt->head));
    }
    // Once more, from the log, to show what is left.
    projectors::reconcile::Reconciler again(std::ref(progress));
    auto after = again.pass(pool);
    if (!after) {
        std::fprintf(stderr, "reconcile after the repair: %s\n", after.error().c_str());
        return 2;
    }
    std::fprintf(stderr, "after the repair:\n");
    print(*after);
    return after->clean() ? 0 : 1;
}

int dump(sql::Pool& pool, int64_t after, int64_t limit) {
    std::vector<v1::EventEnvelope> page;
    auto r = pool.transact([&](sql::Tx& tx) { page = journal::read_after(tx, after, limit); });
    if (!r) return 2;
    for (const auto& e : page) std::printf("%s\n", events::envelope_to_json(e).c_str());
    return 0;
}

}  // namespace

// jemalloc's options for this tool (read at start-up; MALLOC_CONF still overrides): two
// arenas for its few busy threads, and freed pages given back within a second. On the
// 1M-event journal this kept reconcile's peak RSS at 256 MB instead of 281-295 MB, and
// it ran no slower (BENCHMARKS.md).
extern "C" const char* malloc_conf;
const char* malloc_conf = "narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0";

int main(int argc, char** argv) {
    tally::infra::report_fatal_signals();
    if (argc < 2) {
        std::cerr << "usage: tally-replay verify [--public-key FILE] | reconcile [--json] [--repair --operator ADMIN_ID] | dump [--after POSITION] [--limit N]"
                     " | audit --brokers B [--topic T] [--pg URL]\n";
        return 2;
    }
    Config cfg;
    try {
        cfg = config_from_env();
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 2;
    }
    const std::string verb = argv[1];
    if (verb == "audit") {  // from Kafka; the database only when asked
        replay::AuditOptions o;
        for (int i = 2; i < argc; ++i) {
            const std::string k = argv[i];
            if (i + 1 >= argc) {
                std::cerr << k << " needs a value\n";
                return 2;
            }
            if (k == "--brokers") o.brokers = argv[++i];
            else if (k == "--topic") o.topic = argv[++i];
            else if (k == "--pg") o.pg_url = argv[++i];
            else {
                std::cerr << "unknown option " << k << " (audit --brokers B [--topic T] [--pg URL])\n";
                return 2;
            }
        }
        if (o.brokers.empty()) {
            std::cerr << "audit needs --brokers\n";
            return 2;
        }
        return replay::audit(o);
    }
    if (cfg.pg_url.empty()) cfg.pg_url = "postgresql://tally@127.0.0.1:" + std::to_string(cfg.pg_port) + "/postgres";
    sql::Pool pool(cfg.pg_url, 2);
    if (verb == "verify") {
        std::string public_keys;
        for (int i = 2; i + 1 < argc; i += 2)
            if (std::string(argv[i]) == "--public-key") public_keys = argv[i + 1];
        return verify(pool, cfg.pg_url, public_keys);
    }
    if (verb == "reconcile") {
        ReconcileOptions o;
        o.reason = "reconcile --repair";
        for (int i = 2; i < argc; ++i) {
            const std::string k = argv[i];
            if (k == "--json") o.json = true;
            else if (k == "--repair") o.repair = true;
            else if (k == "--operator" && i + 1 < argc) o.operator_id = argv[++i];
            else if (k == "--reason" && i + 1 < argc) o.reason = argv[++i];
            else {
                std::cerr << "unknown option " << k << " (reconcile [--json] [--repair --operator ADMIN_ID [--reason TEXT]])\n";
                return 2;
            }
        }
        if (o.repair && o.operator_id.empty()) {
            std::cerr << "--repair needs --operator ADMIN_ID: the repair is recorded as that admin's act\n";
            return 2;
        }
        return reconcile(pool, o);
    }
    if (verb == "dump") {
        int64_t after = 0, limit = 1000;
        for (int i = 2; i + 1 < argc; i += 2) {
            const std::string k = argv[i];
            if (k == "--after") after = std::stoll(argv[i + 1]);
            else if (k == "--limit") limit = std::stoll(argv[i + 1]);
        }
        return dump(pool, after, limit);
    }
    std::cerr << "unknown verb " << verb << "\n";
    return 2;
}
