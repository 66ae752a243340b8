#include "commands/pipeline.h"

#include "commands/principals.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <set>

#include "domain/assert.h"
#include "domain/principal.h"
#include "events/envelope.h"
#include "infra/journal.h"
#include "infra/metrics.h"
#include "infra/threads.h"

namespace tally::commands {
namespace {

using journal::IdempotencyKey;

metrics::Histogram& batch_size_histogram() {
    static auto& h = metrics::global().histogram("tally_batch_commands", "",
                                                 {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
    return h;
}

metrics::Histogram& commit_latency_histogram() {
    static auto& h = metrics::global().histogram("tally_batch_commit_seconds", "", metrics::latency_buckets());
    return h;
}

}  // namespace

std::optional<Rejection> check_principal(const Claims& claims, const journal::Principal* principal) {
    if (!principal || !principal->active)
        return Rejection{RejectionKind::unauthenticated, "principal_unknown", "the token's principal does not exist or is disabled"};
    if (principal->session_version != claims.session_version ||
        (claims.external && claims.issued_at < principal->sessions_since_unix_s))
        return Rejection{RejectionKind::unauthenticated, "token_revoked", "the token was revoked; sign in again"};
    if (principal->role != claims.role)
        return Rejection{RejectionKind::forbidden, "role_changed", "the principal's role no longer matches the token"};
    return std::nullopt;
}

bool has_permission(const std::vector<std::string>& permissions, const std::string& resource,
                    const std::string& action) {
    return principal::holds(permissions, resource, action);
}

bool manages_finance(const DecideContext& ctx) {
    return ctx.role == "admin" || (ctx.role == "employee" && has_permission(ctx.permissions, "finance", "manage"));
}

std::string command_id_for(const std::string& principal, const std::string& idempotency_key) {
    return events::to_hex(events::sha256(principal + "\n" + idempotency_key)).substr(0, 32);
}

Pipeline::Pipeline(sql::Pool& pool, PipelineOptions options, Clock clock, std::function<void()> on_commit)
    : pool_(pool), options_(options), clock_(std::move(clock)), on_commit_(std::move(on_commit)) {
    metrics::global().help("tally_batch_commands", "histogram", "Commands per group-commit batch");
    metrics::global().help("tally_batch_commit_seconds", "histogram", "Batch transaction latency");
    metrics::global().help("tally_pipeline_queued_commands", "gauge", "Commands waiting for a batch");
    metrics::global().gauge("tally_pipeline_queued_commands", "", [this] { return static_cast<double>(queued()); }, this);
    metrics::global().help("tally_pipeline_queue_capacity_commands", "gauge", "Commands the pipeline queues before answering 503");
    metrics::global().gauge("tally_pipeline_queue_capacity_commands", "",
                            [this] { return static_cast<double>(options_.queue_commands_max); }, this);
}

Pipeline::~Pipeline() {
    metrics::global().drop_gauges(this);  // first: a render may be reading them
    stop();
}

void Pipeline::start() {
    for (int i = 0; i < std::max(1, options_.writers); ++i) writers_.emplace_back([this] {
            infra::name_this_thread("writer");
            run();
        });
}

void Pipeline::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : writers_)
        if (w.joinable()) w.join();
    writers_.clear();
}

size_t Pipeline::queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

bool Pipeline::submit(Submission s) {
    {
        std::lock_guard lock(mu_);
        if (stopping_ || queue_.size() >= options_.queue_commands_max) return false;
        queue_.push_back(std::move(s));
    }
    cv_.notify_one();
    return true;
}

void Pipeline::run() {
    while (true) {
        std::vector<Submission> batch;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty() && stopping_) return;
            // A short wait lets a few more commands join a small batch.
            if (queue_.size() < options_.batch_commands_max && options_.batch_wait_us > 0 && !stopping_)
                cv_.wait_for(lock, std::chrono::microseconds(options_.batch_wait_us),
                             [&] { return queue_.size() >= options_.batch_commands_max; });
            const size_t n = std::min(queue_.size(), options_.batch_commands_max);
            batch.reserve(n);
            for (size_t i = 0; i < n; ++i) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        process(batch);
    }
}

