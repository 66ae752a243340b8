#pragma once
// Who runs a single-owner job, and the PostgreSQL advisory-lock keys the jobs take, named
// in one place. Keys are stable across builds and processes (never std::hash, which may
// differ between binaries), so every tallyd of a deployment contends for the same lock.

#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace tally::infra::locks {

inline constexpr int64_t kMigrations = 7263001;  // one migrator at a time
inline constexpr int64_t kRelay = 7263002;       // the relay's leader
inline constexpr int64_t kExpirySweep = 7263003; // the payment-window sweep
inline constexpr int64_t kRetierPass = 7263004;  // the loyalty re-tiering pass
inline constexpr int64_t kAffiliatePayouts = 7263005;  // the affiliate payout scheduler
inline constexpr int64_t kCheckpoints = 7263006;       // the signer of chain checkpoints
inline constexpr int64_t kReconcile = 7263007;         // the scheduled reconciliation
inline constexpr int64_t kRenewals = 7263008;          // the subscription renewal scheduler

// A projector's rebuild: 7263100 + a stable (FNV-1a) hash of its name, below 7363100.
inline int64_t projector_rebuild(std::string_view projector) {
    uint32_t h = 2166136261u;
    for (unsigned char c : projector) {
        h ^= c;
        h *= 16777619u;
    }
    return 7263100 + static_cast<int64_t>(h % 100000);
}

}  // namespace tally::infra::locks

namespace tally::infra {

// This process as ownership lists show it: "host:pid".
inline std::string process_name() {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    return std::string(host) + ":" + std::to_string(::getpid());
}

}  // namespace tally::infra
