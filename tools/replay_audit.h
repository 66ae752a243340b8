#pragma once
// tally-replay audit: an auditor's replay from Kafka, no database needed to read it. It
// consumes every partition of the topic from the beginning to the end it had when the
// audit began, and checks every stream's chain (versions, prev_hash, each hash against
// the event's content, the partition its stream belongs in) and the global positions
// (1..N, each once). With a database it also compares Kafka with the journal, both ways:
// events missing from either side, and events that differ. Memory: a byte per position,
// eight more with a database, and each stream's tip.

#include <string>

namespace tally::replay {

struct AuditOptions {
    std::string brokers;
    std::string topic = "tally.events";
    std::string pg_url;  // empty: Kafka alone
};

// 0 clean, 1 discrepancies (printed), 2 the audit could not be made.
int audit(const AuditOptions& options);

}  // namespace tally::replay
