#include "infra/metrics.h"

#include <set>

#include <fmt/format.h>

namespace tally::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
    for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
    std::string out;
    const std::string sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cumulative);
    }
    cumulative += counts_[bounds_.size()].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cumulative);
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += fmt::format("{}_sum{} {}\n", name, braces,
                       static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6);
    out += fmt::format("{}_count{} {}\n", name, braces, count_.load(std::memory_order_relaxed));
    return out;
}

Counter& Registry::counter(const std::string& name, const std::string& labels) {
    std::lock_guard lock(mu_);
    auto& slot = counters_[{name, labels}];
    if (!slot) slot = std::make_unique<Counter>();
    return *slot;
}

Histogram& Registry::histogram(const std::string& name, const std::string& labels,
                               std::vector<double> bounds) {
    std::lock_guard lock(mu_);
    auto& slot = histograms_[{name, labels}];
    if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
    return *slot;
}

void Registry::gauge(const std::string& name, const std::string& labels, std::function<double()> read,
                     const void* owner) {
    std::lock_guard lock(mu_);
    gauges_[{name, labels}] = Gauge{std::move(read), owner};
}

void Registry::drop_gauges(const void* owner) {
    {
        std::lock_guard lock(mu_);
        std::erase_if(gauges_, [owner](const auto& g) { return g.second.owner == owner; });
    }
    // A render that copied them before the erase may still be reading: wait for it.
    std::unique_lock wait(reading_);
}

void Registry::help(const std::string& name, const std::string& type, const std::string& text) {
    std::lock_guard lock(mu_);
    help_[name] = {type, text};
}

std::string Registry::render() const {
    // Gauges are read with the registry unlocked: a gauge may take its owner's lock,
    // and that owner may be counting something (taking this lock) while holding it.
    // Their owners cannot go away meanwhile: drop_gauges waits for `reading_`.
    std::map<std::pair<std::string, std::string>, double> gauge_values;
    {
        std::shared_lock reading(reading_);
        std::vector<std::pair<std::pair<std::string, std::string>, std::function<double()>>> reads;
        {
            std::lock_guard lock(mu_);
            for (const auto& [key, g] : gauges_) reads.emplace_back(key, g.read);
        }
        for (const auto& [key, read] : reads) gauge_values[key] = read();
    }
    std::lock_guard lock(mu_);
    std::string out;
    std::string last;
    auto header = [&](const std::string& name, const char* type) {
        if (name == last) return;
        last = name;
        auto it = help_.find(name);
        if (it != help_.end()) out += fmt::format("# HELP {} {}\n", name, it->second.second);
        out += fmt::format("# TYPE {} {}\n", name, it != help_.end() ? it->second.first : type);
    };
    for (const auto& [key, c] : counters_) {
        header(key.first, "counter");
        out += key.second.empty() ? fmt::format("{} {}\n", key.first, c->value())
                                  : fmt::format("{}{{{}}} {}\n", key.first, key.second, c->value());
    }
    for (const auto& [key, value] : gauge_values) {
        header(key.first, "gauge");
        out += key.second.empty() ? fmt::format("{} {}\n", key.first, value)
                                  : fmt::format("{}{{{}}} {}\n", key.first, key.second, value);
    }
    std::set<std::string> rendered;
    for (const auto& [key, h] : histograms_) {
        header(key.first, "histogram");
        out += h->render(key.first, key.second);
    }
    // Families described but without a sample yet (a counter nothing has counted, a
    // labelled one before its first label): named all the same, so a scraper, a rule or a
    // dashboard sees every metric this process exports from its first scrape.
    for (const auto& [key, c] : counters_) rendered.insert(key.first);
    for (const auto& [key, v] : gauge_values) rendered.insert(key.first);
    for (const auto& [key, h] : histograms_) rendered.insert(key.first);
    for (const auto& [name, help] : help_)
        if (!rendered.contains(name)) out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help.second, name, help.first);
    return out;
}

Registry& global() {
    static Registry registry;
    return registry;
}

std::vector<double> latency_buckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace tally::metrics
