// The metrics registry: a gauge read while another thread, holding the lock that gauge
// needs, counts something. /metrics once hung a whole tallyd this way: rendering held
// the registry's lock while a gauge waited for a projector's lock, and the projector,
// holding it, waited for the registry's lock to count a batch.
#include "infra/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
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

// A gauge's owner drops its gauges when it goes: a render afterwards does not call into
// it (found by a relay test: a destroyed pipeline's gauge was read, and hung), a render in
// progress finishes before the drop returns, and a gauge registered again by a newer owner
// under the same name stays.
TEST(Metrics, DroppedGaugesAreNotReadAndANewerOwnersGaugeStays) {
    Registry registry;
    int first = 0, second = 0;
    std::atomic<int> reads_of_first{0};
    registry.gauge("tally_queue", "", [&] { ++reads_of_first; return 1.0; }, &first);
    registry.gauge("tally_depth", "", [] { return 2.0; }, &first);
    EXPECT_NE(registry.render().find("tally_queue 1"), std::string::npos);
    registry.gauge("tally_depth", "", [] { return 3.0; }, &second);  // a newer owner of the same gauge
    registry.drop_gauges(&first);
    const int reads = reads_of_first;
    const std::string text = registry.render();
    EXPECT_EQ(reads_of_first, reads);
    EXPECT_EQ(text.find("tally_queue"), std::string::npos) << text;
    EXPECT_NE(text.find("tally_depth 3"), std::string::npos) << text;

    // A drop waits for a render that is reading the gauge.
    std::mutex gate;
    std::unique_lock held(gate);
    registry.gauge("tally_slow", "", [&] { std::lock_guard l(gate); return 4.0; }, &first);
    auto rendering = std::async(std::launch::async, [&] { return registry.render(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the render is in the gauge
    auto dropping = std::async(std::launch::async, [&] { registry.drop_gauges(&first); });
    EXPECT_EQ(dropping.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
    held.unlock();
    EXPECT_NE(rendering.get().find("tally_slow 4"), std::string::npos);
    dropping.get();
    EXPECT_EQ(registry.render().find("tally_slow"), std::string::npos);
}

// A family described but not yet counted is named from the first scrape (rules and
// dashboards over it see it exists), once, and a counted one is not named twice.
TEST(Metrics, AFamilyWithoutSamplesIsStillDescribed) {
    Registry registry;
    registry.help("tally_failed_total", "counter", "Batches that failed");
    registry.help("tally_done_total", "counter", "Batches done");
    registry.counter("tally_done_total", "kind=\"a\"").add();
    const std::string text = registry.render();
    EXPECT_NE(text.find("# HELP tally_failed_total Batches that failed\n# TYPE tally_failed_total counter\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("\ntally_failed_total"), std::string::npos) << "a sample nothing counted: " << text;
    EXPECT_EQ(text.find("# TYPE tally_done_total"), text.rfind("# TYPE tally_done_total")) << text;
    EXPECT_NE(text.find("tally_done_total{kind=\"a\"} 1"), std::string::npos) << text;
}

}  // namespace
}  // namespace tally::metrics
