#pragma once
// What a journal entry tells the passport of an order (domain/passport.h): the order it
// is about and the fact, or nothing. Shared by the passport projector and tally-replay,
// so the read model and the auditor's recomputation read the log the same way.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/passport.h"
#include "events/registry.h"
#include "tally/v1/envelope.pb.h"

namespace tally::events {

std::vector<std::pair<std::string, passport::Fact>> passport_facts(const v1::EventEnvelope& e);
// The same, reusing what ledger_facts(e) decoded (a reader that wants both decodes once).
std::vector<std::pair<std::string, passport::Fact>> passport_facts(const v1::EventEnvelope& e, const LedgerFacts& facts);

}  // namespace tally::events
