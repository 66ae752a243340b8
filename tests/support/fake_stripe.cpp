#include "tests/support/fake_stripe.h"

#include <chrono>

#include "http/api.h"
#include "http/client.h"
#include "http/server.h"
#include "http/stripe.h"
#include "infra/strings.h"

namespace tally::testing {
namespace {

using nlohmann::json;

json error(const std::string& type, const std::string& message, const std::string& code = "") {
    json e = {{"type", type}, {"message", message}};
    if (!code.empty()) e["code"] = code;
    return {{"error", e}};
}

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Positive integer form field, or nothing.
std::optional<int64_t> amount(const std::map<std::string, std::string>& form, const std::string& name) {
    auto it = form.find(name);
    if (it == form.end() || it->second.empty() || it->second.find_first_not_of("0123456789") != std::string::npos ||
        it->second.size() > 15)
        return std::nullopt;
    const int64_t v = std::stoll(it->second);
    return v > 0 ? std::optional(v) : std::nullopt;
}

std::string field(const std::map<std::string, std::string>& form, const std::string& name) {
    auto it = form.find(name);
    return it == form.end() ? "" : it->second;
}

// metadata[k]=v fields as an object.
json metadata(const std::map<std::string, std::string>& form) {
    json md = json::object();
    for (const auto& [k, v] : form)
        if (k.rfind("metadata[", 0) == 0 && k.back() == ']') md[k.substr(9, k.size() - 10)] = v;
    return md;
}

}  // namespace

FakeStripe::FakeStripe(std::string secret_key, std::string webhook_secret)
    : secret_key_(std::move(secret_key)), webhook_secret_(std::move(webhook_secret)) {
    server_ = std::make_unique<http::Server>(http::ServerOptions{.address = "127.0.0.1", .port = 0, .threads = 8, .body_bytes_max = 1024 * 1024},
                                             [this](http::Request req, http::Respond respond) {
                                                 http::Response res;
                                                 handle(req, res);
                                                 respond(std::move(res));
                                             });
    if (!server_->start()) throw std::runtime_error("the fake provider cannot bind");
    sender_ = std::thread([this] { send_loop(); });
}

FakeStripe::~FakeStripe() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    sender_.join();
    server_->stop_accepting();
    server_->stop();
}

std::string FakeStripe::base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

void FakeStripe::send_webhooks_to(int port) {
    std::lock_guard lock(mu_);
    webhook_port_ = port;
    cv_.notify_all();
}

std::vector<FakeStripe::Seen> FakeStripe::requests(const std::string& prefix) const {
    std::lock_guard lock(mu_);
    std::vector<Seen> out;
    for (const auto& s : seen_)
        if (s.path.rfind(prefix, 0) == 0) out.push_back(s);
    return out;
}

void FakeStripe::fail_next(const std::string& prefix, int n, int status) {
    std::lock_guard lock(mu_);
    faults_.push_back({prefix, n, status});
}

void FakeStripe::lose_answers(const std::string& prefix, int n) {
    std::lock_guard lock(mu_);
    faults_.push_back({prefix, n, 0});
}

void FakeStripe::refuse(const std::string& prefix, int status) {
    std::lock_guard lock(mu_);
    std::erase_if(faults_, [&](const Fault& f) { return f.prefix == prefix && f.remaining < 0; });
    if (status) faults_.push_back({prefix, -1, status});
}

void FakeStripe::delay(const std::string& prefix, int ms) {
    std::lock_guard lock(mu_);
    if (ms > 0) delays_[prefix] = ms;
    else delays_.erase(prefix);
}

std::vector<json> FakeStripe::objects(const std::string& id_prefix) const {
    std::lock_guard lock(mu_);
    std::vector<json> out;
    for (const auto& id : order_)
        if (id.rfind(id_prefix, 0) == 0) out.push_back(objects_.at(id));
    return out;
}

std::optional<json> FakeStripe::object(const std::string& id) const {
    std::lock_guard lock(mu_);
    auto it = objects_.find(id);
    return it == objects_.end() ? std::nullopt : std::optional(it->second);
}

int FakeStripe::delivered() const {
    std::lock_guard lock(mu_);
    return delivered_;
}

bool FakeStripe::webhooks_idle() const {
    std::lock_guard lock(mu_);
    return outbox_.empty() && !sending_;
}

void FakeStripe::succeed(const std::string& intent_id) {
    std::lock_guard lock(mu_);
    charge(objects_.at(intent_id));
}

void FakeStripe::charge(json& pi) {
    const std::string charge = "ch_" + std::to_string(++seq_);
    objects_[charge] = {{"id", charge}, {"object", "charge"}, {"payment_intent", pi["id"]}, {"amount", pi["amount"]},
                        {"amount_refunded", 0}, {"currency", pi["currency"]}, {"metadata", json::object()}};
    order_.push_back(charge);
    pi["status"] = "succeeded";
    pi["amount_received"] = pi["amount"];
    pi["latest_charge"] = charge;
    pi.erase("last_payment_error");
    emit("payment_intent.succeeded", pi);
}

