#pragma once
// A fast, bounded-memory walk over the whole journal for the replay tool and rebuilds:
// `COPY (SELECT ...) TO STDOUT (FORMAT binary)` on a libpq connection of its own, so
// PostgreSQL sends raw bytes (no hex for bytea, no paging queries) and the rows are
// decoded on a reader thread while the caller works on the previous batch. At most
// `kQueuedBatches` batches of `kBatchEvents` events are in flight at once.

//
// `snapshot`: an exported snapshot (pg_export_snapshot() in the caller's REPEATABLE READ
// transaction): the scan then sees exactly what that transaction sees.

#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <vector>

#include "tally/v1/envelope.pb.h"

namespace tally::journal {

inline constexpr size_t kBatchEvents = 2048;
inline constexpr size_t kQueuedBatches = 4;

struct ScanOptions {
    int64_t after_position = 0;     // events with a position above this
    int64_t up_to_position = 0;     // and at or below this (0: no bound)
    std::vector<std::string> types;  // only these event types (empty: all)
    std::string snapshot;            // see above
    bool by_stream = false;          // in (stream_id, stream_version) order instead
};

// Calls `fn` with each batch of events in position order (or stream order). `fn` returns
// false to stop.
// An error names what failed (connection, query, a malformed row).
std::expected<void, std::string> scan(const std::string& pg_url, const ScanOptions& options,
                                      const std::function<bool(const std::vector<v1::EventEnvelope>&)>& fn);

}  // namespace tally::journal
