#pragma once
// Principals: who may call tally. One role each; employees hold `<resource>.<action>`
// permissions (`.manage` implies `.view`), filled one by one or from a department preset.
// Pure rules: what a record may hold, who may change it, and when a change revokes every
// earlier token (DOMAIN.md, People and roles).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/v1/principal.pb.h"

namespace tally::principal {

std::string stream_id(std::string_view principal_id);  // "principal-{id}"
inline constexpr std::string_view kStreamPrefix = "principal-";

// The roles a principal (and its tokens) may hold.
const std::vector<std::string_view>& roles();
bool is_role(std::string_view role);
// Every permission an employee may hold, and the financial ones among them (money
// configuration and movement: commission, fees, credit caps, payouts, the ledger).
const std::vector<std::string_view>& permissions();
bool is_permission(std::string_view permission);
bool is_financial(std::string_view permission);

// `resource.action` held, where `.manage` implies `.view`.
bool holds(const std::vector<std::string>& held, std::string_view resource, std::string_view action);
bool holds(const std::vector<std::string>& held, std::string_view permission);

// A department's permission set, as data: GET /v1/permission-presets serves them.
struct Preset {
    std::string_view name;     // "Customer Support"
    std::string_view key;      // "customer_support": what a request names
    std::string_view purpose;  // one sentence
    std::vector<std::string_view> permissions;
};
const std::vector<Preset>& presets();
const Preset* find_preset(std::string_view key);

struct Refusal {
    bool forbidden = false;  // the actor may not (403); else the request is wrong (422)
    std::string code;
    std::string detail;
    std::string field = {};
};

// The shape of a wanted record: a known role; permissions known, unique and only for
// employees; a preset only for employees, and then exactly its permissions; a display name
// and an e-mail address that fit.
std::optional<Refusal> check_record(const v1::PrincipalRecord& wanted);

// Whether the actor (its role and, for an employee, its permissions as they are now) may
// set `wanted` over `current` (null: a new principal). Admins and the system may set any
// record. An employee with `staff.manage` may set employees and customers, granting only
// permissions it holds itself, and may change only principals it could have set.
std::optional<Refusal> may_set(std::string_view actor_role, const std::vector<std::string>& actor_permissions,
                               const v1::PrincipalRecord* current, const v1::PrincipalRecord& wanted);
// Whether the actor may revoke the tokens of `current` (the same reach as may_set).
std::optional<Refusal> may_revoke(std::string_view actor_role, const std::vector<std::string>& actor_permissions,
                                  const v1::PrincipalRecord& current);

// The record to store: `wanted` with the session version carried over from `current`,
// bumped when the role changes or an active principal is disabled (`revoked` says so,
// and tokens without a version issued up to `now_unix_s` stop working too).
v1::PrincipalRecord next_record(const v1::PrincipalRecord* current, v1::PrincipalRecord wanted, int64_t now_unix_s,
                                bool& revoked);
// Every earlier token stops working: the next session version, and no token without one
// issued up to `now_unix_s`.
void revoke_sessions(v1::PrincipalRecord& record, int64_t now_unix_s);

// The record after each event of its stream (what the write path stored, folded again by
// reconciliation): a definition is the whole record; a revocation takes the new session
// version, and tokens without one count from the second after it (`at_unix_ms`: the event's).
void evolve(v1::PrincipalRecord& record, const v1::PrincipalDefined& e);
void evolve(v1::PrincipalRecord& record, const v1::PrincipalSessionsRevoked& e, int64_t at_unix_ms);

}  // namespace tally::principal
