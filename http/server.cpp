#include "http/server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <thread>

#include "http/handler_pool.h"
#include "http/routes.h"
#include "infra/metrics.h"
#include "infra/strings.h"
#include "infra/threads.h"

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Handler = Server::Handler;

std::atomic<uint64_t> g_request_seq{0};


// The methods the API knows; any other token is answered 501 and counted under "other",
// so a client inventing methods cannot grow the metrics without bound.
std::string method_label(bhttp::verb v) {
    switch (v) {
        case bhttp::verb::get: return "GET";
        case bhttp::verb::head: return "HEAD";
        case bhttp::verb::post: return "POST";
        case bhttp::verb::put: return "PUT";
        case bhttp::verb::patch: return "PATCH";
        case bhttp::verb::delete_: return "DELETE";
        case bhttp::verb::options: return "OPTIONS";
        default: return "other";
    }
}

// A request id from the client is kept when it is short printable ASCII; otherwise ours.
std::string request_id_for(const std::map<std::string, std::string>& headers) {
    auto rid = headers.find("x-request-id");
    if (rid != headers.end() && !rid->second.empty() && rid->second.size() <= 128 && printable_ascii(rid->second))
        return rid->second;
    return fmt::format("req-{:x}-{}", static_cast<uint64_t>(::getpid()), ++g_request_seq);
}

// What the header alone says is wrong with a request, before its body is read: an
// unknown method, a target that is not printable ASCII, a header value that is not
// UTF-8 text, or a body framing other than plain Content-Length or a final "chunked"
// alone (anything else could be read differently by a proxy in front: smuggling).
struct HeaderFault {
    int status;
    std::string code, detail, field;
};

std::optional<HeaderFault> check_header(const bhttp::request_parser<bhttp::string_body>& parser) {
    const auto& req = parser.get();
    if (method_label(req.method()) == "other")
        return HeaderFault{501, "method_not_implemented", "the method is not one this server implements", ""};
    const auto target = req.target();
    if (target.empty() || target.front() != '/' || target.size() > 4096 || !printable_ascii(target))
        return HeaderFault{400, "malformed_http",
                           "the request target must be a path of at most 4096 printable ASCII characters "
                           "(percent-encode anything else)", ""};
    for (const auto& field : req) {
        if (!valid_utf8(field.value()) || has_control(field.value(), true))
            return HeaderFault{400, "invalid_header",
                               "header " + std::string(field.name_string()) +
                                   " must be UTF-8 text without control characters",
                               std::string(field.name_string())};
    }
    if (req.count(bhttp::field::transfer_encoding) > 0) {
        std::string te(req[bhttp::field::transfer_encoding]);
        for (auto& c : te) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.pop_back();
        while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.erase(te.begin());
        if (req.count(bhttp::field::transfer_encoding) > 1 || te != "chunked")
            return HeaderFault{400, "unsupported_transfer_encoding",
                               "Transfer-Encoding must be exactly \"chunked\" (or absent, with Content-Length)",
                               "Transfer-Encoding"};
        if (req.count(bhttp::field::content_length) > 0)
            return HeaderFault{400, "malformed_http", "a request may not carry both Transfer-Encoding and Content-Length",
                               "Content-Length"};
    }
    return std::nullopt;
}

// Where a request's handler runs. Health and metrics answer from memory on the I/O
// thread, so they answer under any load; reads (which may wait on the database as long as
// it makes them) on the read pool; the rest (commands, webhooks: quick checks and reads,
// then a hand-over to the write pipeline) on the write pool, so neither kind can starve
// the other or the sockets.
enum class Lane { io, read, write };

Lane lane_of(const Request& r) {
    const std::string path = r.target.substr(0, r.target.find('?'));
    if (path == "/healthz" || path == "/metrics") return Lane::io;
    if (r.method == "GET" || (r.method == "POST" && path == "/v1/quote")) return Lane::read;
    return Lane::write;
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, const Handler& handler, HandlerPool* reads, HandlerPool* writes, size_t body_max,
            std::atomic<int>& open)
        : stream_(std::move(socket)), handler_(handler), reads_(reads), writes_(writes), body_max_(body_max), open_(open) {
        beast::error_code ec;
        const auto remote = stream_.socket().remote_endpoint(ec);
        if (!ec) peer_ = remote.address().to_string();
        ++open_;
    }
    ~Session() { --open_; }

    void start() {
        net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
    }

