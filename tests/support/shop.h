#pragma once
// What the API's end-to-end tests share: a tallyd on a fresh database with its own
// broker, an admin token, a keep-alive client, and reads of the database it writes.

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http/client.h"
#include "infra/sql.h"
#include "tests/support/support.h"

namespace tally::testing {

class Shop {
public:
    explicit Shop(std::map<std::string, std::string> tallyd_env = {});

    std::string url;
    Broker broker;
    Tallyd tallyd;
    sql::Pool pool;
    std::string admin;  // a token for admin-1
    std::unique_ptr<http::Client> client;

    // A request with a token and an Idempotency-Key (a fresh one unless given).
    http::ClientResponse send(const std::string& method, const std::string& target, const nlohmann::json& body,
                              const std::string& token, std::string key = "");
    http::ClientResponse get(const std::string& target, const std::string& token);
    // The single bigint a query returns (-1 when it fails, which also fails the test).
    int64_t number(const std::string& query, std::vector<std::optional<std::string>> args = {});
    // Debit minus credit of a ledger account, as projected (0 while it is not).
    int64_t balance(const std::string& account);

private:
    int seq_ = 0;
};

}  // namespace tally::testing
