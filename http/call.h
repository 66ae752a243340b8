#pragma once
// One HTTP request being answered, and the helpers every route uses: problems,
// the fresh principal, the Idempotency-Key, strict JSON bodies, command submission.
// Internal to http/.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "commands/pipeline.h"
#include "http/api.h"
#include "infra/journal.h"

namespace tally::http {

int status_of(commands::RejectionKind k);
Response json_response(int status, const nlohmann::json& body);
// A non-negative integer query parameter no larger than `max`; `fallback` when absent.
std::optional<int64_t> parse_count(const std::map<std::string, std::string>& q, const std::string& name,
                                   int64_t fallback, int64_t max);

// What the pipeline re-checks in the batch: the token's principal, role and session.
inline commands::Claims command_claims(const TokenClaims& c) {
    return {c.sub, c.role, c.session_version, c.external, c.issued_at};
}

struct Caller {
    TokenClaims claims;
    journal::Principal principal;  // fresh
};

// Who reads a customer's own records: the customer, admins, auditors, and employees with
// `{resource}.view` (or `.manage`).
bool reads_customer(const Caller& caller, const std::string& customer_id, const std::string& resource);

// A keyset page body: {key: the first `limit` rows rendered, "next_cursor": the id (column
// 0) of the last row shown when more followed, else null}. The query asks for limit + 1 rows.
nlohmann::json keyset_page(const std::string& key, const sql::Rows& rows, int64_t limit,
                           const std::function<nlohmann::json(const sql::Row&)>& render);

class Call {
public:
    Call(const Request& request, Respond respond, const ApiDeps& deps);

    const Request& req;
    const Respond respond;
    std::string path;                          // without the query
    std::vector<std::string> parts;            // path segments: "/v1/orders/x" -> v1, orders, x
    std::map<std::string, std::string> query;
    TokenClaims claims;                        // the verified bearer token (routes under /v1)

    // Each answers the request and returns true ("handled"), so routes can `return c.fail(...)`.
    bool fail(int status, const std::string& code, const std::string& detail, const std::string& field = "") const;
    bool reply(Response r) const;
    // Answers `r` with an ETag over its body and `Cache-Control: no-cache`, or 304 with no
    // body when If-None-Match already names that tag (one of a list, weak or strong, or *).
    bool reply_revalidated(Response r) const;
    bool storage_unavailable(const sql::DbError& e) const;  // 503; the details go to the log
    bool method_not_allowed(const std::string& allowed) const;  // 405 with Allow
    bool unauthenticated(const std::string& code, const std::string& detail, bool token_given) const;  // 401 with WWW-Authenticate
    bool reply_json(int status, const nlohmann::json& body) const;
    // Submits a command as the token's principal; the answer comes after its batch commits.
    // `decorate` may add headers to a successful answer (replays included).
    bool submit(std::unique_ptr<commands::Command> command, const std::string& key,
                std::function<void(Response&)> decorate = {}) const;
    bool submit_as(const commands::Claims& as, std::unique_ptr<commands::Command> command,
                   const std::string& key, std::string body_hash, std::function<void(Response&)> decorate = {}) const;

    // Each answers a problem itself and returns nothing when it fails.
    std::optional<Caller> fresh_caller() const;             // the principal as it is now (read once)
    // An identity provider's token names only its principal: read it, check it backs the
    // token (active, not revoked since iat, a role the API serves) and take its role and
    // session version into `claims`. False: refused (answered).
    bool adopt_principal();
    // A GET of a customer's own record (credit, loyalty, passport): the method, the id and
    // the fresh caller's right to it (reads_customer with `resource`). False: answered.
    bool customer_read(const std::string& customer_id, const std::string& resource, const std::string& what) const;
    std::optional<std::string> idempotency_key() const;     // commands need one
    // A keyset page over ids: ?limit= (0..500, 50 by default) and ?cursor= (the last id of
    // the previous page).
    struct IdPage {
        int64_t limit = 50;
        std::string after;
    };
    std::optional<IdPage> id_page() const;
    bool parse_message(google::protobuf::Message& msg) const;  // false: answered 400/422


private:
    const ApiDeps& deps_;
    mutable std::optional<Caller> caller_;  // read once per request
};

}  // namespace tally::http