private:
    std::string peer_;  // the client's address, for per-address rate limits
    static bool closed(beast::error_code ec) {
        return ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
               ec == net::error::connection_reset || ec == net::error::eof;
    }

    void read() {
        parser_.emplace();
        parser_->body_limit(body_max_);
        parser_->header_limit(16 * 1024);
        stream_.expires_after(std::chrono::seconds(60));
        bhttp::async_read_header(stream_, buffer_, *parser_,
                                 [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
    }

    // Answers a request the server refuses by itself, and closes the connection after it:
    // what follows on the wire cannot be trusted to start a new request.
    void refuse(int status, const std::string& code, const std::string& detail, const std::string& field = "") {
        keep_alive_ = false;
        auto res = problem(status, code, detail, field, fmt::format("req-{:x}-{}", static_cast<uint64_t>(::getpid()),
                                                                     ++g_request_seq));
        count(res.status, "other", "other", 0.0);
        write(std::move(res));
    }

    void on_header(beast::error_code ec) {
        if (closed(ec)) return close();
        if (ec == bhttp::error::body_limit)
            return refuse(413, "body_too_large", "the request body exceeds " + std::to_string(body_max_) + " bytes");
        if (ec) return refuse(400, "malformed_http", ec.message());
        if (auto fault = check_header(*parser_)) return refuse(fault->status, fault->code, fault->detail, fault->field);
        bhttp::async_read(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    static void count(int status, const std::string& route, const std::string& method, double seconds) {
        auto& m = metrics::global();
        m.counter("tally_http_requests_total",
                  fmt::format("route=\"{}\",method=\"{}\",status=\"{}\"", route, method, status)).add();
        m.histogram("tally_http_request_seconds", fmt::format("route=\"{}\"", route), metrics::latency_buckets())
            .observe(seconds);
    }

    void on_read(beast::error_code ec) {
        if (closed(ec)) return close();
        if (ec == bhttp::error::body_limit)
            return refuse(413, "body_too_large", "the request body exceeds " + std::to_string(body_max_) + " bytes");
        if (ec) return refuse(400, "malformed_http", ec.message());
        auto req = parser_->release();
        keep_alive_ = req.keep_alive();
        Request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        for (const auto& field : req) {
            std::string name(field.name_string());
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.headers[name] = std::string(field.value());
        }
        r.body = std::move(req.body());
        r.request_id = request_id_for(r.headers);
        r.peer = peer_;
        const auto started = std::chrono::steady_clock::now();
        // Matched once: the metrics' label here, the dispatch in the API.
        r.route = match_route(r.method, r.target);
        const std::string route = r.route ? std::string(r.route->pattern) : route_pattern(r.method, r.target);
        const std::string method = method_label(req.method());
        const std::string request_id = r.request_id;
        // Exactly one answer per request: the handler's, or the last-resort one below.
        auto answered = std::make_shared<std::atomic<bool>>(false);
        Respond respond = [self = shared_from_this(), started, route, method, request_id, answered](Response res) {
            if (answered->exchange(true)) return;
            res.headers.emplace_back("X-Request-Id", request_id);
            net::post(self->stream_.get_executor(), [self, res = std::move(res), started, route, method,
                                                     request_id]() mutable {
                const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                count(res.status, route, method, seconds);
                if (res.status >= 500)
                    spdlog::warn("request_id={} method={} route={} status={} seconds={:.6f} body={}", request_id,
                                 method, route, res.status, seconds, res.body);
                else
                    spdlog::debug("request_id={} method={} route={} status={} seconds={:.6f}", request_id, method,
                                  route, res.status, seconds);
                self->write(std::move(res));
            });
        };
        // The last resort: nothing a request carries may take the process down. A handler
        // that throws is a bug; the client gets a 500 naming the request, the log the rest.
        const Lane lane = lane_of(r);
        HandlerPool* pool = lane == Lane::read ? reads_ : lane == Lane::write ? writes_ : nullptr;
        auto run = [&handler = handler_, r = std::move(r), respond, request_id, method, route]() mutable {
            try {
                handler(std::move(r), respond);
            } catch (const std::exception& e) {
                spdlog::error("request_id={} method={} route={}: unhandled exception: {}", request_id, method, route,
                              e.what());
                respond(problem(500, "internal_error", "the server failed to answer this request; quote its request_id",
                                "", request_id));
            } catch (...) {
                spdlog::error("request_id={} method={} route={}: unhandled non-standard exception", request_id, method,
                              route);
                respond(problem(500, "internal_error", "the server failed to answer this request; quote its request_id",
                                "", request_id));
            }
        };
        if (!pool) return run();
        if (pool->try_post(std::move(run))) return;
        // Every thread of the pool busy and its queue full: say so now rather than queue
        // without bound (the client retries after a moment; the connection stays usable).
        const char* kind = lane == Lane::read ? "read" : "write";
        metrics::global().counter("tally_http_overloaded_total", fmt::format("pool=\"{}\"", kind)).add();
        auto res = problem(503, "overloaded", fmt::format("too many {}s are waiting; retry shortly", kind), "", request_id);
        res.headers.emplace_back("Retry-After", "1");
        respond(std::move(res));
    }

    void write(Response res) {
        auto msg = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(res.status), 11);
        msg->set(bhttp::field::server, "tally");
        if (!res.content_type.empty()) msg->set(bhttp::field::content_type, res.content_type);
        // Answers may hold balances and client secrets: never cached, never sniffed.
        msg->set(bhttp::field::cache_control, "no-store");
        msg->set("X-Content-Type-Options", "nosniff");
        for (const auto& [k, v] : res.headers) msg->set(k, v);
        msg->keep_alive(keep_alive_);
        msg->body() = std::move(res.body);
        msg->prepare_payload();
        bhttp::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, size_t) {
            if (ec || !self->keep_alive_) return self->close();
            self->read();
        });
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    const Handler& handler_;
    HandlerPool* reads_;   // null: reads run on the I/O thread
    HandlerPool* writes_;  // null: the rest runs on the I/O thread
    size_t body_max_;
    bool keep_alive_ = true;
    std::atomic<int>& open_;
};

}  // namespace

