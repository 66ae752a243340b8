#pragma once
// Loyalty tier state: loyalty_standings (spend and tier per customer and currency),
// loyalty_holds (open disputes holding a customer's tier) and loyalty_history (every
// tier change, newest first by position). Fed by the "loyalty-{customer}" events.

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> loyalty_projection();

}  // namespace tally::projectors
