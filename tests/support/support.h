#pragma once
// Test support: fresh databases on the test cluster that tools/test starts,
// child processes (tallyd, tally-broker), tokens, polling.

#include <chrono>
#include <climits>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace tally::testing {

// The test cluster's admin URL (TALLY_TEST_PG_URL). Aborts the test run if unset:
// integration tests never silently skip.
std::string admin_pg_url();

// Creates an empty database with every migration applied (or those up to a version);
// returns its URL.
// On the shared test cluster, or on the one `admin_url` (a URL of its `postgres` database) names.
std::string fresh_database(int migrations_up_to = INT_MAX, const std::string& admin_url = "");

// Where the built binaries live (tallyd, tally-broker, ...).
std::string binary_dir();

int free_port();

// Runs a shell command to its end: its exit status (-1 if it did not exit) and its output,
// stdout and stderr together.
std::pair<int, std::string> run_command(const std::string& command);

// Polls `pred` until it holds or the timeout passes; returns the last result.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The JWT key ring shared by tests and the tallyd processes they start.
inline constexpr const char* kTestJwtKeys = "test:0123456789abcdef0123456789abcdef,old:fedcba9876543210fedcba9876543210";

// Inserts (or updates) a principal and mints a token for it.
std::string token_for(const std::string& pg_url, const std::string& id, const std::string& role,
                      const std::string& permissions = "", int64_t ttl_seconds = 3600);
// Many principals of one role at once (one connection), and a token for each, in order.
std::vector<std::string> tokens_for(const std::string& pg_url, const std::vector<std::string>& ids, const std::string& role);

class Process {
public:
    Process() = default;
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    // Starts a child with extra environment variables; stdout+stderr go to log_path.
    void start(const std::string& path, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env, const std::string& log_path);
    void signal(int sig);
    int wait();  // exit status (128+signal when killed)
    bool running() const { return pid_ > 0; }
    std::string log() const;

private:
    pid_t pid_ = -1;
    std::string log_path_;
};

// A finished run of a tool: its exit status and its output (stdout and stderr together).
struct ToolRun {
    int status = -1;
    std::string out;
};
// Runs a built tool (`tools/{name}`) with the arguments and extra environment to its end.
ToolRun run_tool(const std::string& name, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env);
// `tally-replay reconcile` is clean with nothing pending, and reached the same journal head
// as the previous call for this database: every projector has applied every event and no
// worker is still appending, so none will rewrite a row a test edits next. Call it under
// `eventually`. Its output in `out`.
bool reconciled_and_settled(const std::string& pg_url, std::string& out);
// Runs `tally-replay {command}` against the database; its exit status, and its output in `out`.
int run_replay(const std::string& pg_url, const std::string& command, std::string& out);
int run_replay(const std::string& pg_url, const std::vector<std::string>& args, std::string& out);

// A running tallyd on a fresh port, against the given database and broker.
class Tallyd {
public:
    Tallyd(std::string pg_url, std::string brokers, std::map<std::string, std::string> extra_env = {});
    ~Tallyd();
    void start();          // waits for /healthz
    void kill9();
    int stop();            // SIGTERM, graceful; the exit status
    void signal(int sig);  // e.g. SIGSTOP / SIGCONT: a paused process (a zombie owner)
    bool running() const { return process_.running(); }
    int port() const { return port_; }
    std::string log() const { return process_.log(); }

private:
    std::string pg_url_, brokers_;
    std::map<std::string, std::string> env_;
    int port_ = 0;
    std::string data_dir_;
    Process process_;
};

// A standalone embedded broker (tally-broker) whose log outlives tallyd restarts.
class Broker {
public:
    Broker();
    ~Broker();
    const std::string& bootstraps() const { return bootstraps_; }

private:
    Process process_;
    std::string bootstraps_;
};

// Each rebuildable projector and the tables of its read model (for rebuild-equality checks).
const std::vector<std::pair<std::string, std::vector<std::string>>>& projection_tables();

}  // namespace tally::testing
