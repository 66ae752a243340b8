// The rebuildable projections by name (declared in runner.h).
#include "projectors/affiliates_projection.h"
#include "projectors/catalog_projection.h"
#include "projectors/credit_projection.h"
#include "projectors/ledger_projection.h"
#include "projectors/loyalty_projection.h"
#include "projectors/orders_projection.h"
#include "projectors/passport_projection.h"
#include "projectors/runner.h"
#include "projectors/subscriptions_projection.h"

namespace tally::projectors {

std::unique_ptr<Projection> rebuildable_projection(const std::string& name) {
    if (name == "credit") return credit_projection();
    if (name == "ledger") return ledger_projection();
    if (name == "orders") return orders_projection();
    if (name == "loyalty") return loyalty_projection();
    if (name == "passport") return passport_projection();
    if (name == "affiliates") return affiliates_projection();
    if (name == "catalog") return catalog_projection();
    if (name == "subscriptions") return subscriptions_projection();
    return nullptr;
}

}  // namespace tally::projectors
