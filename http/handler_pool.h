#pragma once
// Threads that run request handlers off the I/O threads (http/README.md, Threading): a
// handler's queries may take as long as the database makes them, and on an I/O thread that
// would stall every connection the thread serves. Bounded: when every thread is busy and
// the queue is full, `try_post` says no and the server answers 503 `overloaded` at once.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tally::http {

class HandlerPool {
public:
    // `name` names its threads (infra/threads.h).
    HandlerPool(int threads, size_t queue_max, std::string name = "handlers");
    ~HandlerPool();  // drains: what was accepted runs before the threads end
    HandlerPool(const HandlerPool&) = delete;
    HandlerPool& operator=(const HandlerPool&) = delete;

    // Queues `job` unless `queue_max` jobs already wait; false then (nothing queued).
    bool try_post(std::function<void()> job);
    // Runs what is queued, then ends the threads. Idempotent.
    void stop();
    size_t waiting() const;
    size_t capacity() const { return queue_max_; }

private:
    void loop();

    size_t queue_max_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace tally::http
