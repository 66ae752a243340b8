#pragma once
// Operators' acts as events: a projection rebuilt, a dead letter sent back to the
// workers. Each is the command of the admin who did it (authorised on the fresh
// principal), appended like any other change, so the log says who did what and when.

#include <memory>

#include "commands/pipeline.h"
#include "tally/v1/operator.pb.h"

namespace tally::commands {

std::unique_ptr<Command> record_rebuild(v1::ProjectionRebuilt act);
// The provider-call planner applies it: the parked row goes back to pending.
std::unique_ptr<Command> retry_dead_letter(v1::DeadLetterRetried act);

}  // namespace tally::commands
