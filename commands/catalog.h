#pragma once
// Catalog command handlers: define vendors and products, adjust stock. Who may
// act is decided in the batch on the fresh principal: admins; employees holding
// catalog.manage; a vendor only for its own products (a vendor principal's id is
// its vendor id).

#include <memory>

#include "commands/pipeline.h"
#include "tally/v1/customer.pb.h"
#include "tally/v1/catalog.pb.h"

namespace tally::commands {

std::unique_ptr<Command> define_vendor(v1::VendorDefinition def);
std::unique_ptr<Command> define_product(v1::ProductDefinition def);
std::unique_ptr<Command> adjust_stock(std::string sku, int64_t delta, std::string reason);
std::unique_ptr<Command> define_settings(v1::CatalogSettings settings);
std::unique_ptr<Command> define_coupon(v1::CouponDefinition def);
// A customer's profile: wholesale eligibility (admins, employees with customers.manage),
// the leaderboard name and opt-in (those, or the customer). Only the fields `change` has
// are changed.
std::unique_ptr<Command> set_customer_profile(v1::CustomerProfile change);
// A vendor grants (or withdraws) wholesale pricing on its own products to one customer:
// the vendor itself, admins, employees with catalog.manage.
std::unique_ptr<Command> grant_wholesale(std::string vendor_id, std::string customer_id, bool granted);

}  // namespace tally::commands