void Pipeline::process(std::vector<Submission>& batch) {
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::optional<Outcome>> outcomes(batch.size());
    sql::DbError last_error{sql::DbErrorKind::unavailable, "not attempted", ""};
    bool committed = false;

    for (int attempt = 1; attempt <= options_.attempts_max && !committed; ++attempt) {
        std::fill(outcomes.begin(), outcomes.end(), std::nullopt);
        auto result = pool_.transact([&](sql::Tx& tx) {
            journal::WriteTx w(tx);
            std::vector<IdempotencyKey> keys;
            std::vector<std::string> principal_ids;
            for (const auto& s : batch) {
                keys.push_back({s.claims.principal_id, s.idempotency_key});
                principal_ids.push_back(s.claims.principal_id);
            }
            const auto context = w.load_context(keys, principal_ids);
            const auto& stored = context.responses;
            const auto& principals = context.principals;

            // The first submission of each key in this batch; later ones replay it.
            std::map<IdempotencyKey, size_t> first_of_key;
            std::vector<size_t> to_decide;
            std::set<std::string> stream_ids, read_ids;
            for (size_t i = 0; i < batch.size(); ++i) {
                const auto& s = batch[i];
                // The principal first: a revoked or disabled one may not even replay its
                // stored answers.
                auto found = principals.find(s.claims.principal_id);
                if (auto p = check_principal(s.claims, found == principals.end() ? nullptr : &found->second)) {
                    outcomes[i] = std::move(*p);
                    continue;
                }
                if (auto it = stored.find(keys[i]); it != stored.end()) {
                    if (it->second.body_hash == s.body_hash)
                        outcomes[i] = Reply{it->second.status, it->second.body, true};
                    else
                        outcomes[i] = Rejection{RejectionKind::fix_request, "idempotency_key_reused",
                                                "this Idempotency-Key was used with a different request"};
                    continue;
                }
                if (first_of_key.contains(keys[i])) continue;  // resolved after the first one
                first_of_key[keys[i]] = i;
                to_decide.push_back(i);
                for (auto& id : s.command->streams()) stream_ids.insert(id);
                for (auto& id : s.command->read_streams()) read_ids.insert(id);
            }

            auto snapshots = w.lock_streams({stream_ids.begin(), stream_ids.end()}, {read_ids.begin(), read_ids.end()});
            std::map<std::string, StreamState> states;
            for (auto* group : {&snapshots.locked, &snapshots.read})
                for (auto& [id, snap] : *group)
                    states[id] = StreamState{snap.version, std::move(snap.state), std::move(snap.last_hash)};
            for (const auto& id : read_ids) states.try_emplace(id);  // read-only and absent: empty

            struct Pending {
                size_t index;
                size_t first_event;
                size_t event_count;
                std::function<Reply(const std::vector<v1::EventEnvelope>&)> reply;
            };
            std::vector<Pending> pending;
            std::vector<v1::EventEnvelope> envelopes;
            std::set<std::string> touched;
            const int64_t now = clock_();
            // Principals changed by earlier commands of this batch: a later command of theirs
            // is checked against the change (a revoked token stops at once).
            std::map<std::string, journal::Principal> changed_principals;
            for (size_t i : to_decide) {
                auto& s = batch[i];
                const journal::Principal* principal = &principals.at(s.claims.principal_id);
                if (auto c = changed_principals.find(s.claims.principal_id); c != changed_principals.end()) {
                    if (auto p = check_principal(s.claims, &c->second)) {
                        outcomes[i] = std::move(*p);
                        continue;
                    }
                    principal = &c->second;
                }
                DecideContext ctx{command_id_for(s.claims.principal_id, s.idempotency_key), s.claims.principal_id, now,
                                  principal->role, principal->permissions};
                Decision d = s.command->decide(states, ctx);
                if (auto* r = std::get_if<Rejection>(&d)) {
                    outcomes[i] = std::move(*r);
                    continue;
                }
                auto& accepted = std::get<Accepted>(d);
                Pending p{i, envelopes.size(), accepted.events.size(), std::move(accepted.reply)};
                int index = 0;
                for (auto& ev : accepted.events) {
                    auto st = states.find(ev.stream_id);
                    TALLY_ASSERT(stream_ids.contains(ev.stream_id), "command wrote unlocked stream {}", ev.stream_id);
                    v1::EventEnvelope e;
                    e.set_event_id(events::event_id_for(ctx.command_id, index++));
                    e.set_stream_id(ev.stream_id);
                    e.set_stream_version(st->second.version + 1);
                    e.set_type(ev.type);
                    e.set_schema_version(ev.schema_version);
                    e.set_occurred_at_unix_ms(now);
                    e.set_causation_id(ctx.command_id);
                    e.set_correlation_id(s.correlation_id);
                    e.set_actor(s.claims.principal_id);
                    e.set_payload(std::move(ev.payload));
                    events::seal(e, st->second.last_hash);
                    st->second.version = e.stream_version();
                    st->second.last_hash = e.hash();
                    envelopes.push_back(std::move(e));
                    touched.insert(ev.stream_id);
                }
                for (auto& [id, bytes] : accepted.new_states) {
                    TALLY_ASSERT(stream_ids.contains(id), "command changed unlocked stream {}", id);
                    if (auto p = principal_of_state(id, bytes)) changed_principals[p->id] = std::move(*p);
                    states[id].state = std::move(bytes);
                    touched.insert(id);
                }
                pending.push_back(std::move(p));
            }

            w.reserve_positions(envelopes);
            std::vector<std::pair<IdempotencyKey, journal::StoredResponse>> responses;
            for (auto& p : pending) {
                std::vector<v1::EventEnvelope> mine(envelopes.begin() + static_cast<long>(p.first_event),
                                                    envelopes.begin() + static_cast<long>(p.first_event + p.event_count));
                Reply reply = p.reply(mine);
                responses.push_back({keys[p.index], {batch[p.index].body_hash, reply.status, reply.body}});
                outcomes[p.index] = std::move(reply);
            }
            std::vector<journal::StreamSnapshot> changed;
            for (const auto& id : touched) {
                const auto& st = states[id];
                changed.push_back({id, st.version, st.state, st.last_hash});
            }
            w.write(envelopes, changed, responses);
            // The principals rows follow their records in the same transaction.
            for (const auto& snap : changed)
                if (snap.stream_id.starts_with(principal::kStreamPrefix)) write_principal_row(tx, snap.state);
        });
        if (result) {
            committed = true;
            break;
        }
        last_error = result.error();
        if (last_error.kind == sql::DbErrorKind::rejected) {
            if (batch.size() > 1) {
                // One command the database refuses must not fail its neighbours: split the
                // batch and retry the halves until the offender stands alone.
                std::vector<Submission> second(std::make_move_iterator(batch.begin() + static_cast<long>(batch.size() / 2)),
                                               std::make_move_iterator(batch.end()));
                batch.resize(batch.size() / 2);
                process(batch);
                process(second);
                return;
            }
            spdlog::error("command refused by the database (request {}): {}", batch.front().correlation_id,
                          last_error.message);
            break;
        }
        spdlog::warn("batch of {} failed (attempt {}): {}", batch.size(), attempt, last_error.message);
        std::this_thread::sleep_for(std::chrono::milliseconds(20 * attempt));
    }

    if (committed) {
        // Duplicates of a key within the batch get the first one's answer.
        std::map<IdempotencyKey, size_t> first;
        for (size_t i = 0; i < batch.size(); ++i) {
            IdempotencyKey k{batch[i].claims.principal_id, batch[i].idempotency_key};
            auto [it, inserted] = first.emplace(k, i);
            if (inserted || outcomes[i]) continue;
            const size_t f = it->second;
            if (batch[f].body_hash != batch[i].body_hash)
                outcomes[i] = Rejection{RejectionKind::fix_request, "idempotency_key_reused",
                                        "this Idempotency-Key was used with a different request"};
            else if (auto* r = std::get_if<Reply>(&*outcomes[f]))
                outcomes[i] = Reply{r->status, r->body, true};
            else
                outcomes[i] = *outcomes[f];
        }
        commit_latency_histogram().observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        batch_size_histogram().observe(static_cast<double>(batch.size()));
        if (on_commit_) on_commit_();
    }
    for (size_t i = 0; i < batch.size(); ++i) {
        if (!committed && last_error.kind == sql::DbErrorKind::rejected)
            outcomes[i] = Rejection{RejectionKind::internal, "internal_error",
                                    "the command was not recorded; the database refused it"};
        else if (!committed)
            outcomes[i] = Rejection{RejectionKind::retry_later, "storage_unavailable",
                                    "the command was not recorded; retry with the same Idempotency-Key"};
        TALLY_ASSERT(outcomes[i].has_value(), "submission {} left unanswered", i);
        batch[i].done(std::move(*outcomes[i]));
    }
}

Outcome submit_and_wait(Pipeline& pipeline, const Claims& claims, std::unique_ptr<Command> command,
                        const std::string& key, const std::string& body_hash) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto future = promise->get_future();
    Submission s;
    s.claims = claims;
    s.idempotency_key = key;
    s.body_hash = body_hash;
    s.correlation_id = key;
    s.command = std::move(command);
    s.done = [promise](Outcome o) { promise->set_value(std::move(o)); };
    if (!pipeline.submit(std::move(s)))
        return Rejection{RejectionKind::retry_later, "pipeline_busy", "the command pipeline refused the submission"};
    return future.get();
}

}  // namespace tally::commands
