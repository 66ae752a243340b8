#pragma once
// Helpers that drive the write path directly (no HTTP): submit grants, wait for answers.

#include <future>
#include <string>

#include "commands/credit.h"
#include "commands/pipeline.h"

namespace tally::testing {

inline commands::Submission grant_submission(const std::string& principal, const std::string& key,
                                             const std::string& customer, int64_t minor,
                                             std::promise<commands::Outcome>& answer, const char* currency = "USD") {
    commands::Submission s;
    s.claims = {principal, "admin", 1};
    s.idempotency_key = key;
    s.body_hash = customer + ":" + std::to_string(minor) + ":" + currency;
    s.correlation_id = "test";
    s.command = commands::grant_credit(
        credit::GrantCredit{"", customer, Money{minor, *Currency::parse(currency)}, "test", principal});
    s.done = [&answer](commands::Outcome o) { answer.set_value(std::move(o)); };
    return s;
}

}  // namespace tally::testing
