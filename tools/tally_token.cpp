// tally-token: development tool. Creates or updates a principal and mints a
// bearer token for it, or revokes every token of a principal.
//
//   tally-token mint --sub admin-1 --role admin [--permissions credit.view,...] [--ttl 3600]
//   tally-token revoke --sub admin-1

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "http/auth.h"
#include "infra/crash.h"
#include "infra/config.h"
#include "infra/migrate.h"
#include "infra/sql.h"

int main(int argc, char** argv) {
    tally::infra::report_fatal_signals();
    using namespace tally;
    if (argc < 2) {
        std::cerr << "usage: tally-token mint --sub ID --role ROLE [--permissions a.b,c.d] [--ttl SECONDS]\n"
                     "       tally-token revoke --sub ID\n"
                     "reads TALLY_PG_URL (or the private cluster's URL) and TALLY_JWT_KEYS / TALLY_DATA_DIR\n";
        return 2;
    }
    const std::string verb = argv[1];
    std::map<std::string, std::string> opt;
    for (int i = 2; i + 1 < argc; i += 2) opt[argv[i]] = argv[i + 1];
    Config cfg = config_from_env();
    if (cfg.pg_url.empty())
        cfg.pg_url = "postgresql://tally@127.0.0.1:" + std::to_string(cfg.pg_port) + "/postgres";
    const std::string sub = opt["--sub"];
    if (sub.empty()) {
        std::cerr << "--sub is required\n";
        return 2;
    }
    if (auto m = infra::migrate(cfg.pg_url); !m) {
        std::cerr << "database: " << m.error().message << "\n";
        return 1;
    }
    sql::Pool pool(cfg.pg_url, 2);
    if (verb == "revoke") {
        auto r = pool.transact([&](sql::Tx& tx) {
            tx.exec("UPDATE principals SET session_version = session_version + 1 WHERE id = $1", {sub});
        });
        if (!r) {
            std::cerr << r.error().message << "\n";
            return 1;
        }
        std::cerr << "revoked every token of " << sub << "\n";
        return 0;
    }
    if (verb != "mint") {
        std::cerr << "unknown verb " << verb << "\n";
        return 2;
    }
    const std::string role = opt["--role"];
    if (!http::is_known_role(role)) {
        std::cerr << "--role must be one of admin, employee, vendor, affiliate, customer, auditor, storefront\n";
        return 2;
    }
    auto keys = http::KeyRing::from_config(cfg.jwt_keys, cfg.data_dir);
    if (!keys) {
        std::cerr << keys.error() << "\n";
        return 2;
    }
    int64_t session_version = 0;
    auto r = pool.transact([&](sql::Tx& tx) {
        auto rows = tx.exec(
            "INSERT INTO principals (id, role, permissions) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, permissions = EXCLUDED.permissions"
            " RETURNING session_version",
            {sub, role, opt["--permissions"]});
        session_version = rows.at(0).i64(0);
    });
    if (!r) {
        std::cerr << r.error().message << "\n";
        return 1;
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    const int64_t ttl = opt.contains("--ttl") ? std::stoll(opt["--ttl"]) : 3600;
    std::cout << keys->mint({sub, role, session_version, now, now + ttl, 0}) << "\n";
    return 0;
}
