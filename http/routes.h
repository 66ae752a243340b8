#pragma once
// The route table: every route the API answers, with its method, path pattern, how the
// caller proves who it is, who passes the first authorisation check, and its handler.
// Dispatch, the first check, the metrics' route labels, the README's access table and
// the route x role test all come from it (routes.cpp holds the table).
//
// The first check looks at the verified token's role, and for an employee at the
// permissions of the principal as it is now (read fresh). Ownership (a vendor's own
// product, a customer's own order) and the fresh principal behind every other role are
// checked afterwards, by the handler or in the command's batch.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::http {

class Api;
class Call;

// How a caller proves who it is.
enum class Gate {
    open,            // nobody needs to (health, metrics, public keys)
    signature,       // the payment provider signs the body; no bearer token
    optional_token,  // a token is optional, and refused when bad
    token,           // a valid bearer token
};

// Whether a route takes an Idempotency-Key header.
enum class Idempotency { none, required, optional };

// What the OpenAPI document (http/openapi.h) says of a route, declared with it.
struct RouteDoc {
    std::string_view summary{};
    // The request body's schema: a protobuf message ("tally.v1.CartRequest", read strictly
    // from its descriptor) or a schema of http/openapi/schemas.json; empty: no body.
    std::string_view request{};
    bool body_optional = false;  // the body may be left out (an operator act's reason)
    // The success body's schema (http/openapi/schemas.json); empty: a text answer.
    std::string_view response{};
    int status = 200;  // the success status
    // Other successes, each with its body's schema: a checkout of a cart already placed
    // (200, the order it placed), a principal changed rather than created (200).
    std::vector<std::pair<int, std::string_view>> also{};
    Idempotency idempotency = Idempotency::none;
    std::vector<std::string_view> query{};  // the query parameters it reads
    // Its own problem statuses; those of its gate (401, 403, 429), a body (400, 413, 415,
    // 422), path and query parameters (400) and the server (500, 503) are added by the
    // document (documented_statuses).
    std::vector<int> errors{};
};

struct Route {
    std::string_view method;
    std::string_view pattern;  // "/v1/customers/{customer}/credit": {name} matches one segment
    Gate gate = Gate::token;
    // Token roles that pass the first check ("employee" is never listed: employees pass
    // by permission).
    std::vector<std::string_view> roles;
    // An employee passes holding any of these (`.manage` implies `.view`).
    std::vector<std::string_view> permissions;
    bool (Api::*handler)(Call&) = nullptr;
    RouteDoc doc;
};

// The roles a token may name (domain/principal.h).
const std::vector<std::string_view>& token_roles();

// Whether a path matches a pattern segment by segment; {name} matches any one
// non-empty segment.
bool pattern_matches(std::string_view pattern, const std::vector<std::string>& parts);

// The route for a method and path: the most specific pattern (fewest {params}) that
// matches; nullopt with `allowed` set to the methods the path has when only the method is
// wrong, or empty when nothing matches the path.
const Route* find_route(const std::vector<Route>& table, std::string_view method, const std::vector<std::string>& parts,
                        std::string* allowed);

// The route for a method and request target (path and query), or null.
const Route* match_route(std::string_view method, std::string_view target);
// The pattern of the route a request's path names (for metrics), or "other".
std::string route_pattern(std::string_view method, std::string_view target);

// The first check for a token role and, for employees, the principal's permissions.
bool passes_first_check(const Route& route, std::string_view role, const std::vector<std::string>& permissions);

// A Markdown table of every route: method and path, how the caller proves itself, and who
// passes the first check. README.md holds it between `<!-- routes:begin -->` and
// `<!-- routes:end -->`; a test keeps the two equal.
std::string access_table_markdown();

}  // namespace tally::http
