#include "http/load.h"

#include <atomic>
#include <mutex>
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
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

struct Shared {
    const std::function<std::unique_ptr<Flow>(int64_t)>* make;
    std::atomic<int64_t> next{0};
    int64_t total;
    std::mutex mu;
    FlowResult result;
};

// One keep-alive connection running one flow after another; what it measured is
// merged into the shared result when the last handler lets it go.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(net::io_context& ioc, tcp::endpoint ep, Shared& shared)
        : stream_(net::make_strand(ioc)), timer_(stream_.get_executor()), ep_(ep), shared_(shared) {}

    void start() {
        stream_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->stream_.socket().set_option(tcp::no_delay(true));
            self->connected_ = !ec;
            self->next_flow();
        });
    }

    ~Connection() {
        std::lock_guard lock(shared_.mu);
        auto& r = shared_.result;
        r.flow_ms.insert(r.flow_ms.end(), flow_ms_.begin(), flow_ms_.end());
        for (auto& [step, l] : latencies_) r.latencies_ms[step].insert(r.latencies_ms[step].end(), l.begin(), l.end());
        for (auto& [step, counts] : statuses_)
            for (auto [s, n] : counts) r.statuses[step][s] += n;
    }

private:
    void next_flow() {
        const int64_t i = shared_.next.fetch_add(1);
        if (i >= shared_.total) return;  // done: the last shared_ptr goes away
        flow_ = (*shared_.make)(i);
        if (!flow_) return;
        flow_started_ = Clock::now();
        auto first = flow_->next(nullptr);
        if (!first) return next_flow();
        if (!connected_) return fail(first->step);
        send(std::move(*first));
    }

    void send(FlowStep s) {
        step_ = std::move(s.step);
        req_ = {};
        req_.method(bhttp::string_to_verb(s.request.method));
        req_.target(s.request.target);
        req_.version(11);
        req_.set(bhttp::field::host, "127.0.0.1");
        req_.keep_alive(true);
        for (const auto& [k, v] : s.request.headers) req_.set(k, v);
        if (!s.request.body.empty()) req_.set(bhttp::field::content_type, "application/json");
        req_.body() = std::move(s.request.body);
        req_.prepare_payload();
        if (s.delay.count() > 0) {
            timer_.expires_after(s.delay);
            timer_.async_wait([self = shared_from_this()](beast::error_code) { self->write(); });
            return;
        }
        write();
    }

    void write() {
        started_ = Clock::now();
        bhttp::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return self->fail(self->step_);
            self->res_ = {};
            bhttp::async_read(self->stream_, self->buffer_, self->res_, [self](beast::error_code ec2, size_t) {
                if (ec2) return self->fail(self->step_);
                self->latencies_[self->step_].push_back(ms_since(self->started_));
                ++self->statuses_[self->step_][self->res_.result_int()];
                const LoadAnswer answer{static_cast<int>(self->res_.result_int()), std::move(self->res_.body())};
                auto after = self->flow_->next(&answer);
                if (after) return self->send(std::move(*after));
                self->flow_ms_.push_back(ms_since(self->flow_started_));
                self->next_flow();
            });
        });
    }

    // The connection is gone: the flow hears so and ends, and this connection takes no
    // more flows (the others carry on).
    void fail(const std::string& step) {
        ++statuses_[step][0];
        const LoadAnswer failed{};
        flow_->next(&failed);
        connected_ = false;
    }

    beast::tcp_stream stream_;
    net::steady_timer timer_;
    tcp::endpoint ep_;
    Shared& shared_;
    bool connected_ = false;
    std::unique_ptr<Flow> flow_;
    std::string step_;
    beast::flat_buffer buffer_;
    bhttp::request<bhttp::string_body> req_;
    bhttp::response<bhttp::string_body> res_;
    Clock::time_point started_, flow_started_;
    std::vector<double> flow_ms_;
    std::map<std::string, std::vector<double>> latencies_;
    std::map<std::string, std::map<int, int64_t>> statuses_;
};

class OneRequest : public Flow {
public:
    explicit OneRequest(LoadRequest r) : r_(std::move(r)) {}
    std::optional<FlowStep> next(const LoadAnswer* last) override {
        if (last) return std::nullopt;
        return FlowStep{std::move(r_), "", {}};
    }

private:
    LoadRequest r_;
};

}  // namespace

std::unique_ptr<Flow> one_request(LoadRequest r) { return std::make_unique<OneRequest>(std::move(r)); }

FlowResult run_flows(const std::string& host, int port, int connections, int threads, int64_t total,
                     const std::function<std::unique_ptr<Flow>(int64_t)>& make) {
    Shared shared;
    shared.make = &make;
    shared.total = total;
    net::io_context ioc(threads);
    const tcp::endpoint ep(net::ip::make_address(host), static_cast<unsigned short>(port));
    const auto started = Clock::now();
    for (int c = 0; c < connections; ++c) std::make_shared<Connection>(ioc, ep, shared)->start();
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    shared.result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return std::move(shared.result);
}

LoadResult run_load(const std::string& host, int port, int connections, int threads, int64_t total,
                    const std::function<LoadRequest(int64_t)>& make) {
    auto flows = run_flows(host, port, connections, threads, total,
                           [&](int64_t i) { return one_request(make(i)); });
    LoadResult r;
    r.latencies_ms = std::move(flows.latencies_ms[""]);
    r.statuses = std::move(flows.statuses[""]);
    r.seconds = flows.seconds;
    return r;
}

}  // namespace tally::http
