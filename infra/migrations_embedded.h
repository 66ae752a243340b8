#pragma once
#include <string>
#include <vector>

namespace tally::infra {

struct Migration {
    int version;
    std::string name;
    std::string sql;
};

// Generated at build time from infra/migrations/*.sql, in version order.
const std::vector<Migration>& embedded_migrations();

}  // namespace tally::infra
