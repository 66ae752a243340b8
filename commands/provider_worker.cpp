#include "commands/provider_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands/lifecycle.h"
#include "commands/renewal.h"
#include "domain/subscription.h"
#include "domain/affiliate_payout.h"
#include "domain/catalog.h"
#include "domain/lifecycle.h"
#include "domain/order.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "infra/journal.h"
#include "infra/metrics.h"
#include "infra/provider_calls.h"
#include "infra/threads.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/payment.pb.h"
#include "tally/v1/subscription.pb.h"

namespace tally::commands {
namespace {

using nlohmann::json;

std::string request_stream(const std::string& key) { return "provider-request-" + key; }

// Records what the provider created, once per call key.
class RecordCompleted final : public Command {
public:
    explicit RecordCompleted(v1::ProviderRequestCompleted c) : c_(std::move(c)), stream_(request_stream(c_.key())) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (ctx.role != "system") return Rejection{RejectionKind::forbidden, "forbidden", "only the provider workers"};
        Accepted a;
        if (states.at(stream_).version == 0)
            a.events.push_back({stream_, std::string(events::kProviderRequestCompleted), 1, c_.SerializeAsString()});
        a.reply = [](const std::vector<v1::EventEnvelope>&) { return Reply{200, "{}"}; };
        return a;
    }

private:
    v1::ProviderRequestCompleted c_;
    std::string stream_;
};

// Submits as the workers and waits for the batch's answer.
Outcome submit_and_wait(Pipeline& pipeline, std::unique_ptr<Command> command, const std::string& key) {
    return commands::submit_and_wait(pipeline, worker_claims(), std::move(command), key,
                                     events::sha256("provider worker\n" + key));
}

std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string text(const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

// A claimed call: attempts include this one; claim is the fencing token of this claim.
struct ProviderWorker::Call : provider_calls::Claimed {};

int64_t retry_delay_ms(int attempts, int64_t base_ms, int64_t max_ms, std::string_view key) {
    int64_t d = base_ms;
    for (int i = 1; i < attempts && d < max_ms; ++i) d *= 2;
    d = std::min(d, max_ms);
    const uint64_t h = std::hash<std::string_view>{}(key) ^ (static_cast<uint64_t>(attempts) * 0x9e3779b97f4a7c15ULL);
    return d - static_cast<int64_t>(static_cast<uint64_t>(d / 4) * (h % 1000) / 1000);
}

Claims worker_claims() { return {"system:workers", "system", 1}; }

std::vector<std::string> stripe_call_kinds() {
    return {"payment_intent", "cancel_intent", "refund", "transfer", "request_payout", "affiliate_transfer", "renewal_retry"};
}
std::vector<std::string> paypal_call_kinds() { return {"paypal_payout"}; }

ProviderWorker::ProviderWorker(sql::Pool& pool, Pipeline& pipeline, const stripe_api::Api& api,
                               ProviderWorkerOptions options, Clock clock, const paypal_api::Api* paypal)
    : pool_(pool), pipeline_(pipeline), api_(api), options_(options), clock_(std::move(clock)), paypal_(paypal) {
    auto& m = metrics::global();
    m.help("tally_provider_calls_total", "counter", "Provider call attempts by kind and outcome (done, retry, wait, park)");
    m.help("tally_provider_calls_dead", "gauge", "Provider calls parked in the dead letters");
    m.help("tally_provider_calls_due", "gauge", "Provider calls due and not yet taken");
    m.help("tally_provider_calls_fenced_total", "counter", "Provider call outcomes refused because the lease had moved on");
    m.gauge("tally_provider_calls_dead", "", [this] { return static_cast<double>(dead_.load()); }, this);
    m.gauge("tally_provider_calls_due", "", [this] { return static_cast<double>(due_.load()); }, this);
}

ProviderWorker::~ProviderWorker() {
    metrics::global().drop_gauges(this);  // first: a render may be reading them
    stop();
}

void ProviderWorker::start() {
    for (int i = 0; i < std::max(1, options_.threads); ++i)
        threads_.emplace_back([this, i] {
            infra::name_this_thread("provider");
            while (!stopping_) {
                bool worked = false;
                try {
                    if (i == 0) refresh_counts();
                    worked = work_one();
                } catch (const std::exception& e) {
                    spdlog::error("provider worker: {}", e.what());
                }
                if (!worked) std::this_thread::sleep_for(options_.idle_poll);
            }
        });
}

void ProviderWorker::stop() {
    stopping_ = true;
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

void ProviderWorker::refresh_counts() {
    const auto now = std::chrono::steady_clock::now();
    if (now - counted_ < std::chrono::seconds(2)) return;
    counted_ = now;
    auto r = pool_.transact([&](sql::Tx& tx) {
        const auto n = provider_calls::counts(tx);
        dead_ = n.dead;
        due_ = n.due;
    });
    if (!r) spdlog::warn("provider worker: cannot count the calls: {}", r.error().message);
}

bool ProviderWorker::work_one() {
    std::optional<Call> call;
    auto claimed = pool_.transact([&](sql::Tx& tx) {
        // The lease moves due_at forward: nobody else takes the row while this call runs,
        // and if this worker dies the row falls due again.
        if (auto claimed = provider_calls::claim_next(tx, options_.lease_ms, options_.kinds)) call = Call{{*claimed}};
    });
    if (!claimed) {
        spdlog::warn("provider worker: cannot claim a call: {}", claimed.error().message);
        return false;
    }
    if (!call) return false;
    const Result result = execute(*call);
    finish(*call, result);
    return true;
}

ProviderWorker::Result ProviderWorker::execute(const Call& c) {
    if (c.kind == "request_payout") return request_payout(c);
    if (c.kind == "affiliate_transfer" || c.kind == "paypal_payout") return affiliate_payout(c);
    if (c.kind == "payment_intent" && c.key.rfind("renewal-", 0) == 0) return renewal_charge(c);
    if (c.kind == "renewal_retry") return renewal_charge(c);
    if (c.kind == "payment_intent") {
        return call_provider(c, "/v1/payment_intents",
                             {{"amount", std::to_string(c.amount_minor)},
                              {"currency", lower(c.currency)},
                              {"automatic_payment_methods[enabled]", "true"},
                              {"transfer_group", c.order_id},
                              {"metadata[order_id]", c.order_id}});
    }
    // What the order and its intent look like now.
    std::string intent_status, intent_id, vendor_account;
    std::map<std::string, std::string> states;
    auto read = pool_.transact([&](sql::Tx& tx) {
        if (auto intent = provider_calls::payment_intent_of(tx, c.order_id)) {
            intent_status = intent->status;
            intent_id = intent->object_id;
        }
        std::vector<std::string> streams{order::stream_id(c.order_id)};
        if (c.kind == "transfer") streams.push_back(catalog::vendor_stream(c.vendor_id));
        states = journal::read_states(tx, streams);
    });
    if (!read) return {Verdict::retry, "", "", "database: " + read.error().message};
    if (c.kind == "transfer") {
        auto vendor = parse_state<v1::VendorDefinition>(states[catalog::vendor_stream(c.vendor_id)]);
        if (!vendor || vendor->payout_account().empty())
            return {Verdict::park, "", "", "vendor " + c.vendor_id + " has no payout_account"};
        return call_provider(c, "/v1/transfers",
                             {{"amount", std::to_string(c.amount_minor)},
                              {"currency", lower(c.currency)},
                              {"destination", vendor->payout_account()},
                              {"transfer_group", c.order_id},
                              {"metadata[order_id]", c.order_id},
                              {"metadata[vendor_id]", c.vendor_id}});
    }
    auto order = parse_state<lifecycle::State>(states[order::stream_id(c.order_id)]);
    if (c.kind == "cancel_intent") {
        if (order && order->paid())
            return {Verdict::done, "", "", "nothing to cancel: the payment succeeded (see the order's flagged signals)"};
        if (intent_status.empty()) return {Verdict::done, "", "", "nothing to cancel: no intent was created"};
        if (intent_status != "done") return {Verdict::wait, "", "", "waiting for the payment intent to be created"};
        auto cancelled = call_provider(c, "/v1/payment_intents/" + intent_id + "/cancel",
                                       {{"cancellation_reason", "requested_by_customer"}});
        // The customer paid before the cancel arrived: nothing to cancel. The payment's
        // webhook is flagged succeeded_after_cancel and that plans its refund.
        if (cancelled.verdict == Verdict::park && cancelled.note.find("[payment_intent_unexpected_state]") != std::string::npos)
            return {Verdict::done, "", "", "not cancelled: " + cancelled.note};
        return cancelled;
    }
    if (c.kind == "refund") {
        if (intent_status.empty()) return {Verdict::park, "", "", "order " + c.order_id + " has no payment intent"};
        if (intent_status != "done") return {Verdict::wait, "", "", "waiting for the payment intent to be created"};
        return call_provider(c, "/v1/refunds",
                             {{"payment_intent", intent_id},
                              {"amount", std::to_string(c.amount_minor)},
                              {"reason", "requested_by_customer"},
                              {"metadata[order_id]", c.order_id},
                              {"metadata[refund_id]", c.key}});
    }
    return {Verdict::park, "", "", "unknown call kind " + c.kind};
}

ProviderWorker::Result ProviderWorker::call_provider(const Call& c, const std::string& path,
                                                     const stripe_api::Form& form) {
    const auto res = api_.post(path, form, c.key);
    if (!res.ok())
        return {res.retryable() ? Verdict::retry : Verdict::park, "", "",
                res.error + (res.code.empty() ? "" : " [" + res.code + "]")};
    auto doc = json::parse(res.body, nullptr, false);
    const std::string id = doc.is_object() ? text(doc, "id") : "";
    if (id.empty()) return {Verdict::retry, "", "", "the provider answered " + std::to_string(res.status) + " without an id"};
    return record_completed(c, id, text(doc, "client_secret"));
}

ProviderWorker::Result ProviderWorker::record_completed(const Call& c, const std::string& id,
                                                        const std::string& client_secret) {
    // Recorded before the row is done: if this fails, the retry gets the same object back
    // (same Idempotency-Key) and records it then.
    v1::ProviderRequestCompleted done;
    done.set_key(c.key);
    done.set_kind(c.kind);
    done.set_order_id(c.order_id);
    done.set_vendor_id(c.vendor_id);
    done.set_object_id(id);
    done.mutable_amount()->set_minor(c.amount_minor);
    done.mutable_amount()->set_currency(c.currency);
    done.set_attempts(c.attempts);
    auto recorded = submit_and_wait(pipeline_, std::make_unique<RecordCompleted>(std::move(done)), "completed-" + c.key);
    if (auto* rej = std::get_if<Rejection>(&recorded))
        return {Verdict::retry, "", "", "recording " + id + " failed: " + rej->code + ": " + rej->detail};
    return {Verdict::done, id, client_secret, ""};
}

ProviderWorker::Result ProviderWorker::affiliate_payout(const Call& c) {
    std::map<std::string, std::string> states;
    auto read = pool_.transact(
        [&](sql::Tx& tx) { states = journal::read_states(tx, {affiliate::payouts_stream(c.affiliate_id)}); });
    if (!read) return {Verdict::retry, "", "", "database: " + read.error().message};
    auto account = parse_state<affiliate::PayoutsState>(states[affiliate::payouts_stream(c.affiliate_id)]);
    const auto* payout = account ? affiliate::find_payout(*account, c.key) : nullptr;
    if (!payout) return {Verdict::park, "", "", "affiliate " + c.affiliate_id + " has no payout " + c.key};
    if (payout->status() != "requested") return {Verdict::done, "", "", "nothing to do: the payout is " + payout->status()};
    if (c.kind == "affiliate_transfer")
        return call_provider(c, "/v1/transfers",
                             {{"amount", std::to_string(c.amount_minor)},
                              {"currency", lower(c.currency)},
                              {"destination", payout->destination()},
                              {"transfer_group", c.key},
                              {"metadata[affiliate_payout]", c.key},
                              {"metadata[affiliate_id]", c.affiliate_id}});
    if (!paypal_) return {Verdict::park, "", "", "PayPal is not configured (TALLY_PAYPAL_CLIENT_ID)"};
    const auto currency = Currency::parse(c.currency);
    if (!currency) return {Verdict::park, "", "", "unknown currency " + c.currency};
    const json body = {
        {"sender_batch_header",
         {{"sender_batch_id", c.key}, {"recipient_type", "EMAIL"}, {"email_subject", "Your affiliate payout"}}},
        {"items", json::array({{{"recipient_type", "EMAIL"},
                                {"amount", {{"value", decimal_amount(c.amount_minor, *currency)}, {"currency", c.currency}}},
                                {"receiver", payout->destination()},
                                {"sender_item_id", c.key},
                                {"note", "Affiliate commission " + c.key}}})}};
    const auto res = paypal_->post("/v1/payments/payouts", body.dump(), c.key);
    auto doc = json::parse(res.body, nullptr, false);
    std::string batch;
    if (res.ok() && doc.is_object() && doc.contains("batch_header") && doc["batch_header"].is_object())
        batch = text(doc["batch_header"], "payout_batch_id");
    // PayPal pays a sender_batch_id once: a repeat is refused with a link to the original.
    if (!res.ok() && res.code == "SENDER_BATCH_ID_ALREADY_USED" && doc.is_object() && doc.contains("links") &&
        doc["links"].is_array())
        for (const auto& l : doc["links"])
            if (l.is_object()) {
                const std::string href = text(l, "href");
                if (auto slash = href.rfind('/'); slash != std::string::npos) batch = href.substr(slash + 1);
            }
    if (batch.empty() && !res.ok())
        return {res.retryable() ? Verdict::retry : Verdict::park, "", "",
                res.error + (res.code.empty() ? "" : " [" + res.code + "]")};
    if (batch.empty()) return {Verdict::retry, "", "", "PayPal answered " + std::to_string(res.status) + " without a payout_batch_id"};
    return record_completed(c, batch, "");
}

// A subscription's renewal, charged off-session to the saved payment method: the period's
// intent created and confirmed at once (its key renewal-{subscription}-{period}), or, in
// dunning, that intent confirmed again (the retry's key). A refusal (402: card_declined,
// authentication_required, ...) is the subscription's to record, not a call to retry: the
// dunning schedule retries it. The intent the provider made is recorded either way, so that
// webhooks, retries, refunds and cancellations find the order.
ProviderWorker::Result ProviderWorker::renewal_charge(const Call& c) {
    std::map<std::string, std::string> states;
    std::optional<provider_calls::IntentCall> intent;
    auto read = pool_.transact([&](sql::Tx& tx) {
        states = journal::read_states(tx, {order::stream_id(c.order_id)});
        if (c.kind == "renewal_retry") intent = provider_calls::payment_intent_of(tx, c.order_id);
        auto order = parse_state<lifecycle::State>(states[order::stream_id(c.order_id)]);
        if (order && !order->subscription().subscription_id().empty())
            for (auto& [id, bytes] : journal::read_states(tx, {subscription::stream_id(order->subscription().subscription_id())}))
                states[id] = std::move(bytes);
    });
    if (!read) return {Verdict::retry, "", "", "database: " + read.error().message};
    auto order = parse_state<lifecycle::State>(states[order::stream_id(c.order_id)]);
    if (!order || order->subscription().subscription_id().empty())
        return {Verdict::park, "", "", "order " + c.order_id + " is not a subscription's renewal"};
    if (order->cancelled()) return {Verdict::done, "", "", "nothing to charge: the order is cancelled"};
    const auto& charge = order->subscription();
    auto sub = parse_state<v1::SubscriptionState>(states[subscription::stream_id(charge.subscription_id())]);
    if (!sub) return {Verdict::park, "", "", "no subscription " + charge.subscription_id()};
    const auto retry_at = c.key.rfind("-retry-");
    const int attempt = c.kind == "renewal_retry" && retry_at != std::string::npos ? std::stoi(c.key.substr(retry_at + 7)) : 0;
    auto record = [&](const RenewalOutcome& outcome) -> std::optional<Result> {
        auto recorded = submit_and_wait(pipeline_, worker_claims(), renewal_outcome(outcome), "outcome-" + c.key,
                                        events::sha256("renewal outcome\n" + c.key));
        if (auto* rej = std::get_if<Rejection>(&recorded); rej && rej->code != "outcome_recorded")
            return Result{Verdict::retry, "", "", "recording the outcome failed: " + rej->code + ": " + rej->detail};
        return std::nullopt;
    };
    // Paid meanwhile (the customer authenticated on-session after authentication_required):
    // the subscription learns it here, and dunning ends.
    if (order->paid()) {
        if (auto failed = record({charge.subscription_id(), charge.period(), attempt, true, ""})) return *failed;
        return {Verdict::done, "", "", "nothing to charge: the order is paid"};
    }
    std::string path = "/v1/payment_intents";
    stripe_api::Form form;
    if (c.kind == "renewal_retry") {
        if (!intent || intent->status == "pending") return {Verdict::wait, "", "", "waiting for the period's intent"};
        if (intent->object_id.empty()) return {Verdict::park, "", "", "the period's intent was never created"};
        path += "/" + intent->object_id + "/confirm";
    } else {
        form = {{"amount", std::to_string(c.amount_minor)},
                {"currency", lower(c.currency)},
                {"confirm", "true"},
                {"transfer_group", c.order_id},
                {"metadata[order_id]", c.order_id},
                {"metadata[subscription_id]", charge.subscription_id()},
                {"metadata[period]", std::to_string(charge.period())}};
        if (!sub->provider_customer().empty()) form.emplace_back("customer", sub->provider_customer());
    }
    form.emplace_back("payment_method", charge.payment_method());
    form.emplace_back("off_session", "true");
    const auto res = api_.post(path, form, c.key);
    auto doc = json::parse(res.body, nullptr, false);
    if (!res.ok() && res.status != 402)
        return {res.retryable() ? Verdict::retry : Verdict::park, "", "",
                res.error + (res.code.empty() ? "" : " [" + res.code + "]")};
    // The intent: the answer itself, or the one a refusal names.
    json pi = res.ok() ? doc : json();
    if (!res.ok() && doc.is_object() && doc.contains("error") && doc["error"].is_object() &&
        doc["error"].contains("payment_intent") && doc["error"]["payment_intent"].is_object())
        pi = doc["error"]["payment_intent"];
    const std::string id = pi.is_object() ? text(pi, "id") : "";
    if (id.empty()) return {Verdict::retry, "", "", "the provider answered " + std::to_string(res.status) + " without an intent"};
    RenewalOutcome outcome{charge.subscription_id(), charge.period(), attempt, res.ok() && text(pi, "status") == "succeeded",
                           res.ok() ? "" : (res.code.empty() ? "card_declined" : res.code)};
    // Created or confirmed but neither paid nor refused (processing): the webhook settles the order.
    const bool settled = outcome.paid || !res.ok();
    if (settled)
        if (auto failed = record(outcome)) return *failed;
    auto done = record_completed(c, id, text(pi, "client_secret"));
    if (done.verdict == Verdict::done && !res.ok()) done.note = "refused: " + outcome.code;
    return done;
}

ProviderWorker::Result ProviderWorker::request_payout(const Call& c) {
    std::map<std::string, std::string> states;
    auto read = pool_.transact([&](sql::Tx& tx) { states = journal::read_states(tx, {order::stream_id(c.order_id)}); });
    if (!read) return {Verdict::retry, "", "", "database: " + read.error().message};
    auto order = parse_state<lifecycle::State>(states[order::stream_id(c.order_id)]);
    if (!order) return {Verdict::park, "", "", "no order " + c.order_id};
    OrderChange change{c.order_id, order::owner(*order),
                       lifecycle::RequestPayout{c.vendor_id, clock_(), options_.payout_delay_ms}, {}, {}};
    auto outcome = submit_and_wait(pipeline_, change_order(std::move(change)), c.key);
    if (std::holds_alternative<Reply>(outcome)) return {Verdict::done, "", "", ""};
    const auto& rej = std::get<Rejection>(outcome);
    // Already paid out (an admin asked first) or nothing left to pay (refunded): nothing to do.
    if (rej.code == "payout_exists" || rej.code == "nothing_to_pay") return {Verdict::done, "", "", rej.code};
    // Not due yet, a dispute open, storage away: ask again later.
    if (rej.kind == RejectionKind::state_forbids || rej.kind == RejectionKind::retry_later)
        return {Verdict::retry, "", "", rej.code + ": " + rej.detail};
    return {Verdict::park, "", "", rej.code + ": " + rej.detail};
}

void ProviderWorker::finish(const Call& c, const Result& r) {
    std::string verdict;
    int64_t delay_ms = 0;
    switch (r.verdict) {
        case Verdict::done:
            verdict = "done";
            break;
        case Verdict::wait:  // not an attempt: the call could not be made yet
            verdict = "wait";
            delay_ms = options_.retry_base_ms;
            break;
        case Verdict::retry:
            if (c.attempts < options_.attempts_max) {
                verdict = "retry";
                delay_ms = retry_delay_ms(c.attempts, options_.retry_base_ms, options_.retry_max_ms, c.key);
                break;
            }
            [[fallthrough]];
        case Verdict::park:
            verdict = "park";
            break;
    }
    metrics::global().counter("tally_provider_calls_total", "kind=\"" + c.kind + "\",outcome=\"" + verdict + "\"").add();
    if (verdict == "park")
        spdlog::error("provider call {} ({} for order {}) parked after {} attempt(s): {}", c.key, c.kind, c.order_id,
                      c.attempts, r.note);
    else if (verdict == "retry")
        spdlog::warn("provider call {} ({}) attempt {} failed: {}", c.key, c.kind, c.attempts, r.note);
    // Fenced: only the latest claim records its outcome. A worker paused past its lease
    // finds the row claimed again (or finished) and leaves it to that claim.
    bool recorded = false;
    auto record = [&] {
        return pool_.transact([&](sql::Tx& tx) {
            if (verdict == "done") recorded = provider_calls::record_done(tx, c, r.note, r.object_id, r.client_secret);
            else if (verdict == "wait") recorded = provider_calls::record_wait(tx, c, r.note, delay_ms);
            else if (verdict == "retry") recorded = provider_calls::record_retry(tx, c, r.note, delay_ms);
            else recorded = provider_calls::record_dead(tx, c, r.note);
        });
    };
    // The database away (a restart, a cut connection): the outcome is kept and written as
    // soon as it is back, for up to half the lease, so the call does not sit out the lease.
    auto written = record();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.lease_ms / 2);
    for (auto pause = std::chrono::milliseconds(100);
         !written && written.error().kind == sql::DbErrorKind::unavailable && !stopping_ &&
         std::chrono::steady_clock::now() + pause < give_up;
         pause = std::min(pause * 2, std::chrono::milliseconds(1000))) {
        std::this_thread::sleep_for(pause);
        written = record();
    }
    // Else the lease brings the row back; the provider's idempotency makes the repeat harmless.
    if (!written) spdlog::warn("provider call {}: cannot record the outcome: {}", c.key, written.error().message);
    else if (!recorded) {
        metrics::global().counter("tally_provider_calls_fenced_total").add();
        spdlog::warn("provider call {}: claim {} was superseded (this worker outlived its lease); its outcome is "
                     "left to the newer claim", c.key, c.claim);
    }
}

}  // namespace tally::commands
