#pragma once
// An asynchronous HTTP/1.1 load generator: C keep-alive connections driven by a
// few threads (like pgbench -j), so the client does not crowd the machine it
// measures. Used by tally-bench.
//
// Two shapes: `run_load` sends independent requests; `run_flows` runs flows, each
// a sequence of requests on one connection where every next request is chosen from
// the previous answer (quote, then checkout with the quoted total, then poll).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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

struct LoadAnswer {
    int status = 0;  // 0: the connection failed
    std::string body;
};

// One step of a flow: the request, the name its answers are counted under, and how
// long to wait before sending it (a poll's interval).
struct FlowStep {
    LoadRequest request;
    std::string step;
    std::chrono::milliseconds delay{0};
};

// A flow decides its requests one at a time: next(nullptr) is the first, next(&answer)
// the one after that answer; nullopt ends the flow. A flow whose connection fails sees
// an answer with status 0 and is ended whatever it returns.
class Flow {
public:
    virtual ~Flow() = default;
    virtual std::optional<FlowStep> next(const LoadAnswer* last) = 0;
};

// A flow of one request (run_load's, and a background load's that can be told to stop).
std::unique_ptr<Flow> one_request(LoadRequest r);

struct FlowResult {
    std::vector<double> flow_ms;                                    // each finished flow, first send to last answer
    std::map<std::string, std::vector<double>> latencies_ms;        // per step name, one per request
    std::map<std::string, std::map<int, int64_t>> statuses;         // per step name; 0: connection failure
    double seconds = 0;
};

// Runs flows make(0) .. make(total-1) over `connections` connections on `threads`
// I/O threads, one flow at a time per connection. make may return nullptr to stop
// handing out flows early (a background load told to stop). make is called from
// the I/O threads, at most once per index; each flow lives on one connection.
FlowResult run_flows(const std::string& host, int port, int connections, int threads, int64_t total,
                     const std::function<std::unique_ptr<Flow>(int64_t)>& make);

}  // namespace tally::http
