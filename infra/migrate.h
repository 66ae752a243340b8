#pragma once
// Versioned SQL migrations (infra/migrations/NNNN_name.sql), embedded at build
// time and applied in order at start-up under an advisory lock.

#include <climits>
#include <expected>
#include <string>

#include "infra/sql.h"

namespace tally::infra {

// Applies every migration newer than the database's (up to `up_to_version`: tests of a
// migration's own work stop before it); safe to call from several processes.
std::expected<int, sql::DbError> migrate(const std::string& pg_url, int up_to_version = INT_MAX);

}  // namespace tally::infra
