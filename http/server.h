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
    // Handlers run off the I/O threads, on two bounded pools (http/README.md, Threading):
    // reads (GET but /healthz and /metrics, and POST /v1/quote) on `read_threads`, every
    // other request on `write_threads`; when a pool's threads are busy and its queue is
    // full, the next request for it is answered 503 overloaded. 0 threads: that kind runs
    // on the I/O threads.
    int read_threads = 4;
    size_t read_queue = 256;
    int write_threads = 2;
    size_t write_queue = 1024;
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
