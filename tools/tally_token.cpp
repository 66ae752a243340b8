// tally-token: development tool. Sets a principal's record and mints a bearer token for
// it, or revokes every token of a principal. A thin client of the command path: each
// change is a command of `system:tally-token` through the same pipeline and decision as
// PUT /v1/principals/{id} and POST /v1/principals/{id}/revoke, so it lands on the
// principal's stream like any other.
//
//   tally-token mint --sub admin-1 --role admin [--permissions credit.view,... | --preset operations]
//                    [--name "Ama"] [--email a@example.com] [--ttl 3600]
//   tally-token revoke --sub admin-1 [--reason "laptop lost"]

#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <map>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "commands/pipeline.h"
#include "commands/principals.h"
#include "domain/principal.h"
#include "events/envelope.h"
#include "http/auth.h"
#include "infra/config.h"
#include "infra/crash.h"
#include "infra/journal.h"
#include "infra/migrate.h"
#include "infra/sql.h"
#include "infra/strings.h"

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

int main(int argc, char** argv) {
    tally::infra::report_fatal_signals();
    using namespace tally;
    if (argc < 2) {
        std::cerr << "usage: tally-token mint --sub ID --role ROLE [--permissions a.b,c.d | --preset KEY] [--name N]"
                     " [--email E] [--ttl SECONDS]\n"
                     "       tally-token revoke --sub ID [--reason TEXT]\n"
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
    if (verb != "mint" && verb != "revoke") {
        std::cerr << "unknown verb " << verb << "\n";
        return 2;
    }
    if (verb == "mint" && !principal::is_role(opt["--role"])) {
        std::cerr << "--role must be one of admin, employee, vendor, affiliate, customer, auditor, storefront\n";
        return 2;
    }
    auto keys = http::KeyRing::from_config(cfg.jwt_keys, cfg.data_dir);
    if (verb == "mint" && !keys) {
        std::cerr << keys.error() << "\n";
        return 2;
    }
    if (auto m = infra::migrate(cfg.pg_url); !m) {
        std::cerr << "database: " << m.error().message << "\n";
        return 1;
    }
    sql::Pool pool(cfg.pg_url, 2);
    std::optional<journal::Principal> row;
    if (auto r = pool.transact([&](sql::Tx& tx) { row = journal::load_principal(tx, sub); }); !r) {
        std::cerr << "database: " << r.error().message << "\n";
        return 1;
    }

    std::unique_ptr<commands::Command> command;
    if (verb == "revoke") {
        if (!row) {
            std::cerr << "no principal " << sub << "\n";
            return 1;
        }
        command = commands::revoke_principal(sub, row, opt["--reason"]);
    } else {
        v1::PrincipalRecord wanted;
        wanted.set_principal_id(sub);
        wanted.set_role(opt["--role"]);
        for (auto p : split(opt["--permissions"], ','))
            if (!p.empty()) wanted.add_permissions(std::string(p));
        if (opt.contains("--preset")) {
            wanted.set_preset(opt["--preset"]);
            if (wanted.permissions_size() == 0)
                if (const auto* preset = principal::find_preset(opt["--preset"]))
                    for (auto p : preset->permissions) wanted.add_permissions(std::string(p));
        }
        wanted.set_display_name(opt["--name"]);
        wanted.set_email(opt["--email"]);
        wanted.set_active(true);
        command = commands::set_principal(std::move(wanted), row);
    }

    commands::PipelineOptions options;
    options.writers = 1;
    commands::Pipeline pipeline(pool, options, now_ms, {});
    pipeline.start();
    const std::string key = "tally-token-" + std::to_string(now_ms()) + "-" + std::to_string(getpid());
    const auto outcome = commands::submit_and_wait(pipeline, {"system:tally-token", "system", 1}, std::move(command),
                                                   key, events::sha256(key));
    pipeline.stop();
    if (const auto* no = std::get_if<commands::Rejection>(&outcome)) {
        std::cerr << no->code << ": " << no->detail << (no->field.empty() ? "" : " (" + no->field + ")") << "\n";
        return 1;
    }
    const auto record = nlohmann::json::parse(std::get<commands::Reply>(outcome).body);
    if (verb == "revoke") {
        std::cerr << "revoked every token of " << sub << " (session version " << record["session_version"] << ")\n";
        return 0;
    }
    const int64_t now = now_ms() / 1000;
    const int64_t ttl = opt.contains("--ttl") ? std::stoll(opt["--ttl"]) : 3600;
    std::cout << keys->mint({sub, record["role"].get<std::string>(), record["session_version"].get<int64_t>(), now,
                             now + ttl, 0})
              << "\n";
    return 0;
}
