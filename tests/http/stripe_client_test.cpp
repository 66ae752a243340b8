// The provider adapter over real sockets: against the fake provider, a provider that
// never answers (the deadline holds), and nobody listening.
#include "http/stripe_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "tests/support/fake_stripe.h"
#include "tests/support/support.h"

namespace tally::http {
namespace {

stripe_api::Endpoint local(int port) { return *stripe_api::parse_base("http://127.0.0.1:" + std::to_string(port)); }

TEST(StripeClient, CreatesAndReplaysAgainstTheFakeProvider) {
    testing::FakeStripe fake("sk_test_client", "whsec_unused");
    StripeClient client(*stripe_api::parse_base(fake.base_url()), "sk_test_client");
    const stripe_api::Form form{{"amount", "4500"}, {"currency", "usd"}, {"metadata[order_id]", "ord 1/é"}};
    auto first = client.post("/v1/payment_intents", form, "intent-ord-1");
    ASSERT_EQ(first.status, 200) << first.error;
    const auto pi = nlohmann::json::parse(first.body);
    EXPECT_EQ(pi["amount"], 4500);
    EXPECT_EQ(pi["metadata"]["order_id"], "ord 1/é");  // encoded and decoded intact
    auto again = client.post("/v1/payment_intents", form, "intent-ord-1");
    EXPECT_EQ(nlohmann::json::parse(again.body)["id"], pi["id"]);
    EXPECT_EQ(fake.objects("pi_").size(), 1u);
    auto seen = fake.requests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].idempotency_key, "intent-ord-1");
    EXPECT_TRUE(seen[1].replayed);
    // A refusal is final and explained; a wrong key is refused the same way.
    auto refused = client.post("/v1/refunds", {{"payment_intent", pi["id"]}, {"amount", "100"}}, "refund-1");
    EXPECT_EQ(refused.status, 400);
    EXPECT_FALSE(refused.retryable());
    EXPECT_NE(refused.error.find("no successful charge"), std::string::npos) << refused.error;
    StripeClient wrong(*stripe_api::parse_base(fake.base_url()), "sk_test_forged");
    auto denied = wrong.post("/v1/payment_intents", form, "intent-ord-2");
    EXPECT_EQ(denied.status, 401);
    EXPECT_EQ(denied.error, "HTTP 401: Invalid API Key provided");
}

TEST(StripeClient, ADeadlineBoundsAProviderThatNeverAnswers) {
    // Listening, never accepting: the connection completes in the backlog, no answer comes.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 8), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    StripeClient client(local(ntohs(addr.sin_port)), "sk", std::chrono::milliseconds(300));
    const auto started = std::chrono::steady_clock::now();
    auto r = client.post("/v1/transfers", {{"amount", "1"}}, "payout-x");
    const auto took = std::chrono::steady_clock::now() - started;
    ::close(fd);
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.retryable());
    EXPECT_NE(r.error.find("no answer from 127.0.0.1"), std::string::npos) << r.error;
    EXPECT_LT(took, std::chrono::seconds(10));  // bounded, not hung (generous: the machine is shared)
}

TEST(StripeClient, NobodyListeningIsRetryable) {
    StripeClient client(local(testing::free_port()), "sk", std::chrono::milliseconds(500));
    auto r = client.post("/v1/refunds", {{"amount", "1"}}, "refund-x");
    EXPECT_EQ(r.status, 0);
    EXPECT_TRUE(r.retryable());
}

}  // namespace
}  // namespace tally::http
