#pragma once
// tally-bench preload: the bulk path that gives a benchmark years of data in minutes.
// Before tallyd starts, it runs credit grants through the same group-commit pipeline
// tallyd uses (decide, hash chains, snapshots, idempotency records, one transaction per
// batch) in process, without HTTP and in batches of thousands: `customers` customers,
// each with store credit, and `events` grants in all, round-robin over the customers,
// each under its own Idempotency-Key. When tallyd then starts, its relay publishes the
// journal and the projectors build their read models from it, as after any outage.

#include <cstdint>
#include <string>

namespace tally::bench {

struct PreloadOptions {
    std::string pg_url;
    int64_t customers = 1000000;
    int64_t events = 3000000;     // grants: at least one per customer
    int64_t batch = 2000;         // commands per transaction
    std::string principal = "bench-preload";  // the admin the grants are made by (created)
};

// 0 when every grant was accepted; 1 otherwise (and what went wrong on stderr).
int preload(const PreloadOptions& o);

}  // namespace tally::bench