struct Server::Impl {
    ServerOptions options;
    Handler handler;
    net::io_context ioc;
    std::optional<tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
    std::unique_ptr<HandlerPool> reads, writes;
    std::atomic<int> open_sessions{0};
    int bound_port = 0;

    Impl(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)), ioc(options.threads) {}

    void accept() {
        acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == net::error::operation_aborted) return;
            if (!ec) {
                socket.set_option(tcp::no_delay(true));
                std::make_shared<Session>(std::move(socket), handler, reads.get(), writes.get(), options.body_bytes_max,
                                          open_sessions)
                    ->start();
            }
            accept();
        });
    }
};

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::Server(ServerOptions options, Api& api)
    : Server(std::move(options), [&api](Request r, Respond respond) { api.handle(std::move(r), std::move(respond)); }) {}

Server::~Server() { stop(); }

bool Server::start() {
    try {
        tcp::endpoint endpoint(net::ip::make_address(impl_->options.address),
                               static_cast<unsigned short>(impl_->options.port));
        // On a strand of its own: closing it (stop_accepting) then never runs on one I/O
        // thread while another completes an accept on it (a crash seen in a test's
        // shutdown with eight I/O threads).
        impl_->acceptor.emplace(net::make_strand(impl_->ioc));
        impl_->acceptor->open(endpoint.protocol());
        impl_->acceptor->set_option(net::socket_base::reuse_address(true));
        impl_->acceptor->bind(endpoint);
        impl_->acceptor->listen(net::socket_base::max_listen_connections);
        impl_->bound_port = impl_->acceptor->local_endpoint().port();
    } catch (const std::exception& e) {
        spdlog::error("http: cannot listen on {}:{}: {}", impl_->options.address, impl_->options.port, e.what());
        return false;
    }
    if (impl_->options.read_threads > 0)
        impl_->reads = std::make_unique<HandlerPool>(impl_->options.read_threads, impl_->options.read_queue, "http-read");
    if (impl_->options.write_threads > 0)
        impl_->writes = std::make_unique<HandlerPool>(impl_->options.write_threads, impl_->options.write_queue, "http-write");
    auto& m = metrics::global();
    m.help("tally_http_requests_total", "counter", "Answers by route pattern, method and status");
    m.help("tally_http_request_seconds", "histogram", "Time from a request's headers read to its answer written, by route pattern");
    m.help("tally_http_overloaded_total", "counter", "Requests answered 503 overloaded because a handler pool was full");
    m.help("tally_http_queued", "gauge", "Requests waiting for a handler thread, per pool");
    m.help("tally_http_queue_capacity", "gauge", "Requests a handler pool queues before answering 503, per pool");
    for (auto [label, pool] : {std::pair{"pool=\"read\"", impl_->reads.get()}, std::pair{"pool=\"write\"", impl_->writes.get()}}) {
        if (!pool) continue;
        m.gauge("tally_http_queued", label, [pool] { return static_cast<double>(pool->waiting()); }, impl_.get());
        m.gauge("tally_http_queue_capacity", label, [pool] { return static_cast<double>(pool->capacity()); }, impl_.get());
    }
    impl_->accept();
    for (int i = 0; i < impl_->options.threads; ++i) impl_->threads.emplace_back([this] {
            infra::name_this_thread("http-io");
            impl_->ioc.run();
        });
    spdlog::info("http: listening on {}:{}", impl_->options.address, impl_->bound_port);
    return true;
}

void Server::stop_accepting() {
    if (impl_->threads.empty()) return;
    if (!impl_->acceptor) return;
    net::post(impl_->acceptor->get_executor(), [this] {
        beast::error_code ec;
        impl_->acceptor->close(ec);
    });
}

void Server::stop() {
    if (impl_->threads.empty()) return;
    metrics::global().drop_gauges(impl_.get());
    stop_accepting();
    // Reads already accepted are answered (their answers go out through the I/O threads,
    // still running) before the I/O threads stop.
    if (impl_->reads) impl_->reads->stop();
    if (impl_->writes) impl_->writes->stop();
    impl_->ioc.stop();
    for (auto& t : impl_->threads) t.join();
    impl_->threads.clear();
}

int Server::port() const { return impl_->bound_port; }

}  // namespace tally::http
