// The subscription settings read from the environment: dunning's schedule and grace, and
// a clear refusal of values that would make no schedule.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>

#include "infra/config.h"

namespace tally {
namespace {

struct Env {
    const char* name;
    explicit Env(const char* n, const char* value) : name(n) { ::setenv(n, value, 1); }
    ~Env() { ::unsetenv(name); }
};

TEST(Config, DunningRetriesAreAscendingDaysAndTheGraceIsBounded) {
    EXPECT_EQ(config_from_env().dunning_retry_days, (std::vector<int64_t>{1, 3, 7}));
    EXPECT_EQ(config_from_env().dunning_grace_days, 7);
    {
        Env retries("TALLY_DUNNING_RETRY_DAYS", "2,5");
        Env grace("TALLY_DUNNING_GRACE_DAYS", "0");
        const auto c = config_from_env();
        EXPECT_EQ(c.dunning_retry_days, (std::vector<int64_t>{2, 5}));
        EXPECT_EQ(c.dunning_grace_days, 0);
    }
    for (const char* bad : {"3,1", "1,1", "0", "1,x", "61", "1,,2", "-1"}) {
        Env retries("TALLY_DUNNING_RETRY_DAYS", bad);
        try {
            config_from_env();
            ADD_FAILURE() << bad << " was accepted";
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find("TALLY_DUNNING_RETRY_DAYS"), std::string::npos) << e.what();
        }
    }
    Env grace("TALLY_DUNNING_GRACE_DAYS", "91");
    EXPECT_THROW(config_from_env(), std::invalid_argument);
}

TEST(Config, TheRenewalIntervalHasAFloor) {
    Env interval("TALLY_RENEWAL_INTERVAL_MS", "5");
    EXPECT_THROW(config_from_env(), std::invalid_argument);
}

}  // namespace
}  // namespace tally
