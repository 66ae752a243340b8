#include "http/api.h"

#include "http/call.h"

namespace tally::http {

bool Api::webhook_routes(Call&) { return false; }

bool Api::payment_routes(Call&) { return false; }

}  // namespace tally::http