std::string FakeStripe::save_card() {
    std::lock_guard lock(mu_);
    return new_card();
}

std::string FakeStripe::new_card() {
    const std::string pm = "pm_" + std::to_string(++seq_);
    objects_[pm] = {{"id", pm}, {"object", "payment_method"}, {"type", "card"}};
    order_.push_back(pm);
    return pm;
}

void FakeStripe::card_outcome(const std::string& payment_method, const std::string& outcome) {
    std::lock_guard lock(mu_);
    card_outcomes_[payment_method] = outcome;
}

json FakeStripe::confirm(json& pi, const std::map<std::string, std::string>& form, int& status) {
    const std::string pm = field(form, "payment_method").empty() ? pi.value("payment_method", "") : field(form, "payment_method");
    auto known = objects_.find(pm);
    const bool test_card = pm.rfind("pm_card_", 0) == 0;  // Stripe's test-mode cards (pm_card_visa)
    if (!test_card && (pm.empty() || known == objects_.end() || known->second["object"] != "payment_method")) {
        status = 400;
        return error("invalid_request_error", "No such PaymentMethod: '" + pm + "'", "resource_missing");
    }
    if (pi["status"] == "succeeded" || pi["status"] == "canceled") {
        status = 400;
        return error("invalid_request_error",
                     "You cannot confirm this PaymentIntent because it has a status of " + pi["status"].get<std::string>() + ".",
                     "payment_intent_unexpected_state");
    }
    pi["payment_method"] = pm;
    if (field(form, "off_session") == "true") pi["off_session"] = true;
    const auto it = card_outcomes_.find(pm);
    const std::string outcome = it == card_outcomes_.end() ? "succeeded" : it->second;
    if (outcome == "succeeded") {
        charge(pi);
        return pi;
    }
    // Refused: the intent waits for another payment method (or the customer, on-session).
    const std::string message = outcome == "authentication_required"
                                    ? "Your card was declined. This transaction requires authentication."
                                    : "Your card was declined.";
    pi["status"] = "requires_payment_method";
    pi["last_payment_error"] = {{"type", "card_error"}, {"code", outcome}, {"message", message}, {"payment_method", {{"id", pm}}}};
    emit("payment_intent.payment_failed", pi);
    status = 402;
    json e = error("card_error", message, outcome);
    if (outcome == "card_declined") e["error"]["decline_code"] = "generic_decline";
    e["error"]["payment_intent"] = pi;
    return e;
}

std::string FakeStripe::dispute(const std::string& intent_id, int64_t disputed) {
    std::lock_guard lock(mu_);
    const auto& pi = objects_.at(intent_id);
    const std::string id = "dp_" + std::to_string(++seq_);
    objects_[id] = {{"id", id},          {"object", "dispute"},         {"amount", disputed},
                    {"currency", pi["currency"]}, {"charge", pi["latest_charge"]}, {"payment_intent", intent_id},
                    {"status", "needs_response"}, {"metadata", json::object()}};
    order_.push_back(id);
    emit("charge.dispute.created", objects_[id]);
    return id;
}

void FakeStripe::close_dispute(const std::string& dispute_id, const std::string& status) {
    std::lock_guard lock(mu_);
    auto& dp = objects_.at(dispute_id);
    dp["status"] = status;
    emit("charge.dispute.closed", dp);
}

void FakeStripe::reverse_transfer(const std::string& transfer_id) {
    std::lock_guard lock(mu_);
    auto& tr = objects_.at(transfer_id);
    tr["amount_reversed"] = tr["amount"];
    tr["reversed"] = true;
    emit("transfer.reversed", tr);
}

void FakeStripe::emit(const std::string& type, const json& object) {
    const json event = {{"id", "evt_" + std::to_string(++seq_)}, {"object", "event"}, {"type", type},
                        {"created", now_s()}, {"data", {{"object", object}}}};
    if (!chaos_) {
        outbox_.push_back(event.dump());
    } else {
        auto next = [this] {  // xorshift: reproducible from the seed
            chaos_state_ ^= chaos_state_ << 13;
            chaos_state_ ^= chaos_state_ >> 17;
            chaos_state_ ^= chaos_state_ << 5;
            return chaos_state_;
        };
        const uint32_t copies = 1 + next() % 3;
        for (uint32_t i = 0; i < copies; ++i) {
            // Never ahead of the copy being sent (the front while sending_).
            const size_t first = sending_ && !outbox_.empty() ? 1 : 0;
            const size_t at = first + next() % (outbox_.size() - first + 1);
            outbox_.insert(outbox_.begin() + static_cast<std::ptrdiff_t>(at), event.dump());
        }
    }
    cv_.notify_all();
}

