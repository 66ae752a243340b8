#pragma once
// A local fake of the PayPal API subset tally calls, over real HTTP: OAuth2 client
// credentials (/v1/oauth2/token), Payouts (/v1/payments/payouts, a sender_batch_id paid
// once, PayPal-Request-Id replayed), and webhook verification
// (/v1/notifications/verify-webhook-signature). Its webhooks carry the PAYPAL-* transmission
// headers with a signature only it can check, and are sent to tallyd until answered 2xx.
// Tests choose the outcome per receiver (paid, or the batch denied), return a paid item,
// and inject failures.

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tally::http {
class Server;
struct Request;
struct Response;
}  // namespace tally::http

namespace tally::testing {

class FakePayPal {
public:
    FakePayPal(std::string client_id, std::string client_secret, std::string webhook_id);
    ~FakePayPal();

    std::string base_url() const;
    void send_webhooks_to(int port);

    // Payouts to this receiver are denied (PAYMENT.PAYOUTSBATCH.DENIED).
    void deny(const std::string& receiver);
    // A paid item comes back (PAYMENT.PAYOUTS-ITEM.RETURNED).
    void return_item(const std::string& payout_batch_id);
    // The next `n` requests under the prefix answer `status` without being processed.
    void fail_next(const std::string& path_prefix, int n, int status);

    std::vector<nlohmann::json> batches() const;  // created, in order
    int requests(const std::string& path) const;  // how many came
    int tokens_issued() const;
    // Every token issued so far stops working (expired): the next call is 401.
    void expire_tokens();
    int delivered() const;  // webhooks tallyd answered 2xx

    // A webhook body and headers as PayPal would send them, signed or forged.
    struct Message {
        std::string body;
        std::map<std::string, std::string> headers;
    };
    Message sign(const nlohmann::json& event) const;

private:
    void handle(const http::Request& req, http::Response& res);
    void emit(const std::string& type, const nlohmann::json& resource);  // REQUIRES: mu_ held
    void send_loop();
    std::string signature(const std::string& transmission_id, const std::string& time, const std::string& event) const;

    std::string client_id_, client_secret_, webhook_id_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::set<std::string> tokens_, denied_;
    int issued_ = 0;
    std::map<std::string, nlohmann::json> batches_;            // payout_batch_id -> batch
    std::vector<std::string> batch_order_;
    std::map<std::string, std::string> by_sender_batch_;       // sender_batch_id -> payout_batch_id
    std::map<std::string, std::pair<int, std::string>> replies_;  // PayPal-Request-Id -> answer
    std::map<std::string, int> counts_;
    std::vector<std::tuple<std::string, int, int>> faults_;    // prefix, remaining, status
    std::deque<nlohmann::json> outbox_;
    int seq_ = 0;
    int webhook_port_ = 0;
    int delivered_ = 0;
    bool stopping_ = false;
    std::unique_ptr<http::Server> server_;
    std::thread sender_;
};

}  // namespace tally::testing
