// The socket layer alone (http/server.h) with handlers of the test's own: whatever a
// handler does, the server answers and keeps serving.
#include "http/server.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "http/client.h"

namespace tally::http {
namespace {

struct Running {
    Server server;
    explicit Running(Server::Handler h) : server(ServerOptions{.address = "127.0.0.1", .port = 0, .threads = 2, .body_bytes_max = 64 * 1024}, std::move(h)) {
        EXPECT_TRUE(server.start());
    }
};

}  // namespace

// The last resort of finding 1 of the hostile-input review: an exception that escapes a
// handler is a 500 naming the request, not the end of the process.
TEST(Server, AHandlerThatThrowsGetsA500AndTheServerKeepsServing) {
    Running s([](Request req, Respond respond) {
        if (req.target == "/throw") throw std::runtime_error("a bug");
        if (req.target == "/throw-int") throw 42;
        if (req.target == "/json") respond(Response{200, "application/json", nlohmann::json::parse("{").dump(), {}});  // throws
        respond(Response{200, "text/plain", "ok", {}});
    });
    Client c("127.0.0.1", s.server.port());
    for (const char* target : {"/throw", "/throw-int", "/json"}) {
        auto r = c.request("GET", target, "", {{"X-Request-Id", "trace-7"}});
        ASSERT_EQ(r.status, 500) << target;
        auto body = nlohmann::json::parse(r.body);
        EXPECT_EQ(body["title"], "internal_error");
        EXPECT_EQ(body["request_id"], "trace-7");
        EXPECT_EQ(r.headers["x-request-id"], "trace-7");
        EXPECT_EQ(r.body.find("a bug"), std::string::npos);  // the log has it, not the client
    }
    auto ok = c.request("GET", "/fine");
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.headers["cache-control"], "no-store");
    EXPECT_EQ(ok.headers["x-content-type-options"], "nosniff");
}

TEST(Server, AHandlerThatAnswersAndThenThrowsAnswersOnce) {
    Running s([](Request, Respond respond) {
        respond(Response{201, "text/plain", "done", {}});
        throw std::runtime_error("after the answer");
    });
    Client c("127.0.0.1", s.server.port());
    auto first = c.request("GET", "/x");
    EXPECT_EQ(first.status, 201);
    auto second = c.request("GET", "/y");  // same connection: no stray second answer queued
    EXPECT_EQ(second.status, 201);
    EXPECT_EQ(second.body, "done");
}

TEST(Server, AnOddRequestIdIsReplacedByOurs) {
    Running s([](Request req, Respond respond) { respond(Response{200, "text/plain", req.request_id, {}}); });
    Client c("127.0.0.1", s.server.port());
    EXPECT_EQ(c.request("GET", "/", "", {{"X-Request-Id", "abc-123"}}).body, "abc-123");
    auto spaced = c.request("GET", "/", "", {{"X-Request-Id", "has space"}});
    EXPECT_EQ(spaced.body.rfind("req-", 0), 0u) << spaced.body;
    auto long_id = c.request("GET", "/", "", {{"X-Request-Id", std::string(129, 'a')}});
    EXPECT_EQ(long_id.body.rfind("req-", 0), 0u);
}

}  // namespace tally::http
