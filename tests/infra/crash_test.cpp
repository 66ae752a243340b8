// A fatal signal leaves a report on stderr: which signal, which thread, and frames
// that name the binary, before the process dies of the signal as it would have.
#include "infra/crash.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

namespace tally::infra {
namespace {

// The null store is the point: UBSan must not catch it before the signal does.
[[gnu::noinline, gnu::no_sanitize_undefined]] void touch(volatile int* p) { *p = 1; }

TEST(CrashReport, ASegfaultPrintsTheSignalAndABacktraceThenDiesOfIt) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            report_fatal_signals();
            touch(nullptr);
        },
        ::testing::KilledBySignal(SIGSEGV),
        "fatal signal 11 \\(Segmentation fault\\) in thread [0-9]+, address 0x0; backtrace:\n.*tally_unit_tests");
}

TEST(CrashReport, AnAbortOnAnotherThreadIsReported) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            report_fatal_signals();
            report_fatal_signals();  // idempotent
            std::thread([] { std::abort(); }).join();
        },
        ::testing::KilledBySignal(SIGABRT), "fatal signal 6 \\(Aborted\\)");
}

TEST(CrashReport, WithoutAFatalSignalNothingIsPrinted) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            report_fatal_signals();
            std::exit(3);
        },
        ::testing::ExitedWithCode(3), "^$");
}

}  // namespace
}  // namespace tally::infra
