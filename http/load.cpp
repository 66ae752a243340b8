#include "http/load.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>  // before Boost 1.74 asio, which forgets it

#include <boost/asio.hpp>
#include <boost/beast.hpp>

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Shared {
    const std::function<LoadRequest(int64_t)>* make;
    std::atomic<int64_t> next{0};
    int64_t total;
    std::mutex mu;
    LoadResult result;
};

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(net::io_context& ioc, tcp::endpoint ep, Shared& shared)
        : stream_(net::make_strand(ioc)), ep_(ep), shared_(shared) {}

    void start() {
        stream_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return self->finish_failure();
            self->stream_.socket().set_option(tcp::no_delay(true));
            self->send();
        });
    }

    ~Connection() {
        std::lock_guard lock(shared_.mu);
        shared_.result.latencies_ms.insert(shared_.result.latencies_ms.end(), latencies_.begin(), latencies_.end());
        for (auto [s, n] : statuses_) shared_.result.statuses[s] += n;
    }

private:
    void send() {
        const int64_t i = shared_.next.fetch_add(1);
        if (i >= shared_.total) return;  // done: the last shared_ptr goes away
        LoadRequest r = (*shared_.make)(i);
        req_ = {};
        req_.method(bhttp::string_to_verb(r.method));
        req_.target(r.target);
        req_.version(11);
        req_.set(bhttp::field::host, "127.0.0.1");
        req_.keep_alive(true);
        for (const auto& [k, v] : r.headers) req_.set(k, v);
        if (!r.body.empty()) req_.set(bhttp::field::content_type, "application/json");
        req_.body() = std::move(r.body);
        req_.prepare_payload();
        started_ = std::chrono::steady_clock::now();
        bhttp::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->finish_failure();
            self->res_ = {};
            bhttp::async_read(self->stream_, self->buffer_, self->res_, [self](beast::error_code ec2, size_t) {
                if (ec2) return self->finish_failure();
                self->latencies_.push_back(
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - self->started_).count());
                ++self->statuses_[self->res_.result_int()];
                self->send();
            });
        });
    }

    void finish_failure() { ++statuses_[0]; }

    beast::tcp_stream stream_;
    tcp::endpoint ep_;
    Shared& shared_;
    beast::flat_buffer buffer_;
    bhttp::request<bhttp::string_body> req_;
    bhttp::response<bhttp::string_body> res_;
    std::chrono::steady_clock::time_point started_;
    std::vector<double> latencies_;
    std::map<int, int64_t> statuses_;
};

}  // namespace

LoadResult run_load(const std::string& host, int port, int connections, int threads, int64_t total,
                    const std::function<LoadRequest(int64_t)>& make) {
    Shared shared;
    shared.make = &make;
    shared.total = total;
    shared.result.latencies_ms.reserve(static_cast<size_t>(total));
    net::io_context ioc(threads);
    const tcp::endpoint ep(net::ip::make_address(host), static_cast<unsigned short>(port));
    const auto started = std::chrono::steady_clock::now();
    for (int c = 0; c < connections; ++c) std::make_shared<Connection>(ioc, ep, shared)->start();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    shared.result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(shared.result);
}

}  // namespace tally::http
