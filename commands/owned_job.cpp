#include "commands/owned_job.h"

#include <spdlog/spdlog.h>

#include "infra/threads.h"

namespace tally::commands {

OwnedJob::OwnedJob(sql::Pool& pool, int64_t lock_key, std::string name, std::string doing, int64_t interval_ms)
    : lock_(pool.url(), lock_key), name_(std::move(name)), doing_(std::move(doing)), interval_ms_(interval_ms) {}

OwnedJob::~OwnedJob() { stop(); }

void OwnedJob::start() {
    thread_ = std::thread([this] {
        infra::name_this_thread(name_);
        while (!stopping_) {
            if (run_once()) continue;
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [&] { return stopping_.load(); });
        }
        lock_.release();  // for another process
        owner_ = false;
    });
}

void OwnedJob::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool OwnedJob::take_ownership() {
    auto held = lock_.try_acquire();
    const bool now_owner = held && *held;
    if (now_owner && !owner_) spdlog::info("{}: this process {}", name_, doing_);
    if (!now_owner && owner_) spdlog::warn("{}: lost the lock's session; no longer the owner", name_);
    owner_ = now_owner;
    return owner_;
}

}  // namespace tally::commands
