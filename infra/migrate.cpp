#include "infra/migrate.h"

#include "infra/ownership.h"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "infra/migrations_embedded.h"

namespace tally::infra {

std::expected<int, sql::DbError> migrate(const std::string& pg_url, int up_to_version) {
    try {
        pqxx::connection conn(pg_url);
        {
            pqxx::nontransaction setup(conn);
            setup.exec("SELECT pg_advisory_lock(" + std::to_string(locks::kMigrations) + ")");  // one migrator at a time
            setup.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())");
        }
        int applied = 0;
        for (const auto& m : embedded_migrations()) {
            if (m.version > up_to_version) break;
            pqxx::work tx(conn);
            auto seen = tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", m.version);
            if (!seen.empty()) continue;
            tx.exec(m.sql);
            tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                           m.name);
            tx.commit();
            spdlog::info("applied migration {} {}", m.version, m.name);
            ++applied;
        }
        pqxx::nontransaction done(conn);
        done.exec("SELECT pg_advisory_unlock(" + std::to_string(locks::kMigrations) + ")");
        return applied;
    } catch (const std::exception& e) {
        return std::unexpected(sql::DbError{sql::DbErrorKind::unavailable, e.what(), ""});
    }
}

}  // namespace tally::infra
