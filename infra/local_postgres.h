#pragma once
// The embedded default database: a private PostgreSQL cluster under a data
// directory (initdb on first use, pg_ctl start/stop), listening on 127.0.0.1.
//
// Ownership: the tallyd holding `<dir>/owner.lock` (flock, released by the kernel when
// the process dies, however it dies) owns the cluster and stops it on exit. A cluster
// found running with the lock free was left by a crashed owner: it is taken over, and
// stopped on exit like one this process started. With the lock held by another live
// tallyd, the cluster is shared as a guest and left running.

#include <expected>
#include <string>

namespace tally::infra {

class LocalPostgres {
public:
    // dir: where the cluster lives (created if missing); port: its TCP port.
    LocalPostgres(std::string dir, int port);
    ~LocalPostgres();  // stops the cluster if this object owns it

    // Initialises (once) and starts the cluster; returns a connection URL.
    std::expected<std::string, std::string> start();
    void stop();
    bool owner() const { return started_; }

private:
    std::string run_as_owner(const std::string& command) const;
    std::string dir_;
    int port_;
    bool started_ = false;  // owned: stop() stops it
    int lock_fd_ = -1;
};

}  // namespace tally::infra
