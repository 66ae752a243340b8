#include "tests/support/kafka_read.h"

#include <stdexcept>

namespace tally::testing {

std::vector<TopicMessage> read_topic(const std::string& brokers, const std::string& topic) {
    auto consumer = kafka::Consumer::create(brokers);
    if (!consumer) throw std::runtime_error(consumer.error());
    auto count = (*consumer)->partition_count(topic, std::chrono::seconds(5));
    if (!count) throw std::runtime_error(count.error());
    std::vector<int64_t> ends;
    std::vector<std::pair<int32_t, int64_t>> starts;
    int64_t expected = 0;
    for (int32_t p = 0; p < *count; ++p) {
        auto marks = (*consumer)->watermarks(topic, p, std::chrono::seconds(5));
        if (!marks) throw std::runtime_error(marks.error());
        ends.push_back(marks->second);
        expected += marks->second - marks->first;
        starts.push_back({p, -2});
    }
    if (auto a = (*consumer)->assign(topic, starts); !a) throw std::runtime_error(a.error());
    std::vector<TopicMessage> out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (static_cast<int64_t>(out.size()) < expected && std::chrono::steady_clock::now() < until) {
        for (auto& m : (*consumer)->poll(1000, std::chrono::milliseconds(100))) {
            if (m.offset >= ends[static_cast<size_t>(m.partition)]) continue;
            TopicMessage t{m.partition, m.offset, m.key, {}};
            if (!t.envelope.ParseFromString(m.value)) throw std::runtime_error("not an envelope");
            out.push_back(std::move(t));
        }
    }
    if (static_cast<int64_t>(out.size()) != expected) throw std::runtime_error("topic read incomplete");
    return out;
}

}  // namespace tally::testing
