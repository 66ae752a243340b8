#include "tests/support/support.h"

#include <algorithm>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "http/auth.h"
#include "http/client.h"
#include "infra/crash.h"
#include "infra/migrate.h"
#include "infra/sql.h"

namespace tally::testing {

namespace {
// Every test binary that links the support library reports a crash with a backtrace
// (a segfault seen once in CI could not be placed from "SEGFAULT" alone).
const bool kReportsCrashes = (infra::report_fatal_signals(), true);
}  // namespace

std::string admin_pg_url() {
    const char* url = std::getenv("TALLY_TEST_PG_URL");
    if (!url || !*url) {
        std::fprintf(stderr, "TALLY_TEST_PG_URL is not set: run the suite with tools/test, which starts PostgreSQL\n");
        std::abort();
    }
    return url;
}

std::string fresh_database(int migrations_up_to, const std::string& admin_url) {
    static std::atomic<int> seq{0};
    std::random_device rd;
    const std::string name = "t_" + std::to_string(::getpid()) + "_" + std::to_string(seq++) + "_" + std::to_string(rd() % 100000);
    const std::string admin = admin_url.empty() ? admin_pg_url() : admin_url;
    sql::Pool pool(admin, 1);
    auto r = pool.autocommit([&](sql::Tx& tx) { tx.exec("CREATE DATABASE " + name); });
    if (!r) throw std::runtime_error("CREATE DATABASE failed: " + r.error().message);
    // Replace the database part of the URL (the last path segment).
    const auto slash = admin.rfind('/');
    const std::string url = admin.substr(0, slash + 1) + name;
    if (auto m = infra::migrate(url, migrations_up_to); !m) throw std::runtime_error("migrate failed: " + m.error().message);
    return url;
}

std::string binary_dir() { return TALLY_BINARY_DIR; }

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    const int port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

std::pair<int, std::string> run_command(const std::string& command) {
    std::string out;
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) return {-1, "popen failed"};
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() > until) return pred();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::string token_for(const std::string& pg_url, const std::string& id, const std::string& role,
                      const std::string& permissions, int64_t ttl_seconds) {
    sql::Pool pool(pg_url, 1);
    int64_t sv = 0;
    auto r = pool.transact([&](sql::Tx& tx) {
        sv = tx.exec("INSERT INTO principals (id, role, permissions) VALUES ($1, $2, $3)"
                     " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, permissions = EXCLUDED.permissions"
                     " RETURNING session_version",
                     {id, role, permissions})
                 .at(0)
                 .i64(0);
    });
    if (!r) throw std::runtime_error(r.error().message);
    auto keys = http::KeyRing::parse(kTestJwtKeys);
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    return keys->mint({id, role, sv, now, now + ttl_seconds, 0});
}

std::vector<std::string> tokens_for(const std::string& pg_url, const std::vector<std::string>& ids, const std::string& role) {
    sql::Pool pool(pg_url, 1);
    std::vector<int64_t> versions;
    auto r = pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("INSERT INTO principals (id, role, permissions) SELECT id, $2, '' FROM unnest($1::text[]) AS id"
                                       " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, permissions = EXCLUDED.permissions"
                                       " RETURNING id, session_version",
                                       {sql::text_array(ids), role})) {
            const auto at = std::find(ids.begin(), ids.end(), row.str(0)) - ids.begin();
            if (versions.size() < ids.size()) versions.resize(ids.size());
            versions[static_cast<size_t>(at)] = row.i64(1);
        }
    });
    if (!r) throw std::runtime_error(r.error().message);
    auto keys = http::KeyRing::parse(kTestJwtKeys);
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<std::string> out;
    for (size_t i = 0; i < ids.size(); ++i) out.push_back(keys->mint({ids[i], role, versions[i], now, now + 3600, 0}));
    return out;
}

Process::~Process() {
    if (pid_ > 0) {
        signal(SIGKILL);
        wait();
    }
}

void Process::start(const std::string& path, const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env, const std::string& log_path) {
    log_path_ = log_path;
    pid_ = ::fork();
    if (pid_ == 0) {
        for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
        FILE* f = std::fopen(log_path.c_str(), "w");
        if (f) {
            ::dup2(fileno(f), 1);
            ::dup2(fileno(f), 2);
        }
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(path.c_str()));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(path.c_str(), argv.data());
        std::_Exit(127);
    }
}

void Process::signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
}

int Process::wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

std::string Process::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Tallyd::Tallyd(std::string pg_url, std::string brokers, std::map<std::string, std::string> extra_env)
    : pg_url_(std::move(pg_url)), brokers_(std::move(brokers)), env_(std::move(extra_env)) {
    char tmpl[] = "/tmp/tallyd-test-XXXXXX";
    data_dir_ = ::mkdtemp(tmpl);
}

Tallyd::~Tallyd() {
    if (process_.running()) kill9();
}

