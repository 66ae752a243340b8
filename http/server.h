#pragma once
// The HTTP/1.1 server (Boost.Beast): keep-alive connections, a body size limit,
// request ids, request metrics; hands every request to a handler (the Api, or a
// test's fake provider).

#include <functional>
#include <memory>
#include <string>

#include "http/api.h"

namespace tally::http {

struct ServerOptions {
    std::string address = "127.0.0.1";
    int port = 8080;  // 0: any free port (see Server::port())
    int threads = 2;
    size_t body_bytes_max = 64 * 1024;
};

class Server {
public:
    using Handler = std::function<void(Request, Respond)>;  // answers exactly once, from any thread
    Server(ServerOptions options, Handler handler);
    Server(ServerOptions options, Api& api);
    ~Server();
    // Binds and starts the I/O threads; false (and a log line) if it cannot bind.
    bool start();
    // Stops accepting new connections; connections already open keep being served.
    void stop_accepting();
    // Stops the I/O threads (after stop_accepting and draining the pipeline).
    void stop();
    int port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::http
