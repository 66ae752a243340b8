#include "infra/crash.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace tally::infra {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

void write_all(const char* s, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(STDERR_FILENO, s, n);
        if (w <= 0) return;
        s += w;
        n -= static_cast<size_t>(w);
    }
}
void write_str(const char* s) { write_all(s, std::strlen(s)); }
// No snprintf in a signal handler.
void write_num(unsigned long u, unsigned base = 10) {
    char buf[24];
    size_t i = sizeof buf;
    do buf[--i] = "0123456789abcdef"[u % base]; while ((u /= base) && i > 0);
    if (base == 16) write_str("0x");
    write_all(buf + i, sizeof buf - i);
}

std::atomic<bool> g_reporting{false};

void on_fatal(int sig, siginfo_t* info, void*) {
    // One report: a second fatal signal (from another thread, or from this handler)
    // goes straight to the default action.
    if (!g_reporting.exchange(true)) {
        write_str("\n*** fatal signal ");
        write_num(static_cast<unsigned long>(sig));
        write_str(" (");
        write_str(sigdescr_np(sig) ? sigdescr_np(sig) : "?");
        write_str(") in thread ");
        write_num(static_cast<unsigned long>(::syscall(SYS_gettid)));
        if (sig == SIGSEGV || sig == SIGBUS) {
            write_str(", address ");
            write_num(reinterpret_cast<uintptr_t>(info->si_addr), 16);
        }
        write_str("; backtrace:\n");
        void* frames[64];
        int n = ::backtrace(frames, 64);
        ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
        write_str("***\n");
    }
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

}  // namespace

void report_fatal_signals() {
    static const bool installed = [] {
        // backtrace() loads libgcc on its first call, which may allocate: do it here,
        // not in the handler.
        void* warm[1];
        ::backtrace(warm, 1);
        // On the main thread the handler runs on its own stack, so a stack overflow
        // there is reported too.
        static char alt[64 * 1024];
        stack_t ss{};
        ss.ss_sp = alt;
        ss.ss_size = sizeof alt;
        ::sigaltstack(&ss, nullptr);
        struct sigaction sa {};
        sa.sa_sigaction = on_fatal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        for (int s : kSignals) ::sigaction(s, &sa, nullptr);
        return true;
    }();
    (void)installed;
}

}  // namespace tally::infra
