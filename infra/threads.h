#pragma once
// Threads carry names (up to 15 bytes, as the kernel keeps them), so /proc/PID/task/*/comm,
// top -H, gdb and tools/bench/idle show which of tallyd's loops costs what.

#include <pthread.h>

#include <string>
#include <string_view>

namespace tally::infra {

inline void name_this_thread(std::string_view name) {
    std::string n(name.substr(0, 15));
    ::pthread_setname_np(::pthread_self(), n.c_str());
}

}  // namespace tally::infra
