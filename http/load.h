#pragma once
// An asynchronous HTTP/1.1 load generator: C keep-alive connections driven by a
// few threads (like pgbench -j), so the client does not crowd the machine it
// measures. Used by tally-bench.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tally::http {

struct LoadRequest {
    std::string method;
    std::string target;
    std::string body;
    std::map<std::string, std::string> headers;
};

struct LoadResult {
    std::vector<double> latencies_ms;  // one per request, unsorted
    std::map<int, int64_t> statuses;   // 0: connection failure
    double seconds = 0;
};

// Sends requests make(0) .. make(total-1) over `connections` connections using
// `threads` I/O threads; each connection sends its next request when the previous
// answer arrives.
LoadResult run_load(const std::string& host, int port, int connections, int threads, int64_t total,
                    const std::function<LoadRequest(int64_t)>& make);

}  // namespace tally::http
