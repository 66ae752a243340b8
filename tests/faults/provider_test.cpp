// The payment provider hurt under the mixed load: it answers late, it hangs past tallyd's
// call timeout (and still does the work, so the retry with the same key must get the first
// answer back and not a second object), and it answers 500 to everything until the calls
// run out of attempts. Checkouts and webhooks go on all the while; the dead letters fill,
// and drain once an admin retries them over HTTP. Ends with every invariant, and with one
// provider object per call key.

#include <gtest/gtest.h>

#include "http/client.h"
#include "tests/faults/harness.h"

namespace tally::faults {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kTimeoutMs = 800;

size_t intents(Stack& s) { return s.fake.objects("pi_").size(); }

// The load keeps being acknowledged during a phase: checkouts do not wait for the provider.
void load_goes_on(Stack& s, Load& load, const std::string& phase, std::chrono::seconds length) {
    const size_t acked = load.acknowledged();
    std::this_thread::sleep_for(length);
    progress(s, load, phase);
    EXPECT_GT(load.acknowledged(), acked + 20) << "the load stalled while the provider was " << phase;
}

std::vector<json> dead_letters(Stack& s) {
    json d = s.get("/v1/operator/dead-letters?limit=1000");
    std::vector<json> out;
    if (d.is_object())
        for (const auto& x : d["dead_letters"]) out.push_back(x);
    return out;
}

TEST(Faults, SlowProvidersLateHungAndFailingNeverDoubleAChargeAndTheirDeadLettersDrainOnRetry) {
    Stack s({.nodes = 2,
             .broker_in_process = false,
             .env = {{"TALLY_PROVIDER_TIMEOUT_MS", std::to_string(kTimeoutMs)}, {"TALLY_PROVIDER_ATTEMPTS_MAX", "4"}},
             .pg_admin_url = "",
             .seed = 17});
    Load load(s, 17);
    load.start();
    load_goes_on(s, load, "warm", 4s);

    // Late: every answer takes half the timeout. Calls still complete, one at a time slower.
    s.fake.delay("/v1/", kTimeoutMs / 2);
    const size_t before_late = intents(s);
    load_goes_on(s, load, "late", 6s);
    EXPECT_GT(intents(s), before_late) << "no intent was made while the provider was late";

    // Hung: answers come after the caller gave up, yet the work is done. The retries
    // (same key) must find it, so no order gets a second PaymentIntent.
    s.fake.delay("/v1/", kTimeoutMs * 3);
    load_goes_on(s, load, "hung", 8s);
    s.fake.delay("/v1/", 0);
    // Failing: 500 to everything until calls run out of their 4 attempts (the dead letters
    // fill) while checkouts and webhooks for intents made earlier keep flowing.
    s.fake.refuse("/v1/", 500);
    ASSERT_TRUE(testing::eventually([&] { return dead_letters(s).size() >= 10; }, 60s))
        << "the dead letters did not fill: " << dead_letters(s).size();
    load_goes_on(s, load, "failing", 3s);
    s.fake.refuse("/v1/", 0);
    load.stop();

    // Drain: an admin retries every dead letter over HTTP until none is left.
    const auto filled = dead_letters(s);
    std::printf("[faults] dead letters filled to %zu\n", filled.size());
    int retried = 0;
    ASSERT_TRUE(testing::eventually(
        [&] {
            for (const auto& d : dead_letters(s)) {
                // Not through Stack::send: a retry of a letter already back in the queue
                // is answered 200 without a command, so it has no record to check.
                const std::string id = std::to_string(d["id"].get<int64_t>());
                http::Client c("127.0.0.1", s.live_port());
                auto r = c.request("POST", "/v1/operator/dead-letters/" + id + "/retry",
                                   json{{"reason", "the provider is back"}}.dump(),
                                   {{"Authorization", "Bearer " + s.admin}, {"Idempotency-Key", "retry-" + id}});
                EXPECT_TRUE(r.status == 201 || r.status == 200) << r.status << " " << r.body;
                ++retried;
            }
            return dead_letters(s).empty() && s.number("SELECT count(*) FROM provider_calls WHERE status <> 'done'") == 0;
        },
        120s))
        << "dead letters left: " << dead_letters(s).size() << ", calls not done: "
        << s.number("SELECT count(*) FROM provider_calls WHERE status <> 'done'");
    // A retry after a hang carries the same key: the provider answers it from its
    // idempotency store (the hung request did the work after the caller gave up).
    size_t replayed = 0;
    for (const auto& r : s.fake.requests("/v1/")) replayed += r.replayed;
    std::printf("[faults] requests the provider answered from its idempotency store: %zu\n", replayed);
    EXPECT_GT(replayed, 0u) << "no call was retried after timing out: the hang did not bite";
    std::printf("[faults] %d retries drained them; provider calls: %lld, all done\n", retried,
                static_cast<long long>(s.number("SELECT count(*) FROM provider_calls")));
    EXPECT_GE(retried, static_cast<int>(filled.size()));

    // One provider object per call, however often the call was sent: an order's intent
    // and a refund (its key). (The load pays no vendor out, so it makes no transfers.)
    auto once_each = [&](const std::string& prefix, const std::vector<std::string>& fields) {
        std::map<std::string, int> seen;
        for (const auto& o : s.fake.objects(prefix)) {
            std::string k;
            for (const auto& f : fields) k += o["metadata"].value(f, "?") + "/";
            ++seen[k];
        }
        for (const auto& [k, n] : seen) EXPECT_EQ(n, 1) << prefix << " " << k << " made " << n << " times";
        std::printf("[faults] %s objects: %zu, each once\n", prefix.c_str(), seen.size());
        return seen.size();
    };
    EXPECT_GT(once_each("pi_", {"order_id"}), 0u);
    EXPECT_GT(once_each("re_", {"refund_id"}), 0u);
    check_invariants(s);
}

}  // namespace
}  // namespace tally::faults
