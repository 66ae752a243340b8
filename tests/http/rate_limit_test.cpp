// Rate limits without a server: the configuration, the token bucket, the classes apart.
#include <gtest/gtest.h>

#include "http/rate_limit.h"

namespace tally::http {
namespace {

TEST(RateLimits, TheConfigurationNamesWhatIsWrong) {
    auto l = RateLimits::parse("", "read=10/20", "write=5/5,webhook=60/120", "storefront:read=100/200;admin:write=7/14");
    ASSERT_TRUE(l) << l.error();
    EXPECT_TRUE(l->enabled);
    EXPECT_EQ(l->store, "memory");
    EXPECT_EQ(l->principal.at(RateClass::read).per_second, 10);
    EXPECT_EQ(l->principal.at(RateClass::write).per_second, 500) << "the default stays where nothing is said";
    EXPECT_EQ(l->address.at(RateClass::webhook).burst, 120);
    EXPECT_EQ(l->roles.at("storefront").at(RateClass::read).burst, 200);
    EXPECT_FALSE(RateLimits::parse("off", "", "", "")->enabled);
    EXPECT_EQ(RateLimits::parse("postgres", "", "", "")->store, "postgres");
    for (auto [mode, principals, addresses, roles] : std::vector<std::array<const char*, 4>>{
             {"redis", "", "", ""},
             {"", "read=10", "", ""},
             {"", "read=-1/5", "", ""},
             {"", "read=10/0.5", "", ""},
             {"", "reads=10/20", "", ""},
             {"", "webhook=100/200", "", ""},  // the webhook's budget is the address's alone
             {"", "", "webhook=10/20", ""},     // under the floor: the providers' retries
             {"", "", "", "storefront"},
         })
        EXPECT_FALSE(RateLimits::parse(mode, principals, addresses, roles))
            << mode << " | " << principals << " | " << addresses << " | " << roles;
    EXPECT_NE(RateLimits::parse("", "", "webhook=10/20", "").error().find("never throttled"), std::string::npos);
}

TEST(RateLimits, ABucketRefillsAtItsRateUpToItsBurst) {
    RateLimits l = *RateLimits::parse("memory", "read=2/3,write=1/1", "read=1000/1000,write=1000/1000", "");
    RateLimiter limiter(l, memory_store());
    int64_t now = 1'000'000;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.check(RateClass::read, "c1", "customer", "10.0.0.1", now).allowed) << i;
    auto refused = limiter.check(RateClass::read, "c1", "customer", "10.0.0.1", now);
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.policy, "principal-read");
    EXPECT_DOUBLE_EQ(refused.retry_after_s, 0.5);  // 2 per second: one token in half a second
    EXPECT_TRUE(limiter.check(RateClass::read, "c2", "customer", "10.0.0.1", now).allowed) << "another principal's bucket";
    EXPECT_TRUE(limiter.check(RateClass::write, "c1", "customer", "10.0.0.1", now).allowed) << "writes have their own";
    EXPECT_FALSE(limiter.check(RateClass::read, "c1", "customer", "10.0.0.1", now + 400).allowed);
    EXPECT_TRUE(limiter.check(RateClass::read, "c1", "customer", "10.0.0.1", now + 500).allowed);
    // A long pause refills to the burst, not beyond.
    now += 60'000;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.check(RateClass::read, "c1", "customer", "", now).allowed) << i;
    EXPECT_FALSE(limiter.check(RateClass::read, "c1", "customer", "", now).allowed);
}

TEST(RateLimits, RolesOverrideAndAddressesLimitTheAnonymous) {
    RateLimits l = *RateLimits::parse("memory", "write=1/1", "write=1/2", "storefront:write=100/100");
    RateLimiter limiter(l, memory_store());
    const int64_t now = 5'000;
    EXPECT_TRUE(limiter.check(RateClass::write, "", "", "10.0.0.9", now).allowed);
    EXPECT_TRUE(limiter.check(RateClass::write, "", "", "10.0.0.9", now).allowed);
    auto v = limiter.check(RateClass::write, "", "", "10.0.0.9", now);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(v.policy, "address-write");
    for (int i = 0; i < 50; ++i)
        ASSERT_TRUE(limiter.check(RateClass::write, "shop-1", "storefront", "10.0.0." + std::to_string(i + 10), now).allowed) << i;
    // A customer keeps the principals' budget: one write, then none.
    EXPECT_TRUE(limiter.check(RateClass::write, "c", "customer", "", now).allowed);
    EXPECT_FALSE(limiter.check(RateClass::write, "c", "customer", "", now).allowed);
}

TEST(RateLimits, AFailingStoreLetsRequestsThrough) {
    struct Broken final : BucketStore {
        std::expected<Taken, std::string> take(const std::string&, const Budget&, int64_t) override {
            return std::unexpected(std::string("connection refused"));
        }
    };
    RateLimiter limiter(*RateLimits::parse("postgres", "write=1/1", "", ""), std::make_unique<Broken>());
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.check(RateClass::write, "c", "customer", "", 1000).allowed) << i;
}

}  // namespace
}  // namespace tally::http
