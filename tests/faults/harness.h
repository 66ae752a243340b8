#pragma once
// The fault harness (issue 17): a shop of one or more tallyd processes on one PostgreSQL
// and one broker, a mixed load driven over HTTP (credit grants; checkouts contending for
// scarce stock and for a coupon with a usage limit; the provider's signed webhooks,
// delivered 1-3 times and out of order; refunds), every answer recorded, and the
// invariants every fault test ends with (check_invariants).

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "infra/kafka.h"
#include "infra/sql.h"
#include "tests/support/fake_stripe.h"
#include "tests/support/support.h"

namespace tally::faults {

// One request as the client finally saw it, after retrying with the same key.
struct Answer {
    std::string principal, key, method, target;
    int status = 0;  // 0: never answered definitively (the client gave up)
    std::string body;
};

struct StackOptions {
    int nodes = 1;
    // Host the broker in this process (kafka::MockCluster, 3 brokers) so a test can hurt it;
    // else a tally-broker process.
    bool broker_in_process = false;
    std::map<std::string, std::string> env;  // on top of the harness's own
    std::string pg_admin_url;                 // the cluster to make a fresh database on; empty: the tests' shared one
    uint32_t seed = 1;
};

// Stock and coupons the checkouts contend for.
inline constexpr int64_t kRareStock = 12;
inline constexpr int64_t kCouponUses = 6;
inline constexpr int kCustomers = 60;
// Lamp carts hold 1..kLampQuantities lamps, so a customer's carts differ (the same cart
// twice within minutes is answered as a double click).
inline constexpr int kLampQuantities = 9;

struct WithFake {
    testing::FakeStripe fake;
    WithFake();
};

class Stack : public WithFake {
public:
    explicit Stack(StackOptions options);
    ~Stack();

    std::string url;
    std::unique_ptr<kafka::MockCluster> mock;  // when broker_in_process
    std::unique_ptr<testing::Broker> broker;   // else
    std::string brokers;
    std::unique_ptr<sql::Pool> pool;
    std::vector<std::unique_ptr<testing::Tallyd>> nodes;
    std::string admin;
    std::vector<std::string> customer_tokens;  // customer c{i}
    std::map<std::string, int64_t> totals;     // cart name (sku x quantity [+FEW]) -> the server's total (from /v1/quote)

    // Sends with retries (same key) until an answer that is not a transport failure, 502,
    // 503 or 504 and not a 500, or until `patience` runs out; the answer is recorded.
    Answer send(const std::string& principal, const std::string& method, const std::string& target,
                const nlohmann::json& body, const std::string& token, const std::string& key,
                std::chrono::seconds patience = std::chrono::seconds(90));
    nlohmann::json get(const std::string& target);  // as admin, at any node up; null when none answers

    void kill(size_t node);     // SIGKILL; marked down
    void restart(size_t node);  // started again (new port); webhooks follow a live node
    bool up(size_t node) const;
    int live_port();            // a node that is up (0: none)

    std::vector<Answer> answers() const;
    std::map<int, int> transient() const;  // answers retried, by status (0: no answer)
    int64_t number(const std::string& query);
    std::string text(const std::string& query);

private:
    void setup_catalog();
    StackOptions options_;
    mutable std::mutex mu_;
    std::vector<bool> down_;
    std::vector<Answer> answers_;
    std::map<int, int> transient_;
};

// The mixed load: threads of grants, checkouts, payments (the fake provider's customer
// pays an acknowledged order's intent) and refunds of paid orders, until stop().
class Load {
public:
    Load(Stack& stack, uint32_t seed);
    ~Load();
    void start();
    void stop();  // waits for every thread
    size_t acknowledged() const { return acked_.load(); }

private:
    void grants(int thread);
    void checkouts(int thread);
    void payments();
    void refunds();

    Stack& s_;
    uint32_t seed_;
    std::atomic<bool> stop_{false};
    std::atomic<size_t> acked_{0};
    std::mutex mu_;
    std::vector<std::string> orders_;           // acknowledged, by card
    std::set<std::string> paid_;                // orders whose intent the customer paid
    std::vector<std::thread> threads_;
};

// Each projector's progress (the sum of its partitions' checkpoints), and whether every
// projector has applied something since `since`.
std::map<std::string, int64_t> projected(Stack& s);
bool all_moved(Stack& s, const std::map<std::string, int64_t>& since);

// One line of what the load has done so far, for the test's log.
void progress(Stack& s, const Load& load, const std::string& phase);

// Waits until every projector and the relay hold the journal's head and the provider's
// webhooks are delivered, then checks (with gtest assertions) that:
//  - every acknowledged command is in the journal exactly once (one transaction) and its
//    stored answer is the one the client got; nothing unacknowledged is half-written
//    (a command has its idempotency record if and only if it has events);
//  - every chain verifies and positions have no gaps (tally-replay verify);
//  - Kafka holds the journal exactly: each position once, with the journal's hash;
//  - every projection equals a fresh rebuild; tally-replay reconcile is clean;
//  - the ledger balances per currency;
//  - no stock unit is held twice and none is missing; no coupon is used beyond its limit.
void check_invariants(Stack& s);

}  // namespace tally::faults
