#pragma once
// A property that must hold on every fuzz input: when it does not, say which and where,
// and abort so libFuzzer keeps the input as a crash.

#include <cstdio>
#include <cstdlib>

#define TALLY_FUZZ_CHECK(cond)                                                                  \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);    \
            std::abort();                                                                       \
        }                                                                                       \
    } while (0)
