#pragma once
// Store-credit command handlers: load the account, call domain decide, emit events.

#include <memory>

#include "commands/pipeline.h"
#include "domain/credit.h"

namespace tally::commands {

// REQUIRES: cmd has a valid currency (http/ validates the DTO).
std::unique_ptr<Command> grant_credit(credit::GrantCredit cmd, credit::CreditPolicy policy);

}  // namespace tally::commands
