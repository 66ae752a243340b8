#include "http/handler_pool.h"

#include "infra/threads.h"

namespace tally::http {

HandlerPool::HandlerPool(int threads, size_t queue_max, std::string name) : queue_max_(queue_max) {
    for (int i = 0; i < threads; ++i)
        threads_.emplace_back([this, name] {
            infra::name_this_thread(name);
            loop();
        });
}

HandlerPool::~HandlerPool() { stop(); }

bool HandlerPool::try_post(std::function<void()> job) {
    {
        std::lock_guard lock(mu_);
        if (stopping_ || jobs_.size() >= queue_max_) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
}

void HandlerPool::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

size_t HandlerPool::waiting() const {
    std::lock_guard lock(mu_);
    return jobs_.size();
}

void HandlerPool::loop() {
    while (true) {
        std::function<void()> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stopping, and nothing left
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();  // a job answers its own errors (the server wraps each in its last resort)
    }
}

}  // namespace tally::http
