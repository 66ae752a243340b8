// The load generator tally-bench measures with (http/load.h), against a server of the
// test's own: every request and every flow step is counted once, a flow's next request
// is built from the answer before it, and a poll's delay is kept.
#include "http/load.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

#include "http/server.h"

namespace tally::http {
namespace {

// A counter per path: POST /n/{k} answers 201 with k+1; GET /n/{k} answers 200 with the
// count of POSTs so far for k.
struct CountingServer {
    std::mutex mu;
    std::map<std::string, int> posts;
    std::atomic<int> requests{0};
    Server server{ServerOptions{.address = "127.0.0.1", .port = 0, .threads = 2, .body_bytes_max = 64 * 1024},
                  [this](Request req, Respond respond) {
                      ++requests;
                      std::lock_guard lock(mu);
                      if (req.method == "POST") {
                          respond(Response{201, "text/plain", std::to_string(++posts[req.target]), {}});
                          return;
                      }
                      respond(Response{200, "text/plain", std::to_string(posts[req.target]), {}});
                  }};
    CountingServer() { EXPECT_TRUE(server.start()); }
};

// POST twice, then poll until the server says 2.
class PostTwiceThenPoll : public Flow {
public:
    PostTwiceThenPoll(std::string target, std::vector<std::string>& seen) : target_(std::move(target)), seen_(seen) {}
    std::optional<FlowStep> next(const LoadAnswer* last) override {
        if (last) seen_.push_back(std::to_string(last->status) + ":" + last->body);
        if (!last || (last->status == 201 && last->body == "1")) return FlowStep{{"POST", target_, "", {}}, "post", {}};
        if (last->status == 201 || (last->status == 200 && last->body != "2"))
            return FlowStep{{"GET", target_, "", {}}, "poll", std::chrono::milliseconds(2)};
        return std::nullopt;
    }

private:
    std::string target_;
    std::vector<std::string>& seen_;
};

}  // namespace

TEST(Load, EveryRequestIsSentOnceAndCounted) {
    CountingServer s;
    std::set<std::string> targets;
    std::mutex mu;
    auto r = run_load("127.0.0.1", s.server.port(), 8, 2, 500, [&](int64_t i) {
        std::lock_guard lock(mu);
        targets.insert("/n/" + std::to_string(i));
        return LoadRequest{"POST", "/n/" + std::to_string(i), "", {}};
    });
    EXPECT_EQ(targets.size(), 500u);
    EXPECT_EQ(r.latencies_ms.size(), 500u);
    EXPECT_EQ(r.statuses, (std::map<int, int64_t>{{201, 500}}));
    EXPECT_EQ(s.requests.load(), 500);
    for (const auto& [target, n] : s.posts) EXPECT_EQ(n, 1) << target;
}

TEST(Load, AFlowBuildsEachRequestFromTheAnswerBeforeIt) {
    CountingServer s;
    constexpr int kFlows = 40;
    std::vector<std::vector<std::string>> seen(kFlows);  // each index is written by one connection
    const auto started = std::chrono::steady_clock::now();
    auto r = run_flows("127.0.0.1", s.server.port(), 4, 2, kFlows, [&](int64_t i) {
        return std::make_unique<PostTwiceThenPoll>("/n/" + std::to_string(i), seen[static_cast<size_t>(i)]);
    });
    const auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_EQ(r.flow_ms.size(), static_cast<size_t>(kFlows));
    EXPECT_EQ(r.statuses["post"], (std::map<int, int64_t>{{201, 2 * kFlows}}));
    EXPECT_EQ(r.statuses["poll"], (std::map<int, int64_t>{{200, kFlows}}));  // the second POST is in before the poll
    for (const auto& s_ : seen) EXPECT_EQ(s_, (std::vector<std::string>{"201:1", "201:2", "200:2"}));
    // Each flow waited 2 ms before its poll, and a connection runs its flows one after another.
    EXPECT_GE(elapsed, std::chrono::milliseconds(2 * kFlows / 4));
    for (double ms : r.flow_ms) EXPECT_GE(ms, 2.0);
}

TEST(Load, MakeMayStopHandingOutFlows) {
    CountingServer s;
    std::vector<std::vector<std::string>> seen(30);
    auto r = run_flows("127.0.0.1", s.server.port(), 3, 1, 1'000'000, [&](int64_t i) -> std::unique_ptr<Flow> {
        if (i >= 30) return nullptr;
        return std::make_unique<PostTwiceThenPoll>("/stop/" + std::to_string(i), seen[static_cast<size_t>(i)]);
    });
    EXPECT_EQ(r.flow_ms.size(), 30u);
    EXPECT_EQ(s.posts.size(), 30u);
    for (const auto& [target, n] : s.posts) EXPECT_EQ(n, 2) << target;
}

TEST(Load, ARefusedConnectionIsCountedAsStatusZero) {
    int port = 0;
    {
        CountingServer s;
        port = s.server.port();
    }  // closed: nothing listens there now
    auto r = run_load("127.0.0.1", port, 2, 1, 10, [](int64_t) { return LoadRequest{"GET", "/", "", {}}; });
    EXPECT_EQ(r.statuses, (std::map<int, int64_t>{{0, 2}}));
    EXPECT_TRUE(r.latencies_ms.empty());
}

}  // namespace tally::http
