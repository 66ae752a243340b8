#pragma once
// Reads a whole topic (every partition from the beginning up to its end) as envelopes.

#include <string>
#include <vector>

#include "infra/kafka.h"
#include "tally/v1/envelope.pb.h"

namespace tally::testing {

struct TopicMessage {
    int32_t partition;
    int64_t offset;
    std::string key;
    v1::EventEnvelope envelope;
};

std::vector<TopicMessage> read_topic(const std::string& brokers, const std::string& topic);

}  // namespace tally::testing
