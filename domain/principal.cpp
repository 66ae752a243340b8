#include "domain/principal.h"

#include <algorithm>
#include <set>

namespace tally::principal {

std::string stream_id(std::string_view principal_id) { return std::string(kStreamPrefix) + std::string(principal_id); }

const std::vector<std::string_view>& roles() {
    static const std::vector<std::string_view> r{"admin", "employee", "vendor", "affiliate", "customer", "auditor",
                                                 "storefront"};
    return r;
}

bool is_role(std::string_view role) { return std::find(roles().begin(), roles().end(), role) != roles().end(); }

const std::vector<std::string_view>& permissions() {
    static const std::vector<std::string_view> p{
        "catalog.view",   "catalog.manage",  "orders.view",    "orders.manage",  "customers.view",
        "customers.manage", "credit.view",   "credit.manage",  "loyalty.view",   "loyalty.manage",
        "affiliates.view", "affiliates.manage", "operator.view", "staff.view",    "staff.manage",
        "finance.view",   "finance.manage",  "payouts.view",   "payouts.manage"};
    return p;
}

bool is_permission(std::string_view permission) {
    return std::find(permissions().begin(), permissions().end(), permission) != permissions().end();
}

bool is_financial(std::string_view permission) {
    return permission.starts_with("finance.") || permission.starts_with("payouts.") || permission == "credit.manage";
}

bool holds(const std::vector<std::string>& held, std::string_view resource, std::string_view action) {
    for (const auto& p : held) {
        if (!p.starts_with(resource) || p.size() <= resource.size() || p[resource.size()] != '.') continue;
        const std::string_view a = std::string_view(p).substr(resource.size() + 1);
        if (a == action || (action == "view" && a == "manage")) return true;
    }
    return false;
}

bool holds(const std::vector<std::string>& held, std::string_view permission) {
    const auto dot = permission.find('.');
    if (dot == std::string_view::npos) return false;
    return holds(held, permission.substr(0, dot), permission.substr(dot + 1));
}

const std::vector<Preset>& presets() {
    static const std::vector<Preset> p{
        {"Developer", "developer", "Builds on the API: reads the catalog, orders and the operators' views.",
         {"catalog.view", "orders.view", "operator.view"}},
        {"Marketing", "marketing", "Runs affiliates and reads customers, loyalty and the catalog.",
         {"affiliates.manage", "customers.view", "loyalty.view", "catalog.view"}},
        {"Accounting", "accounting",
         "Owns the money settings: commission, fees, credit caps and reversals, payouts; reads orders and the ledger.",
         {"finance.manage", "payouts.manage", "credit.manage", "orders.view", "customers.view", "affiliates.view"}},
        {"Social Media", "social_media", "Reads the catalog, customers' public standing and affiliates.",
         {"catalog.view", "customers.view", "affiliates.view"}},
        {"Customer Support", "customer_support", "Changes orders and customer profiles; reads credit and loyalty.",
         {"orders.manage", "customers.manage", "credit.view", "loyalty.view"}},
        {"Operations", "operations",
         "Sees everything and runs the catalog and orders, but holds no financial permission.",
         {"catalog.manage", "orders.manage", "customers.view", "credit.view", "loyalty.view", "affiliates.view",
          "operator.view", "staff.view"}},
        {"Content", "content", "Keeps products, stock and coupons.", {"catalog.manage"}},
    };
    return p;
}

const Preset* find_preset(std::string_view key) {
    for (const auto& p : presets())
        if (p.key == key) return &p;
    return nullptr;
}

namespace {

bool printable(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
}

bool plausible_email(std::string_view e) {
    const auto at = e.find('@');
    return e.size() <= 254 && at != std::string_view::npos && at > 0 && at + 1 < e.size() &&
           e.find('@', at + 1) == std::string_view::npos && e.find(' ') == std::string_view::npos && printable(e);
}

// An employee with staff.manage reaches employees whose every permission it holds, and
// customers; admins reach everyone.
bool reaches(const std::vector<std::string>& actor_permissions, const v1::PrincipalRecord& r) {
    if (r.role() == "customer") return true;
    if (r.role() != "employee") return false;
    return std::all_of(r.permissions().begin(), r.permissions().end(),
                       [&](const std::string& p) { return holds(actor_permissions, p); });
}

std::optional<Refusal> may_act(std::string_view actor_role, const std::vector<std::string>& actor_permissions,
                               const v1::PrincipalRecord* current, const v1::PrincipalRecord* wanted) {
    if (actor_role == "admin" || actor_role == "system") return std::nullopt;
    if (actor_role != "employee" || !holds(actor_permissions, "staff", "manage"))
        return Refusal{true, "forbidden", "only admins and employees with staff.manage change principals"};
    if (current && !reaches(actor_permissions, *current))
        return Refusal{true, "forbidden",
                       "principal " + current->principal_id() + " is a " + current->role() +
                           (current->role() == "employee" ? " holding permissions you do not" : "") +
                           ": only an admin changes it"};
    if (wanted) {
        if (wanted->role() != "employee" && wanted->role() != "customer")
            return Refusal{true, "forbidden", "employees with staff.manage set employees and customers; an admin sets a " +
                                                  wanted->role(), "role"};
        for (const auto& p : wanted->permissions())
            if (!holds(actor_permissions, p))
                return Refusal{true, "permission_not_held", "you may not grant " + p + ": you do not hold it",
                               "permissions"};
    }
    return std::nullopt;
}

}  // namespace

std::optional<Refusal> check_record(const v1::PrincipalRecord& w) {
    if (!is_role(w.role()))
        return Refusal{false, "invalid_value",
                       "role must be one of admin, employee, vendor, affiliate, customer, auditor, storefront", "role"};
    std::set<std::string> seen;
    for (const auto& p : w.permissions()) {
        if (!is_permission(p)) return Refusal{false, "unknown_permission", "no permission " + p, "permissions"};
        if (!seen.insert(p).second) return Refusal{false, "invalid_value", p + " is listed twice", "permissions"};
    }
    if (w.role() != "employee" && (w.permissions_size() > 0 || !w.preset().empty()))
        return Refusal{false, "invalid_value", "only employees hold permissions; a " + w.role() + " holds its role",
                       w.preset().empty() ? "permissions" : "preset"};
    if (!w.preset().empty()) {
        const Preset* preset = find_preset(w.preset());
        if (!preset) return Refusal{false, "unknown_preset", "no department preset " + w.preset(), "preset"};
        std::set<std::string> want(preset->permissions.begin(), preset->permissions.end());
        if (want != seen)
            return Refusal{false, "invalid_value", "a preset's permissions are the preset's own", "permissions"};
    }
    if (w.display_name().size() > 100 || !printable(w.display_name()))
        return Refusal{false, "invalid_value", "display_name is at most 100 bytes, without control characters",
                       "display_name"};
    if (!w.email().empty() && !plausible_email(w.email()))
        return Refusal{false, "invalid_value", "email is not an e-mail address", "email"};
    return std::nullopt;
}

std::optional<Refusal> may_set(std::string_view actor_role, const std::vector<std::string>& actor_permissions,
                               const v1::PrincipalRecord* current, const v1::PrincipalRecord& wanted) {
    return may_act(actor_role, actor_permissions, current, &wanted);
}

std::optional<Refusal> may_revoke(std::string_view actor_role, const std::vector<std::string>& actor_permissions,
                                  const v1::PrincipalRecord& current) {
    return may_act(actor_role, actor_permissions, &current, nullptr);
}

v1::PrincipalRecord next_record(const v1::PrincipalRecord* current, v1::PrincipalRecord wanted, int64_t now_unix_s,
                                bool& revoked) {
    std::sort(wanted.mutable_permissions()->begin(), wanted.mutable_permissions()->end());
    const int64_t version = current ? current->session_version() : 1;
    revoked = current && (current->role() != wanted.role() || (current->active() && !wanted.active()));
    wanted.set_session_version(revoked ? version + 1 : version);
    wanted.set_sessions_since_unix_s(revoked ? now_unix_s + 1 : current ? current->sessions_since_unix_s() : 0);
    return wanted;
}

void revoke_sessions(v1::PrincipalRecord& record, int64_t now_unix_s) {
    record.set_session_version(record.session_version() + 1);
    record.set_sessions_since_unix_s(now_unix_s + 1);
}

void evolve(v1::PrincipalRecord& record, const v1::PrincipalDefined& e) { record = e.record(); }

void evolve(v1::PrincipalRecord& record, const v1::PrincipalSessionsRevoked& e, int64_t at_unix_ms) {
    record.set_session_version(e.session_version());
    record.set_sessions_since_unix_s(at_unix_ms / 1000 + 1);
}

}  // namespace tally::principal
