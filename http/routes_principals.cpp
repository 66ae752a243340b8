#include "http/api.h"

#include "commands/principals.h"
#include "domain/ids.h"
#include "domain/principal.h"
#include "events/envelope.h"
#include "http/call.h"
#include "infra/journal.h"
#include "infra/strings.h"
#include "tally/v1/principal.pb.h"

using nlohmann::json;

namespace tally::http {
namespace {

json row_json(const sql::Row& r) {
    json permissions = json::array();
    for (auto p : split(r.str(2), ','))
        if (!p.empty()) permissions.push_back(std::string(p));
    return {{"principal_id", r.str(0)},
            {"role", r.str(1)},
            {"permissions", permissions},
            {"preset", r.str(5).empty() ? json(nullptr) : json(r.str(5))},
            {"display_name", r.str(6)},
            {"email", r.str(7)},
            {"active", r.boolean(4)},
            {"session_version", r.i64(3)}};
}

constexpr const char* kColumns = "id, role, permissions, session_version, active, preset, display_name, email";

}  // namespace

// PUT /v1/principals/{id}: the whole record (role, permissions or a preset, name, e-mail,
// active). Decided in the batch on the actor's fresh permissions (no escalation).
bool Api::put_principal(Call& c) {
    const std::string& id = c.parts[2];
    if (!valid_id(id)) return c.fail(400, "invalid_path", "principal id must be 1-64 of [A-Za-z0-9._-]", "principal_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::PrincipalRequest body;
    if (!c.parse_message(body)) return true;
    if (!body.principal_id().empty() && body.principal_id() != id)
        return c.fail(422, "invalid_value", "principal_id in the body must match the path", "principal_id");
    if (body.role().empty()) return c.fail(400, "missing_field", "role is required", "role");
    v1::PrincipalRecord wanted;
    wanted.set_principal_id(id);
    wanted.set_role(body.role());
    wanted.set_preset(body.preset());
    wanted.mutable_permissions()->CopyFrom(body.permissions());
    if (!body.preset().empty() && body.permissions_size() == 0)
        if (const auto* preset = principal::find_preset(body.preset()))
            for (auto p : preset->permissions) wanted.add_permissions(std::string(p));
    wanted.set_display_name(body.display_name());
    wanted.set_email(body.email());
    wanted.set_active(!body.has_active() || body.active());
    std::optional<journal::Principal> row;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { row = journal::load_principal(tx, id); });
    if (!r) return c.storage_unavailable(r.error());
    return c.submit(commands::set_principal(std::move(wanted), std::move(row)), *key);
}

// POST /v1/principals/{id}/revoke: every token issued before stops working.
bool Api::revoke_principal(Call& c) {
    const std::string& id = c.parts[2];
    if (!valid_id(id)) return c.fail(400, "invalid_path", "principal id must be 1-64 of [A-Za-z0-9._-]", "principal_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::RevokeRequest body;
    if (!c.req.body.empty() && !c.parse_message(body)) return true;
    if (body.reason().size() > 500) return c.fail(422, "invalid_value", "reason is at most 500 bytes", "reason");
    std::optional<journal::Principal> row;
    auto r = deps_.pool->transact([&](sql::Tx& tx) { row = journal::load_principal(tx, id); });
    if (!r) return c.storage_unavailable(r.error());
    if (!row) return c.fail(404, "not_found", "no principal " + id);
    return c.submit(commands::revoke_principal(id, std::move(row), body.reason()), *key);
}

// GET /v1/principals?role=&limit=&cursor=  (by id; cursor: the last id of the previous page)
bool Api::list_principals(Call& c) {
    const auto& query = c.query;
    std::string role;
    if (auto q = query.find("role"); q != query.end()) {
        role = q->second;
        if (!principal::is_role(role))
            return c.fail(400, "invalid_query", "role is one of admin, employee, vendor, affiliate, customer, auditor, storefront",
                          "role");
    }
    auto page = c.id_page();
    if (!page) return true;
    json body;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        // The system's own principals and the providers' are not listed: nobody manages them.
        auto rows = tx.exec(std::string("SELECT ") + kColumns +
                                " FROM principals WHERE ($1 = '' OR role = $1) AND id > $2"
                                " AND role NOT IN ('system', 'provider') ORDER BY id LIMIT $3",
                            {role, page->after, std::to_string(page->limit + 1)});
        body = keyset_page("principals", rows, page->limit, row_json);
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, body);
}

// GET /v1/principals/{id}
bool Api::get_principal(Call& c) {
    const std::string& id = c.parts[2];
    if (!valid_id(id)) return c.fail(400, "invalid_path", "principal id must be 1-64 of [A-Za-z0-9._-]", "principal_id");
    json body;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec(std::string("SELECT ") + kColumns +
                                " FROM principals WHERE id = $1 AND role NOT IN ('system', 'provider')",
                            {id});
        if (!rows.empty()) body = row_json(rows[0]);
    });
    if (!r) return c.storage_unavailable(r.error());
    if (body.is_null()) return c.fail(404, "not_found", "no principal " + id);
    return c.reply_json(200, body);
}

// GET /v1/permission-presets: the department presets and what each holds.
bool Api::permission_presets(Call& c) {
    json presets = json::array();
    for (const auto& p : principal::presets()) {
        json permissions = json::array();
        bool financial = false;
        for (auto perm : p.permissions) {
            permissions.push_back(std::string(perm));
            financial = financial || principal::is_financial(perm);
        }
        presets.push_back({{"key", std::string(p.key)}, {"name", std::string(p.name)}, {"purpose", std::string(p.purpose)},
                           {"permissions", permissions}, {"financial", financial}});
    }
    json all = json::array(), financial = json::array();
    for (auto p : principal::permissions()) {
        all.push_back(std::string(p));
        if (principal::is_financial(p)) financial.push_back(std::string(p));
    }
    return c.reply_json(200, {{"presets", presets}, {"permissions", all}, {"financial_permissions", financial}});
}

}  // namespace tally::http
