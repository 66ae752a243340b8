#pragma once
// Prometheus-style metrics: counters, gauges and fixed-bucket histograms, lock-free
// on the hot path. render() produces the text exposition format.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace tally::metrics {

class Counter {
public:
    void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

// Buckets are upper bounds; the last one is +Inf implicitly.
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double v);
    std::string render(const std::string& name, const std::string& labels) const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<uint64_t>[]> counts_;
    std::atomic<uint64_t> count_{0};
    std::atomic<uint64_t> sum_micro_{0};
};

class Registry {
public:
    // Returns the counter for (name, labels), creating it once. labels: `a="b",c="d"`.
    Counter& counter(const std::string& name, const std::string& labels = "");
    Histogram& histogram(const std::string& name, const std::string& labels, std::vector<double> bounds);
    // A gauge read at render time. `owner`: the object whose state `read` reads; it calls
    // drop_gauges(this) first thing in its destructor, so no render reads a dead object.
    void gauge(const std::string& name, const std::string& labels, std::function<double()> read,
               const void* owner = nullptr);
    // Forgets the gauges `owner` registered (not those registered again since by another
    // owner), and returns once no render is still reading them.
    void drop_gauges(const void* owner);
    void help(const std::string& name, const std::string& type, const std::string& text);
    std::string render() const;

private:
    mutable std::mutex mu_;
    mutable std::shared_mutex reading_;  // held shared while a render reads gauges
    struct Gauge {
        std::function<double()> read;
        const void* owner = nullptr;
    };
    std::map<std::string, std::pair<std::string, std::string>> help_;  // name -> (type, text)
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Counter>> counters_;
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Histogram>> histograms_;
    std::map<std::pair<std::string, std::string>, Gauge> gauges_;
};

// The process-wide registry.
Registry& global();

// Latency buckets in seconds, 100 us .. 10 s.
std::vector<double> latency_buckets();

}  // namespace tally::metrics
