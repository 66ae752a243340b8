#pragma once
// Claiming a guest's orders: an admin attaches the orders a storefront placed for a guest
// (an e-mail address, no account) to a registered customer. One batch locks the guest's
// stream and each order it attaches: GuestClaimed on the guest, OrderClaimed on each
// order (its owner from then on: who reads it, cancels it, and receives store credit
// given back). The ledger's receivable stays with the guest it was placed for.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commands/pipeline.h"

namespace tally::commands {

struct GuestClaim {
    std::string guest_id;
    std::string customer_id;
    std::vector<std::string> order_ids;  // the guest's unclaimed orders, read before the batch
};

// Admins only. Refused: unknown_guest (422), nothing_to_claim (409); a guest order placed
// or claimed since the read: retry (503).
std::unique_ptr<Command> claim_guest(GuestClaim claim);

// The guest's orders not yet claimed, from its stream's snapshot.
std::vector<std::string> unclaimed_orders(std::string_view guest_state);

}  // namespace tally::commands
