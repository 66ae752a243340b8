#pragma once
// A local fake of the Stripe API subset tally calls, over real HTTP (the same Beast
// server tallyd uses): PaymentIntents (create, confirm, cancel; off-session charges of a
// saved card), SetupIntents (saving a card), Refunds, Transfers, with
// bearer-key auth and Idempotency-Key replay as Stripe does it. It keeps the objects,
// records every request, and sends signed webhooks to tallyd (retried until 2xx) when
// its objects change. Tests inject failures: answers before processing (the request
// never happened), lost answers after processing (it did), and refusals.

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tally::http {
class Server;
struct Request;
struct Response;
}  // namespace tally::http

namespace tally::testing {

class FakeStripe {
public:
    FakeStripe(std::string secret_key, std::string webhook_secret);
    ~FakeStripe();

    std::string base_url() const;
    // Webhooks go to this tallyd from now on (events raised earlier are queued); 0 holds
    // them (a provider that is slow to deliver) until a port is given again.
    void send_webhooks_to(int port);

    struct Seen {
        std::string method, path, idempotency_key;
        std::map<std::string, std::string> form;
        int status = 0;
        bool replayed = false;
    };
    std::vector<Seen> requests(const std::string& path_prefix = "") const;

    // The next `n` requests under the prefix answer `status` without being processed.
    void fail_next(const std::string& path_prefix, int n, int status);
    // The next `n` requests under the prefix are processed (and their answer kept for the
    // key), but the caller gets a 502 as if the connection dropped.
    void lose_answers(const std::string& path_prefix, int n);
    // Every request under the prefix is refused with `status` (0: stop refusing).
    void refuse(const std::string& path_prefix, int status);
    // Every request under the prefix waits `ms` before it is processed (0: no more waiting):
    // a provider that answers late, or one that hangs past the caller's timeout and still
    // does the work (the caller's retry with the same key then gets the first answer).
    void delay(const std::string& path_prefix, int ms);

    // Objects by id prefix ("pi_", "re_", "tr_"), in creation order.
    std::vector<nlohmann::json> objects(const std::string& id_prefix) const;
    std::optional<nlohmann::json> object(const std::string& id) const;

    // The customer pays: the intent succeeds (a charge is made) and payment_intent.succeeded is sent.
    void succeed(const std::string& intent_id);

    // A card saved as the storefront does it (a SetupIntent confirmed with the card): its
    // payment method's id. Off-session charges to it succeed until told otherwise.
    std::string save_card();
    // What charging a payment method off-session does from now on: "succeeded",
    // "card_declined" or "authentication_required" (both 402, the intent named in the error).
    void card_outcome(const std::string& payment_method, const std::string& outcome);
    // The cardholder disputes: charge.dispute.created (naming only the intent and the charge).
    std::string dispute(const std::string& intent_id, int64_t amount);
    // The dispute ends ("won" or "lost"): charge.dispute.closed.
    void close_dispute(const std::string& dispute_id, const std::string& status);
    // The platform takes a transfer back in full: transfer.reversed.
    void reverse_transfer(const std::string& transfer_id);

    // From now on every event is delivered 1 to 3 times, each copy queued at a random place
    // among those waiting (so out of order), as a provider does after timeouts and retries.
    void chaotic_delivery(uint32_t seed);

    // Webhook deliveries tallyd answered 2xx; and whether none is waiting.
    int delivered() const;
    bool webhooks_idle() const;

private:
    struct Fault {
        std::string prefix;
        int remaining;  // -1: always
        int status;     // 0: lose the answer
    };
    void handle(const http::Request& req, http::Response& res);
    nlohmann::json create(const std::string& path, const std::map<std::string, std::string>& form, int& status);
    void emit(const std::string& type, const nlohmann::json& object);  // REQUIRES: mu_ held
    void charge(nlohmann::json& intent);                                // REQUIRES: mu_ held
    std::string new_card();                                             // REQUIRES: mu_ held
    // Confirms an intent with a payment method (create with confirm=true, or /confirm).
    nlohmann::json confirm(nlohmann::json& intent, const std::map<std::string, std::string>& form, int& status);  // REQUIRES: mu_ held
    void send_loop();

    std::string secret_key_, webhook_secret_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, nlohmann::json> objects_;
    std::vector<std::string> order_;  // ids in creation order
    std::map<std::string, std::pair<std::string, std::pair<int, std::string>>> idempotent_;  // key -> (request, answer)
    std::vector<Seen> seen_;
    std::vector<Fault> faults_;
    std::map<std::string, int> delays_;  // prefix -> milliseconds
    std::map<std::string, std::string> card_outcomes_;  // payment method -> outcome
    std::deque<std::string> outbox_;  // event bodies
    int seq_ = 0;
    int webhook_port_ = 0;
    int delivered_ = 0;
    bool sending_ = false;
    bool stopping_ = false;
    bool chaos_ = false;
    uint32_t chaos_state_ = 0;
    std::unique_ptr<http::Server> server_;
    std::thread sender_;
};

}  // namespace tally::testing