void FakeStripe::chaotic_delivery(uint32_t seed) {
    std::lock_guard lock(mu_);
    chaos_ = true;
    chaos_state_ = seed ? seed : 1;
}

void FakeStripe::send_loop() {
    std::unique_ptr<http::Client> client;
    int port = 0;
    while (true) {
        std::string body;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || (webhook_port_ && !outbox_.empty()); });
            if (stopping_) return;
            body = outbox_.front();
            sending_ = true;
            if (port != webhook_port_) {
                port = webhook_port_;
                client = std::make_unique<http::Client>("127.0.0.1", port);
            }
        }
        // Like Stripe: retried until tallyd answers 2xx (here quickly, and in order).
        for (int attempt = 1;; ++attempt) {
            const int64_t t = now_s();
            auto r = client->request("POST", "/v1/webhooks/stripe", body,
                                     {{"Stripe-Signature", "t=" + std::to_string(t) + ",v1=" +
                                                               http::stripe::sign_v1(webhook_secret_, t, body)}});
            {
                std::lock_guard lock(mu_);
                if (r.status >= 200 && r.status < 300) {
                    ++delivered_;
                    outbox_.pop_front();
                    sending_ = false;
                    break;
                }
                if (stopping_) return;
                if (webhook_port_ && port != webhook_port_) {  // tallyd moved (a restart): follow it
                    port = webhook_port_;
                    client = std::make_unique<http::Client>("127.0.0.1", port);
                }
            }
            // Not holding the lock: the API answers while deliveries back off.
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * attempt, 1000)));
        }
    }
}

