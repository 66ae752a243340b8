#pragma once
// A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) writes the signal, the
// thread and a backtrace to stderr before the process dies as it would have, so a
// crash seen once (in CI, in production) can be placed without a core dump. Frames
// print as `binary(+offset)`: `addr2line -Cfe binary offset` names the line.

namespace tally::infra {

// Idempotent; call first thing in main (tests: the support library installs it).
void report_fatal_signals();

}  // namespace tally::infra
