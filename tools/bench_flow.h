#pragma once
// tally-bench flow and tally-bench lag: what a shopper and a dashboard see, end to end.
//
// flow: each flow is a quote, a checkout of the 5-line cart with the quoted total, a
// signed payment_intent.succeeded webhook for the order, and polls of GET /v1/orders/{id}
// until it reads `paid`. It reports flows/s, the whole flow's p50/p99, the answers per
// step and status, and afterwards cross-checks in the database that every product's
// stock fell by exactly the units the placed orders hold, and that the orders read model
// holds each placed order with the status and amount the flow saw.
//
// lag: commit to read model. Each sample grants 1 unit of credit to a fresh customer and
// polls GET /v1/customers/{id}/credit until the balance shows it; the lag is from the
// 201 to the answer that shows it (an upper bound: it includes up to one poll interval
// and one read). Optionally with a grants load running beside it.

#include <cstdint>
#include <string>

namespace tally::bench {

struct FlowOptions {
    int port = 8080;
    std::string tokens_file;  // customer tokens, one a line, used round-robin
    std::string secret;       // the Stripe webhook secret tallyd verifies
    std::string pg_url;       // tallyd's database, for the cross-check
    int64_t flows = 5000;
    int connections = 64;
    int threads = 2;
    int poll_ms = 5;
    std::string run = "flow";
};

// 0 when every answer was as expected and the cross-check found no mismatch.
int flow(const FlowOptions& o);

struct LagOptions {
    int port = 8080;
    std::string admin_token;
    int64_t samples = 1000;
    int connections = 4;       // concurrent samples
    int load_connections = 0;  // > 0: credit grants over this many connections meanwhile
    int threads = 2;
    int poll_ms = 1;
    std::string run = "lag";
};

// 0 when every sample was seen in the read model.
int lag(const LagOptions& o);

}  // namespace tally::bench
