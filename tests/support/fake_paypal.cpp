#include "tests/support/fake_paypal.h"

#include <chrono>

#include "events/envelope.h"
#include "http/api.h"
#include "http/client.h"
#include "http/server.h"

namespace tally::testing {
namespace {

using nlohmann::json;

constexpr const char* kSigningKey = "the fake PayPal's own signing key";

json error(const std::string& name, const std::string& message, const std::string& issue = "") {
    json e = {{"name", name}, {"message", message}, {"debug_id", "fake"}};
    if (!issue.empty()) e["details"] = json::array({{{"issue", issue}}});
    return e;
}


std::string text(const json& o, const char* k) {
    auto it = o.find(k);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

FakePayPal::FakePayPal(std::string client_id, std::string client_secret, std::string webhook_id)
    : client_id_(std::move(client_id)), client_secret_(std::move(client_secret)), webhook_id_(std::move(webhook_id)) {
    server_ = std::make_unique<http::Server>(http::ServerOptions{.address = "127.0.0.1", .port = 0, .threads = 2, .body_bytes_max = 1024 * 1024},
                                             [this](http::Request req, http::Respond respond) {
                                                 http::Response res;
                                                 handle(req, res);
                                                 respond(std::move(res));
                                             });
    if (!server_->start()) throw std::runtime_error("the fake PayPal cannot bind");
    sender_ = std::thread([this] { send_loop(); });
}

FakePayPal::~FakePayPal() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    sender_.join();
    server_->stop_accepting();
    server_->stop();
}

std::string FakePayPal::base_url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

void FakePayPal::send_webhooks_to(int port) {
    std::lock_guard lock(mu_);
    webhook_port_ = port;
    cv_.notify_all();
}

void FakePayPal::deny(const std::string& receiver) {
    std::lock_guard lock(mu_);
    denied_.insert(receiver);
}

void FakePayPal::fail_next(const std::string& prefix, int n, int status) {
    std::lock_guard lock(mu_);
    faults_.emplace_back(prefix, n, status);
}

std::vector<json> FakePayPal::batches() const {
    std::lock_guard lock(mu_);
    std::vector<json> out;
    for (const auto& id : batch_order_) out.push_back(batches_.at(id));
    return out;
}

int FakePayPal::requests(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(path);
    return it == counts_.end() ? 0 : it->second;
}

int FakePayPal::tokens_issued() const {
    std::lock_guard lock(mu_);
    return issued_;
}

void FakePayPal::expire_tokens() {
    std::lock_guard lock(mu_);
    tokens_.clear();
}

int FakePayPal::delivered() const {
    std::lock_guard lock(mu_);
    return delivered_;
}

std::string FakePayPal::signature(const std::string& transmission_id, const std::string& time,
                                  const std::string& event) const {
    return events::base64(events::hmac_sha256(kSigningKey, transmission_id + "|" + time + "|" + webhook_id_ + "|" + event));
}

FakePayPal::Message FakePayPal::sign(const json& event) const {
    const std::string body = event.dump();
    const std::string id = "tx-" + text(event, "id");
    const std::string time = "2026-12-02T12:00:00Z";
    return {body,
            {{"PAYPAL-TRANSMISSION-ID", id},
             {"PAYPAL-TRANSMISSION-TIME", time},
             {"PAYPAL-TRANSMISSION-SIG", signature(id, time, body)},
             {"PAYPAL-CERT-URL", base_url() + "/v1/notifications/certs/CERT-fake"},
             {"PAYPAL-AUTH-ALGO", "SHA256withRSA"},
             {"Content-Type", "application/json"}}};
}

void FakePayPal::emit(const std::string& type, const json& resource) {
    outbox_.push_back({{"id", "WH-" + std::to_string(++seq_)},
                       {"event_version", "1.0"},
                       {"create_time", "2026-12-02T12:00:00Z"},
                       {"resource_type", type.rfind("PAYMENT.PAYOUTSBATCH.", 0) == 0 ? "payouts" : "payouts_item"},
                       {"event_type", type},
                       {"summary", type},
                       {"resource", resource}});
    cv_.notify_all();
}

void FakePayPal::return_item(const std::string& batch_id) {
    std::lock_guard lock(mu_);
    auto& batch = batches_.at(batch_id);
    auto& item = batch["items"][0];
    item["transaction_status"] = "RETURNED";
    emit("PAYMENT.PAYOUTS-ITEM.RETURNED", item);
}

void FakePayPal::handle(const http::Request& req, http::Response& res) {
    const std::string path = req.target.substr(0, req.target.find('?'));
    auto header = [&](const char* name) {
        auto it = req.headers.find(name);
        return it == req.headers.end() ? std::string() : it->second;
    };
    std::lock_guard lock(mu_);
    ++counts_[path];
    auto answer = [&](int status, const json& body) {
        res.status = status;
        res.body = body.dump();
    };
    for (auto& [prefix, remaining, status] : faults_) {
        if (path.rfind(prefix, 0) != 0 || remaining == 0) continue;
        --remaining;
        return answer(status, error("INTERNAL_SERVICE_ERROR", "injected failure " + std::to_string(status)));
    }
    if (req.method != "POST") return answer(405, error("METHOD_NOT_SUPPORTED", "only POST here"));
    if (path == "/v1/oauth2/token") {
        if (header("authorization") != "Basic " + events::base64(client_id_ + ":" + client_secret_))
            return answer(401, {{"error", "invalid_client"}, {"error_description", "Client Authentication failed"}});
        if (req.body != "grant_type=client_credentials")
            return answer(400, {{"error", "unsupported_grant_type"}, {"error_description", "grant_type"}});
        const std::string token = "A21AA-fake-" + std::to_string(++seq_);
        tokens_.insert(token);
        ++issued_;
        return answer(200, {{"scope", "https://uri.paypal.com/services/payouts"}, {"access_token", token},
                            {"token_type", "Bearer"}, {"expires_in", 32400}});
    }
    const std::string auth = header("authorization");
    if (auth.rfind("Bearer ", 0) != 0 || !tokens_.contains(auth.substr(7)))
        return answer(401, error("AUTHENTICATION_FAILURE", "Authentication failed due to invalid authentication credentials"));
    const auto body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return answer(400, error("MALFORMED_REQUEST", "the body is not JSON"));
    if (path == "/v1/notifications/verify-webhook-signature") {
        const bool ok = text(body, "webhook_id") == webhook_id_ && body.contains("webhook_event") &&
                        text(body, "cert_url").rfind(base_url() + "/", 0) == 0 &&
                        text(body, "auth_algo") == "SHA256withRSA" &&
                        text(body, "transmission_sig") ==
                            signature(text(body, "transmission_id"), text(body, "transmission_time"),
                                      body["webhook_event"].dump());
        return answer(200, {{"verification_status", ok ? "SUCCESS" : "FAILURE"}});
    }
    if (path != "/v1/payments/payouts") return answer(404, error("RESOURCE_NOT_FOUND", "no such resource " + path));
    // PayPal-Request-Id: the same request id gets the first answer again.
    const std::string request_id = header("paypal-request-id");
    if (auto it = replies_.find(request_id); !request_id.empty() && it != replies_.end()) {
        res.status = it->second.first;
        res.body = it->second.second;
        return;
    }
    const std::string sender_batch = body.contains("sender_batch_header") ? text(body["sender_batch_header"], "sender_batch_id") : "";
    if (sender_batch.empty() || !body.contains("items") || !body["items"].is_array() || body["items"].size() != 1)
        return answer(400, error("VALIDATION_ERROR", "sender_batch_id and one item are required"));
    if (auto it = by_sender_batch_.find(sender_batch); it != by_sender_batch_.end()) {
        json e = error("USER_BUSINESS_ERROR", "Batch with given sender_batch_id already exists",
                       "SENDER_BATCH_ID_ALREADY_USED");
        e["links"] = json::array({{{"href", base_url() + "/v1/payments/payouts/" + it->second}, {"rel", "self"}, {"method", "GET"}}});
        return answer(400, e);
    }
    const json& in = body["items"][0];
    const std::string receiver = text(in, "receiver");
    const std::string batch_id = "PB" + std::to_string(++seq_);
    const bool denied = denied_.contains(receiver);
    json item = {{"payout_item_id", "PI" + std::to_string(++seq_)},
                 {"transaction_id", denied ? "" : "TX" + std::to_string(seq_)},
                 {"transaction_status", denied ? "DENIED" : "SUCCESS"},
                 {"payout_batch_id", batch_id},
                 {"payout_item", {{"recipient_type", "EMAIL"}, {"amount", in["amount"]}, {"receiver", receiver},
                                  {"sender_item_id", text(in, "sender_item_id")}}}};
    json header_out = {{"payout_batch_id", batch_id},
                       {"batch_status", "PENDING"},
                       {"sender_batch_header", body["sender_batch_header"]}};
    batches_[batch_id] = {{"batch_header", header_out}, {"items", json::array({item})}};
    batch_order_.push_back(batch_id);
    by_sender_batch_[sender_batch] = batch_id;
    const json created = {{"batch_header", header_out},
                          {"links", json::array({{{"href", base_url() + "/v1/payments/payouts/" + batch_id}, {"rel", "self"}}})}};
    if (!request_id.empty()) replies_[request_id] = {201, created.dump()};
    // Processed at once: the batch's outcome and its item's.
    json done = header_out;
    done["batch_status"] = denied ? "DENIED" : "SUCCESS";
    batches_[batch_id]["batch_header"] = done;
    if (denied) {
        emit("PAYMENT.PAYOUTSBATCH.DENIED", {{"batch_header", done}});
    } else {
        emit("PAYMENT.PAYOUTSBATCH.SUCCESS", {{"batch_header", done}});
        emit("PAYMENT.PAYOUTS-ITEM.SUCCEEDED", item);
    }
    answer(201, created);
}

void FakePayPal::send_loop() {
    std::unique_ptr<http::Client> client;
    int port = 0;
    while (true) {
        json event;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || (webhook_port_ && !outbox_.empty()); });
            if (stopping_) return;
            event = outbox_.front();
            if (port != webhook_port_) {
                port = webhook_port_;
                client = std::make_unique<http::Client>("127.0.0.1", port);
            }
        }
        const Message m = sign(event);
        // Like PayPal: sent again until tallyd answers 2xx.
        for (int attempt = 1;; ++attempt) {
            auto r = client->request("POST", "/v1/webhooks/paypal", m.body, m.headers);
            std::lock_guard lock(mu_);
            if (r.status >= 200 && r.status < 300) {
                ++delivered_;
                outbox_.pop_front();
                break;
            }
            if (stopping_) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * attempt, 1000)));
        }
    }
}

}  // namespace tally::testing
