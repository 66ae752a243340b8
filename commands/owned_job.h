#pragma once
// A background job one process runs at a time (DESIGN.md: every background job has one
// fenced owner). It holds a PostgreSQL session-level advisory lock (infra/ownership.h)
// while it works; a process that does not hold it does nothing, and takes it over when
// the holder's session ends, however its process ended. The loop runs run_once() until
// it says nothing more is ready, then waits `interval_ms` (or until stopped); stopping
// gives the lock up for another process.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "infra/sql.h"

namespace tally::commands {

class OwnedJob {
public:
    // `name` and `doing` make the log lines: "{name}: this process {doing}".
    OwnedJob(sql::Pool& pool, int64_t lock_key, std::string name, std::string doing, int64_t interval_ms);
    virtual ~OwnedJob();  // REQUIRES: the derived class's destructor called stop()
    OwnedJob(const OwnedJob&) = delete;
    OwnedJob& operator=(const OwnedJob&) = delete;

    void start();
    void stop();
    bool owner() const { return owner_.load(); }

protected:
    // True when this process owns the job now (taking the lock when it is free).
    bool take_ownership();
    // The lock's own session: writes through it prove the lock still held. REQUIRES: owner.
    sql::Session& lock_session() { return lock_.session(); }
    // One step of the job; true when more is ready now (the loop runs it again at once).
    virtual bool run_once() = 0;

private:
    sql::SessionLock lock_;
    std::string name_, doing_;
    int64_t interval_ms_;
    std::atomic<bool> owner_{false};
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::thread thread_;
};

}  // namespace tally::commands