void FakeStripe::handle(const http::Request& req, http::Response& res) {
    std::map<std::string, std::string> form;
    for (auto pair : split(req.body, '&')) {
        const size_t eq = pair.find('=');
        auto k = form_decode(pair.substr(0, eq));
        auto v = form_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (k && v) form[*k] = *v;
    }
    const std::string path = req.target.substr(0, req.target.find('?'));
    auto header = [&](const char* name) {
        auto it = req.headers.find(name);
        return it == req.headers.end() ? std::string() : it->second;
    };
    const std::string key = header("idempotency-key");
    int wait_ms = 0;
    {
        std::lock_guard lock(mu_);
        for (const auto& [prefix, ms] : delays_)
            if (path.rfind(prefix, 0) == 0) wait_ms = std::max(wait_ms, ms);
    }
    if (wait_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
    std::lock_guard lock(mu_);
    Seen seen{req.method, path, key, form, 0, false};
    auto answer = [&](int status, const json& body) {
        res.status = status;
        res.body = body.dump();
        seen.status = status;
        seen_.push_back(seen);
    };
    if (header("authorization") != "Bearer " + secret_key_)
        return answer(401, error("invalid_request_error", "Invalid API Key provided"));
    if (req.method != "POST") return answer(405, error("invalid_request_error", "only POST here"));
    bool lose = false;
    for (auto& f : faults_) {
        if (path.rfind(f.prefix, 0) != 0 || f.remaining == 0) continue;
        if (f.remaining > 0) --f.remaining;
        if (f.status == 0) {
            lose = true;
            break;
        }
        return answer(f.status, error("api_error", "injected failure " + std::to_string(f.status)));
    }
    // Stripe's idempotency: the same key and request get the first answer again.
    const std::string fingerprint = path + "\n" + req.body;
    if (!key.empty())
        if (auto it = idempotent_.find(key); it != idempotent_.end()) {
            if (it->second.first != fingerprint)
                return answer(400, error("idempotency_error",
                                         "Keys for idempotent requests can only be used with the same parameters"));
            seen.replayed = true;
            res.headers.emplace_back("Idempotent-Replayed", "true");
            answer(it->second.second.first, json::parse(it->second.second.second));
            return;
        }
    int status = 200;
    const json body = create(path, form, status);
    if (!key.empty() && status != 500) idempotent_[key] = {fingerprint, {status, body.dump()}};
    if (lose) return answer(502, error("api_error", "the answer was lost on the way"));
    answer(status, body);
}

json FakeStripe::create(const std::string& path, const std::map<std::string, std::string>& form, int& status) {
    auto refuse = [&](int s, const std::string& message, const std::string& code = "") {
        status = s;
        return error("invalid_request_error", message, code);
    };
    if (path == "/v1/payment_intents") {
        auto a = amount(form, "amount");
        if (!a) return refuse(400, "amount must be a positive integer");
        if (field(form, "currency").size() != 3) return refuse(400, "currency must be a 3-letter code");
        const std::string id = "pi_" + std::to_string(++seq_);
        objects_[id] = {{"id", id},
                        {"object", "payment_intent"},
                        {"amount", *a},
                        {"amount_received", 0},
                        {"currency", field(form, "currency")},
                        {"status", "requires_payment_method"},
                        {"client_secret", id + "_secret_" + std::to_string(seq_ * 7919)},
                        {"transfer_group", field(form, "transfer_group")},
                        {"metadata", metadata(form)}};
        if (!field(form, "customer").empty()) objects_[id]["customer"] = field(form, "customer");
        order_.push_back(id);
        if (field(form, "confirm") == "true") return confirm(objects_[id], form, status);
        return objects_[id];
    }
    if (path.rfind("/v1/payment_intents/", 0) == 0 && path.ends_with("/confirm")) {
        const std::string id = path.substr(20, path.size() - 20 - 8);
        auto it = objects_.find(id);
        if (it == objects_.end()) return refuse(404, "No such payment_intent: '" + id + "'");
        return confirm(it->second, form, status);
    }
    if (path == "/v1/setup_intents") {  // the storefront saves a card (confirmed at once here)
        const std::string pm = new_card();
        const std::string id = "seti_" + std::to_string(++seq_);
        objects_[id] = {{"id", id},
                        {"object", "setup_intent"},
                        {"status", "succeeded"},
                        {"usage", field(form, "usage").empty() ? "off_session" : field(form, "usage")},
                        {"payment_method", pm},
                        {"client_secret", id + "_secret_" + std::to_string(seq_ * 7919)},
                        {"metadata", metadata(form)}};
        if (!field(form, "customer").empty()) objects_[id]["customer"] = field(form, "customer");
        order_.push_back(id);
        return objects_[id];
    }
    if (path.rfind("/v1/payment_intents/", 0) == 0 && path.ends_with("/cancel")) {
        const std::string id = path.substr(20, path.size() - 20 - 7);
        auto it = objects_.find(id);
        if (it == objects_.end()) return refuse(404, "No such payment_intent: '" + id + "'");
        if (it->second["status"] == "succeeded" || it->second["status"] == "canceled")
            return refuse(400,
                          "You cannot cancel this PaymentIntent because it has a status of " +
                              it->second["status"].get<std::string>() + ".",
                          "payment_intent_unexpected_state");
        it->second["status"] = "canceled";
        it->second["cancellation_reason"] = field(form, "cancellation_reason");
        emit("payment_intent.canceled", it->second);
        return it->second;
    }
    if (path == "/v1/refunds") {
        auto it = objects_.find(field(form, "payment_intent"));
        if (it == objects_.end()) return refuse(404, "No such payment_intent: '" + field(form, "payment_intent") + "'");
        auto& pi = it->second;
        if (pi["status"] != "succeeded") return refuse(400, "This PaymentIntent has no successful charge to refund.");
        auto& charge = objects_.at(pi["latest_charge"].get<std::string>());
        const int64_t left = charge["amount"].get<int64_t>() - charge["amount_refunded"].get<int64_t>();
        const int64_t a = form.contains("amount") ? amount(form, "amount").value_or(-1) : left;
        if (a <= 0 || a > left)
            return refuse(400, "Refund amount (" + std::to_string(a) + ") is greater than unrefunded amount (" +
                                   std::to_string(left) + ")");
        const std::string id = "re_" + std::to_string(++seq_);
        objects_[id] = {{"id", id},       {"object", "refund"},        {"amount", a},
                        {"charge", charge["id"]}, {"payment_intent", pi["id"]}, {"currency", pi["currency"]},
                        {"status", "succeeded"},  {"metadata", metadata(form)}};
        order_.push_back(id);
        charge["amount_refunded"] = charge["amount_refunded"].get<int64_t>() + a;
        charge["refunded"] = charge["amount_refunded"] == charge["amount"];
        emit("charge.refunded", charge);
        return objects_[id];
    }
    if (path == "/v1/transfers") {
        auto a = amount(form, "amount");
        if (!a) return refuse(400, "amount must be a positive integer");
        if (field(form, "destination").rfind("acct_", 0) != 0)
            return refuse(400, "No such destination: '" + field(form, "destination") + "'");
        const std::string id = "tr_" + std::to_string(++seq_);
        objects_[id] = {{"id", id},
                        {"object", "transfer"},
                        {"amount", *a},
                        {"currency", field(form, "currency")},
                        {"destination", field(form, "destination")},
                        {"transfer_group", field(form, "transfer_group")},
                        {"metadata", metadata(form)}};
        order_.push_back(id);
        emit("transfer.created", objects_[id]);
        return objects_[id];
    }
    return refuse(404, "Unrecognized request URL (POST: " + path + ")");
}

}  // namespace tally::testing
