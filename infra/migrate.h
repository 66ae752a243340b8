#pragma once
// Versioned SQL migrations (infra/migrations/NNNN_name.sql), embedded at build
// time and applied in order at start-up under an advisory lock.

#include <expected>
#include <string>

#include "infra/sql.h"

namespace tally::infra {

// Applies every migration newer than the database's; safe to call from several processes.
std::expected<int, sql::DbError> migrate(const std::string& pg_url);

}  // namespace tally::infra
