#include "infra/local_postgres.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "infra/sql.h"

namespace tally::infra {
namespace {

std::string pg_bin() {
    if (const char* v = std::getenv("TALLY_PG_BIN")) return v;
    return "/usr/lib/postgresql/15/bin";
}

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out.push_back(c);
    }
    return out + "'";
}

}  // namespace

LocalPostgres::LocalPostgres(std::string dir, int port) : dir_(std::move(dir)), port_(port) {}

LocalPostgres::~LocalPostgres() {
    stop();
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

// PostgreSQL refuses to run as root; as root the cluster belongs to the postgres user.
std::string LocalPostgres::run_as_owner(const std::string& command) const {
    if (geteuid() != 0) return command;
    return "runuser -u postgres -- sh -c " + quote(command);
}

std::expected<std::string, std::string> LocalPostgres::start() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir_, ec);
    dir_ = fs::absolute(dir_).string();
    const std::string data = dir_ + "/data";
    if (geteuid() == 0) {
        std::system(("chown postgres " + quote(dir_)).c_str());
        // Every parent must be traversable by the postgres user.
        for (fs::path p = fs::path(dir_).parent_path(); p != p.root_path(); p = p.parent_path())
            std::system(("chmod o+x " + quote(p.string()) + " 2>/dev/null").c_str());
    }
    if (!fs::exists(data + "/PG_VERSION")) {
        spdlog::info("initialising a private PostgreSQL cluster in {}", data);
        const std::string init = pg_bin() + "/initdb -D " + quote(data) +
                                 " -U tally --auth=trust --encoding=UTF8 --locale=C.UTF-8 >" +
                                 quote(dir_ + "/initdb.log") + " 2>&1";
        if (std::system(run_as_owner(init).c_str()) != 0)
            return std::unexpected("initdb failed; see " + dir_ + "/initdb.log");
    }
    const std::string opts = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) +
                             " -k " + dir_ + " -c max_connections=100 -c shared_buffers=128MB";
    const std::string cmd = pg_bin() + "/pg_ctl -D " + quote(data) + " -l " + quote(dir_ + "/postgres.log") +
                            " -o " + quote(opts) + " -w -t 60 start >/dev/null 2>&1";
    const std::string url = "postgresql://tally@127.0.0.1:" + std::to_string(port_) + "/postgres";
    // Close-on-exec: pg_ctl's children (the postmaster) must not inherit the lock, or it
    // would outlive this process.
    lock_fd_ = ::open((dir_ + "/owner.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) return std::unexpected("cannot open " + dir_ + "/owner.lock");
    const bool owner = ::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0;
    const bool running = sql::wait_until_ready(url, std::chrono::milliseconds(0));
    if (owner && running) {
        spdlog::warn("taking over the private PostgreSQL in {} left running by a tallyd that did not stop it; "
                     "it is stopped when this process exits", data);
        started_ = true;
    } else if (owner) {
        if (std::system(run_as_owner(cmd).c_str()) != 0)
            return std::unexpected("pg_ctl start failed; see " + dir_ + "/postgres.log");
        started_ = true;
    } else {
        // Another live tallyd owns it (and may still be starting it): share it, never stop it.
        spdlog::info("the private PostgreSQL in {} belongs to another running tallyd; sharing it", data);
        if (!sql::wait_until_ready(url, std::chrono::seconds(60)))
            return std::unexpected("another tallyd holds " + dir_ + "/owner.lock but its PostgreSQL does not answer "
                                   "on port " + std::to_string(port_) + "; stop that process or use another TALLY_DATA_DIR");
    }
    if (!sql::wait_until_ready(url, std::chrono::seconds(30)))
        return std::unexpected("private PostgreSQL did not accept connections on port " +
                               std::to_string(port_));
    spdlog::info("private PostgreSQL ready at {}", url);
    return url;
}

void LocalPostgres::stop() {
    if (!started_) return;
    started_ = false;
    const std::string cmd = pg_bin() + "/pg_ctl -D " + quote(dir_ + "/data") + " -m fast -w stop >/dev/null 2>&1";
    std::system(run_as_owner(cmd).c_str());
    spdlog::info("private PostgreSQL stopped");
}

}  // namespace tally::infra
