#pragma once
// Asserts are for bugs, never for request data, and stay on in release builds.
//
// One exception: a reader of a log that may be damaged (the reconciler folding a stream
// through the domain's evolve functions) holds a ThrowOnBrokenInvariant while it folds,
// so an event that breaks a domain invariant (stock below zero, say) is reported as the
// log's fault instead of taking the auditor's process down.

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace tally::domain {

struct InvariantBroken : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline thread_local int throw_on_broken_invariant = 0;

// While one lives on this thread, a failed TALLY_ASSERT throws InvariantBroken.
class ThrowOnBrokenInvariant {
public:
    ThrowOnBrokenInvariant() { ++throw_on_broken_invariant; }
    ~ThrowOnBrokenInvariant() { --throw_on_broken_invariant; }
    ThrowOnBrokenInvariant(const ThrowOnBrokenInvariant&) = delete;
    ThrowOnBrokenInvariant& operator=(const ThrowOnBrokenInvariant&) = delete;
};

[[noreturn]] inline void assertion_failed(const char* cond, const char* file, int line, const std::string& message) {
    if (throw_on_broken_invariant > 0) throw InvariantBroken(message);
    std::fprintf(stderr, "TALLY_ASSERT(%s) failed at %s:%d: %s\n", cond, file, line, message.c_str());
    std::abort();
}

}  // namespace tally::domain

#define TALLY_ASSERT(cond, ...)                                                                     \
    do {                                                                                            \
        if (!(cond)) [[unlikely]]                                                                   \
            ::tally::domain::assertion_failed(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
    } while (0)
