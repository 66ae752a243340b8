#pragma once
// Passports: passport_orders/passport_lines (each order's purchases, folded from its
// facts), passport_stamps and passport_counts (recomputed for every customer a batch
// touches, by domain/passport.h), passport_profiles (leaderboard names and opt-ins).

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> passport_projection();

}  // namespace tally::projectors