void Tallyd::start() {
    // The free port may be taken by someone else before tallyd binds it (tests run in
    // parallel): then it is started again on another.
    for (int attempt = 1;; ++attempt) {
        port_ = free_port();
        std::map<std::string, std::string> env = {
            {"TALLY_PG_URL", pg_url_},
            {"TALLY_KAFKA_BROKERS", brokers_},
            {"TALLY_HTTP_PORT", std::to_string(port_)},
            {"TALLY_DATA_DIR", data_dir_},
            {"TALLY_JWT_KEYS", kTestJwtKeys},
            {"TALLY_LOG_LEVEL", "info"},
            // Tests count the journal's rows: checkpoints only where a test asks for them.
            {"TALLY_CHECKPOINT_EVERY_EVENTS", "1000000"},
            {"TALLY_CHECKPOINT_EVERY_S", "86400"},
            // Tests burst from one principal on one address: limits far above any test's rate,
            // so the limiter runs on every request and refuses none (rate-limit tests set theirs).
            {"TALLY_RATE_LIMITS", "read=1000000/1000000,write=1000000/1000000"},
            {"TALLY_RATE_LIMITS_ADDRESS", "read=1000000/1000000,write=1000000/1000000,webhook=1000000/1000000"},
        };
        for (const auto& [k, v] : env_) env[k] = v;
        process_.start(binary_dir() + "/tools/tallyd", {}, env, data_dir_ + "/tallyd.log");
        http::Client client("127.0.0.1", port_);
        bool port_taken = false;
        const bool up = eventually(
            [&] {
                if (client.request("GET", "/healthz").status == 200) return true;
                port_taken = process_.log().find("http: cannot listen on") != std::string::npos;
                return port_taken;
            },
            std::chrono::seconds(30));
        if (up && !port_taken) return;
        if (!port_taken || attempt == 3) throw std::runtime_error("tallyd did not come up:\n" + process_.log());
        kill9();
    }
}

void Tallyd::kill9() {
    process_.signal(SIGKILL);
    process_.wait();
}

void Tallyd::signal(int sig) { process_.signal(sig); }

int Tallyd::stop() {
    process_.signal(SIGTERM);
    return process_.wait();
}

Broker::Broker() {
    char tmpl[] = "/tmp/tally-broker-XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    process_.start(binary_dir() + "/tools/tally-broker", {"--partitions", "3"}, {}, dir + "/broker.log");
    eventually([&] {
        std::istringstream lines(process_.log());
        for (std::string line; std::getline(lines, line);)
            if (line.rfind("127.0.0.1:", 0) == 0) {
                bootstraps_ = line;
                return true;
            }
        return false;
    }, std::chrono::seconds(10));
    if (bootstraps_.empty()) throw std::runtime_error("tally-broker did not start");
}

Broker::~Broker() {
    process_.signal(SIGTERM);
    process_.wait();
}

bool reconciled_and_settled(const std::string& pg_url, std::string& out) {
    // The head the last clean run reached, per database: settled once two runs in a row
    // reach the same head (workers such as the provider's may still append after the
    // first, and a projector then rewrites what it covers).
    static std::mutex mu;
    static std::map<std::string, std::string> last_head;
    if (run_replay(pg_url, "reconcile", out) != 0 || out.find("pending") != std::string::npos) return false;
    const auto at = out.find("reconciled up to position ");
    const std::string head = at == std::string::npos ? "" : out.substr(at, out.find(':', at) - at);
    std::lock_guard lock(mu);
    const bool same = !head.empty() && last_head[pg_url] == head;
    last_head[pg_url] = head;
    return same;
}

int run_replay(const std::string& pg_url, const std::string& command, std::string& out) {
    return run_replay(pg_url, std::vector<std::string>{command}, out);
}

ToolRun run_tool(const std::string& name, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env) {
    static std::atomic<int> seq{0};
    Process tool;
    const std::string log = "/tmp/" + name + "-" + std::to_string(::getpid()) + "-" + std::to_string(seq++) + ".log";
    tool.start(binary_dir() + "/tools/" + name, args, env, log);
    ToolRun run;
    run.status = tool.wait();
    run.out = tool.log();
    return run;
}

int run_replay(const std::string& pg_url, const std::vector<std::string>& args, std::string& out) {
    auto run = run_tool("tally-replay", args, {{"TALLY_PG_URL", pg_url}});
    out = std::move(run.out);
    return run.status;
}

const std::vector<std::pair<std::string, std::vector<std::string>>>& projection_tables() {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> models = {
        {"credit", {"credit_balances", "credit_entries"}},
        {"ledger", {"ledger_accounts"}},
        {"orders", {"orders", "sub_orders", "order_payment_intents", "provider_flags"}},
        {"loyalty", {"loyalty_standings", "loyalty_holds", "loyalty_history"}},
        {"passport",
         {"passport_orders", "passport_lines", "passport_stamps", "passport_stamp_orders", "passport_stamp_products",
          "passport_counts"}},
        {"affiliates", {"affiliates", "affiliate_conversions", "affiliate_payouts"}},
        {"catalog", {"catalog_vendors", "catalog_products", "catalog_stock", "catalog_coupons"}},
        {"subscriptions", {"subscriptions", "subscription_renewals"}}};
    return models;
}

}  // namespace tally::testing
