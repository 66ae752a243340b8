#pragma once
// The catalog as storefronts read it: `catalog_vendors`, `catalog_products` (each
// definition as its latest VendorDefined/ProductDefined carried it, with the vendor and
// country of origin beside it for the filtered keyset pages), `catalog_stock` (units
// available, from each stock event's `available_after`) and `catalog_coupons` (each
// definition and its uses: CouponRedeemed adds one, CouponReleased gives one back).
// Rebuildable from the log like every projection.

#include <memory>

#include "projectors/projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> catalog_projection();

}  // namespace tally::projectors
