// The provider adapter's pure parts: base URLs, form encoding (and the fake's decoding),
// which answers are worth retrying, and the retry schedule.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "commands/provider_worker.h"
#include "infra/stripe_api.h"
#include "infra/strings.h"

namespace tally {
namespace {

TEST(StripeApi, ParsesBaseUrls) {
    auto real = stripe_api::parse_base("https://api.stripe.com");
    ASSERT_TRUE(real);
    EXPECT_TRUE(real->tls);
    EXPECT_EQ(real->host, "api.stripe.com");
    EXPECT_EQ(real->port, "443");
    EXPECT_EQ(real->base_path, "");
    auto local = stripe_api::parse_base("http://127.0.0.1:12111/stripe/");
    ASSERT_TRUE(local);
    EXPECT_FALSE(local->tls);
    EXPECT_EQ(local->host, "127.0.0.1");
    EXPECT_EQ(local->port, "12111");
    EXPECT_EQ(local->base_path, "/stripe");
    EXPECT_FALSE(stripe_api::parse_base("ftp://x"));
    EXPECT_FALSE(stripe_api::parse_base("http://"));
    EXPECT_FALSE(stripe_api::parse_base("http://host:port"));
}

TEST(StripeApi, EncodesFormsAsStripeExpects) {
    EXPECT_EQ(stripe_api::encode_form({{"amount", "4500"}, {"metadata[order_id]", "o-1.x_y~"}, {"note", "a b&c=d/é"}}),
              "amount=4500&metadata%5Border_id%5D=o-1.x_y~&note=a+b%26c%3Dd%2F%C3%A9");
    EXPECT_EQ(form_decode("metadata%5Border_id%5D"), "metadata[order_id]");
    EXPECT_EQ(form_decode("a+b%2f"), "a b/");
    EXPECT_FALSE(form_decode("%4"));
    EXPECT_FALSE(form_decode("%zz"));
}

RC_GTEST_PROP(StripeApi, FormDecodingInvertsEncoding, (const std::string& s)) {
    RC_ASSERT(form_decode(form_encode(s)) == s);
}

TEST(StripeApi, RetriesOnlyWhatMayChange) {
    for (int s : {0, 409, 429, 500, 502, 503}) {
        EXPECT_TRUE((stripe_api::Result{s, "", "", ""}.retryable())) << s;
    }
    for (int s : {200, 400, 401, 402, 403, 404}) {
        EXPECT_FALSE((stripe_api::Result{s, "", "", ""}.retryable())) << s;
    }
}

TEST(ProviderWorker, RetryDelaysDoubleUpToTheCap) {
    // Without jitter the delays would be 100, 200, 400, 800, 1000, 1000...; jitter takes off up to a quarter.
    const int64_t expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int a = 1; a <= 7; ++a) {
        const int64_t d = commands::retry_delay_ms(a, 100, 1000, "refund-x");
        EXPECT_LE(d, expected[a - 1]) << a;
        EXPECT_GE(d, expected[a - 1] * 3 / 4) << a;
    }
}

RC_GTEST_PROP(ProviderWorker, RetryDelaysStayWithinBounds, (const std::string& key)) {
    const int attempts = *rc::gen::inRange(1, 200);
    const int64_t base = *rc::gen::inRange<int64_t>(1, 100000);
    const int64_t max = base * *rc::gen::inRange<int64_t>(1, 10000);
    const int64_t d = commands::retry_delay_ms(attempts, base, max, key);
    int64_t plain = base;
    for (int i = 1; i < attempts && plain < max; ++i) plain *= 2;
    plain = std::min(plain, max);
    RC_ASSERT(d <= plain);
    RC_ASSERT(d >= plain - plain / 4);
    RC_ASSERT(d >= 1);
}

}  // namespace
}  // namespace tally
