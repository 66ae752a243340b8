#pragma once
// The OpenAPI 3.1 document of the API, served at GET /openapi.json. It is built from the
// route table (http/routes.cpp: paths, methods, callers, query parameters, idempotency,
// success and problem statuses), the protobuf descriptors of the request messages (read
// strictly by parse_json_message, so unknown fields are refused) and
// http/openapi/schemas.json (the response bodies, the hand-read request bodies, the problem
// document and the examples), so dispatch and documentation come from one place.

#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http/routes.h"

namespace tally::http {

nlohmann::json openapi_document();

// Every status a route may answer: its success, its own problems, and those its gate, its
// body, its path and query parameters and the database bring.
std::set<int> documented_statuses(const Route& route);

// http/openapi/schemas.json, embedded at build time.
std::string_view openapi_schemas_json();

}  // namespace tally::http
