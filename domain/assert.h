#pragma once
// Asserts are for bugs, never for request data, and stay on in release builds.

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#define TALLY_ASSERT(cond, ...)                                                              \
    do {                                                                                     \
        if (!(cond)) [[unlikely]] {                                                          \
            std::fprintf(stderr, "TALLY_ASSERT(%s) failed at %s:%d: %s\n", #cond, __FILE__, \
                         __LINE__, fmt::format(__VA_ARGS__).c_str());                        \
            std::abort();                                                                    \
        }                                                                                    \
    } while (0)
