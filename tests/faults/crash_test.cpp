// Crashes under the mixed load: two tallyd processes on one PostgreSQL and one broker,
// 20 SIGKILLs at random moments once every projector applies again (the load never
// pauses, so kills land in batches, in the relay's publishing and in the projectors'
// applies), the clients retrying with the same
// Idempotency-Keys wherever a process is up. Then every invariant (harness.h).

#include <gtest/gtest.h>

#include <random>

#include "tests/faults/harness.h"

namespace tally::faults {
namespace {

TEST(Faults, TwentyKillsOfTwoProcessesUnderMixedLoadKeepEveryInvariant) {
    const uint32_t seed = 20261204;
    StackOptions options;
    options.nodes = 2;
    options.seed = seed;
    Stack s(options);
    Load load(s, seed);
    load.start();
    std::mt19937 rng(seed);
    int kills = 0, both = 0;
    for (int cycle = 0; cycle < 20; ++cycle) {
        const size_t before = load.acknowledged();
        const auto since = projected(s);
        // Some acknowledged work and every projector applying again since the last restart
        // (their consumer group has settled), then a random moment: the kill lands while
        // batches commit, the relay publishes and the projectors apply.
        ASSERT_TRUE(testing::eventually([&] { return load.acknowledged() >= before + 10 && all_moved(s, since); },
                                        std::chrono::seconds(90)))
            << "the load or the projectors stalled in cycle " << cycle;
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 800));
        const size_t victim = rng() % 2;
        s.kill(victim);
        ++kills;
        // Every fifth cycle the other one dies too: nobody serves until a restart, and
        // the relay's and projectors' ownership moves on a cold start.
        const bool kill_both = cycle % 5 == 4;
        if (kill_both) {
            s.kill(1 - victim);
            ++kills;
            ++both;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 500));
        s.restart(victim);
        if (kill_both) s.restart(1 - victim);
        if (cycle % 5 == 4) progress(s, load, "cycle " + std::to_string(cycle + 1));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    load.stop();
    std::printf("crash cycles: 20 (%d SIGKILLs, %d with both processes down), %zu acknowledged\n", kills, both,
                load.acknowledged());
    check_invariants(s);
}

}  // namespace
}  // namespace tally::faults
