// The metrics registry: a gauge read while another thread, holding the lock that gauge
// needs, counts something. /metrics once hung a whole tallyd this way: rendering held
// the registry's lock while a gauge waited for a projector's lock, and the projector,
// holding it, waited for the registry's lock to count a batch.
#include "infra/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace tally::metrics {
namespace {

TEST(Metrics, AGaugeThatWaitsForALockDoesNotBlockCountingMeanwhile) {
    Registry registry;
    std::mutex owner;  // the projector's
    registry.gauge("tally_owned", "", [&] {
        std::lock_guard lock(owner);
        return 1.0;
    });
    std::unique_lock held(owner);  // the projector applies a batch...
    auto rendering = std::async(std::launch::async, [&] { return registry.render(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // ...while /metrics reads the gauge...
    auto counting = std::async(std::launch::async, [&] { registry.counter("tally_batches_total").add(); });
    // ...and, still holding its lock, counts the batch: this must not wait for the render.
    const bool counted = counting.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    held.unlock();
    EXPECT_TRUE(counted) << "counting waited for a render that waited for the counter's owner";
    counting.wait();
    const std::string text = rendering.get();
    EXPECT_NE(text.find("tally_owned 1"), std::string::npos) << text;
    EXPECT_NE(registry.render().find("tally_batches_total 1"), std::string::npos);
}

}  // namespace
}  // namespace tally::metrics
