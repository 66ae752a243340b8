#pragma once
// tally-bench seed: fills a database through the real write path (tallyd's HTTP API)
// with a realistic mix until the journal holds at least `events` events: rounds of credit
// grants, checkouts across three vendors, their signed payment webhooks, and partial
// refunds to store credit of every tenth paid order.

#include <cstdint>
#include <string>

namespace tally::bench {

struct SeedOptions {
    int port = 8080;
    std::string admin_token;
    std::string tokens_file;  // customer tokens, one a line (the shoppers)
    std::string secret;       // the Stripe webhook secret tallyd verifies
    std::string pg_url;       // tallyd's database: the journal head and the placed orders
    int64_t events = 1000000;
    int connections = 64;
    int64_t grants_per_round = 20000;
    int64_t checkouts_per_round = 4000;
};

// 0 when the journal reached `events` with every answer as expected; 1 otherwise.
int seed(const SeedOptions& o);

}  // namespace tally::bench
