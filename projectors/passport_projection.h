#pragma once
// Passports: passport_orders/passport_lines (each order's purchases, folded from its
// facts); passport_stamps with passport_stamp_orders and passport_stamp_products (moved
// by each touched order's passport::stamp_changes, never recomputed from a customer's
// history); passport_counts (from the customer's stamps, for those whose stamps moved);
// passport_profiles (leaderboard names and opt-ins).

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> passport_projection();

}  // namespace tally::projectors
