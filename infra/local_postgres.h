#pragma once
// The embedded default database: a private PostgreSQL cluster under a data
// directory (initdb on first use, pg_ctl start/stop), listening on 127.0.0.1.

#include <expected>
#include <string>

namespace tally::infra {

class LocalPostgres {
public:
    // dir: where the cluster lives (created if missing); port: its TCP port.
    LocalPostgres(std::string dir, int port);
    ~LocalPostgres();  // stops the cluster if this object started it

    // Initialises (once) and starts the cluster; returns a connection URL.
    std::expected<std::string, std::string> start();
    void stop();

private:
    std::string run_as_owner(const std::string& command) const;
    std::string dir_;
    int port_;
    bool started_ = false;
};

}  // namespace tally::infra
