#pragma once
// TALLY_LOYALTY (default true): whether order commands move the owner's loyalty spend and
// tier in their batch. False, nothing of loyalty is locked or written: for a shop without a
// loyalty program, and for measuring the step's cost (BENCHMARKS.md). Payments made while
// it is off never count. Set once at startup, before any command is built.

namespace tally::commands {

void set_loyalty_enabled(bool on);
bool loyalty_enabled();

}  // namespace tally::commands
