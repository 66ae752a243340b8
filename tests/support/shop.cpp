#include "tests/support/shop.h"

#include <gtest/gtest.h>

namespace tally::testing {

Shop::Shop(std::map<std::string, std::string> tallyd_env)
    : url(fresh_database()), tallyd(url, broker.bootstraps(), std::move(tallyd_env)), pool(url, 2) {
    tallyd.start();
    admin = token_for(url, "admin-1", "admin");
    client = std::make_unique<http::Client>("127.0.0.1", tallyd.port());
}

http::ClientResponse Shop::send(const std::string& method, const std::string& target, const nlohmann::json& body,
                                const std::string& token, std::string key) {
    if (key.empty()) key = "k" + std::to_string(++seq_);
    return client->request(method, target, body.dump(), {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
}

http::ClientResponse Shop::get(const std::string& target, const std::string& token) {
    return client->request("GET", target, "", {{"Authorization", "Bearer " + token}});
}

int64_t Shop::number(const std::string& query, std::vector<std::optional<std::string>> args) {
    int64_t n = -1;
    EXPECT_TRUE(pool.transact([&](sql::Tx& tx) { n = tx.exec(query, args).at(0).i64(0); })) << query;
    return n;
}

int64_t Shop::balance(const std::string& account) {
    return number("SELECT coalesce(sum(debit_minor - credit_minor), 0)::bigint FROM ledger_accounts WHERE account = $1",
                  {account});
}

}  // namespace tally::testing
