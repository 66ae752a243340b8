#pragma once
// Store-credit command handlers: load the account, call domain decide, emit events.

#include <memory>
#include <string>

#include "commands/pipeline.h"
#include "domain/credit.h"

namespace tally::commands {

// REQUIRES: cmd has a valid currency (http/ validates the DTO). The caps are the policy
// finance set (stream "policy-credit"), read in the batch.
std::unique_ptr<Command> grant_credit(credit::GrantCredit cmd);
// PUT /v1/credit/policy: admins and finance.manage (CreditPolicySet).
std::unique_ptr<Command> set_credit_policy(int64_t grant_max_minor, int64_t balance_max_minor, std::string reason);
// A claw-back: admins and finance.manage; never below zero (CreditReversed, posted).
std::unique_ptr<Command> reverse_credit(credit::ReverseCredit cmd);

}  // namespace tally::commands
