#include "commands/principals.h"

#include <nlohmann/json.hpp>

#include "domain/principal.h"
#include "events/registry.h"

namespace tally::commands {
namespace {

// The record as it stands: its stream's state, else the row written before principals
// were events, else nothing (a new principal).
std::optional<v1::PrincipalRecord> current_record(const StreamState& stream, const std::optional<journal::Principal>& row) {
    if (auto r = parse_state<v1::PrincipalRecord>(stream.state)) return r;
    if (!row) return std::nullopt;
    v1::PrincipalRecord r;
    r.set_principal_id(row->id);
    r.set_role(row->role);
    for (const auto& p : row->permissions) r.add_permissions(p);
    r.set_active(row->active);
    r.set_session_version(row->session_version);
    r.set_sessions_since_unix_s(row->sessions_since_unix_s);
    return r;
}

Rejection refusal(const principal::Refusal& r) {
    return Rejection{r.forbidden ? RejectionKind::forbidden : RejectionKind::fix_request, r.code, r.detail, "", r.field};
}

// Principals the API does not manage: the system's own and the payment providers'.
bool managed_role(std::string_view role) { return principal::is_role(role); }

nlohmann::json record_doc(const v1::PrincipalRecord& r) {
    return {{"principal_id", r.principal_id()},
            {"role", r.role()},
            {"permissions", std::vector<std::string>(r.permissions().begin(), r.permissions().end())},
            {"preset", r.preset().empty() ? nlohmann::json(nullptr) : nlohmann::json(r.preset())},
            {"display_name", r.display_name()},
            {"email", r.email()},
            {"active", r.active()},
            {"session_version", r.session_version()},
            {"sessions_since_unix_s", r.sessions_since_unix_s()}};
}

class SetPrincipal final : public Command {
public:
    SetPrincipal(v1::PrincipalRecord wanted, std::optional<journal::Principal> row)
        : wanted_(std::move(wanted)), row_(std::move(row)), stream_(principal::stream_id(wanted_.principal_id())) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        if (auto bad = principal::check_record(wanted_)) return refusal(*bad);
        const auto current = current_record(states.at(stream_), row_);
        if (current && !managed_role(current->role()))
            return Rejection{RejectionKind::forbidden, "forbidden",
                             current->principal_id() + " is a " + current->role() + " principal, not managed over the API"};
        if (auto no = principal::may_set(ctx.role, ctx.permissions, current ? &*current : nullptr, wanted_))
            return refusal(*no);
        bool revoked = false;
        v1::PrincipalDefined ev;
        *ev.mutable_record() = principal::next_record(current ? &*current : nullptr, wanted_, ctx.now_unix_ms / 1000, revoked);
        ev.set_sessions_revoked(revoked);
        if (current) ev.set_previous_role(current->role());
        Accepted a;
        a.events.push_back({stream_, std::string(events::kPrincipalDefined), 1, ev.SerializeAsString()});
        a.new_states[stream_] = ev.record().SerializeAsString();
        a.reply = [doc = record_doc(ev.record()), revoked, created = !current](const std::vector<v1::EventEnvelope>& written) mutable {
            doc["sessions_revoked"] = revoked;
            doc["position"] = written.empty() ? 0 : written.back().position();
            return Reply{created ? 201 : 200, doc.dump()};
        };
        return a;
    }

private:
    v1::PrincipalRecord wanted_;
    std::optional<journal::Principal> row_;
    std::string stream_;
};

class RevokePrincipal final : public Command {
public:
    RevokePrincipal(std::string id, std::optional<journal::Principal> row, std::string reason)
        : id_(std::move(id)), row_(std::move(row)), reason_(std::move(reason)), stream_(principal::stream_id(id_)) {}
    std::vector<std::string> streams() const override { return {stream_}; }
    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        auto current = current_record(states.at(stream_), row_);
        if (!current) return Rejection{RejectionKind::fix_request, "unknown_principal", "no principal " + id_};
        if (!managed_role(current->role()))
            return Rejection{RejectionKind::forbidden, "forbidden",
                             id_ + " is a " + current->role() + " principal, not managed over the API"};
        if (auto no = principal::may_revoke(ctx.role, ctx.permissions, *current)) return refusal(*no);
        principal::revoke_sessions(*current, ctx.now_unix_ms / 1000);
        v1::PrincipalSessionsRevoked ev;
        ev.set_principal_id(id_);
        ev.set_session_version(current->session_version());
        ev.set_reason(reason_);
        Accepted a;
        a.events.push_back({stream_, std::string(events::kPrincipalSessionsRevoked), 1, ev.SerializeAsString()});
        a.new_states[stream_] = current->SerializeAsString();
        a.reply = [doc = record_doc(*current)](const std::vector<v1::EventEnvelope>& written) mutable {
            doc["sessions_revoked"] = true;
            doc["position"] = written.empty() ? 0 : written.back().position();
            return Reply{200, doc.dump()};
        };
        return a;
    }

private:
    std::string id_;
    std::optional<journal::Principal> row_;
    std::string reason_, stream_;
};

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& items) {
    std::string out;
    for (const auto& p : items) out += (out.empty() ? "" : ",") + p;
    return out;
}

}  // namespace

std::unique_ptr<Command> set_principal(v1::PrincipalRecord wanted, std::optional<journal::Principal> row) {
    return std::make_unique<SetPrincipal>(std::move(wanted), std::move(row));
}

std::unique_ptr<Command> revoke_principal(std::string principal_id, std::optional<journal::Principal> row,
                                          std::string reason) {
    return std::make_unique<RevokePrincipal>(std::move(principal_id), std::move(row), std::move(reason));
}

std::optional<journal::Principal> principal_of_state(std::string_view stream_id, const std::string& state) {
    if (!stream_id.starts_with(principal::kStreamPrefix)) return std::nullopt;
    auto r = parse_state<v1::PrincipalRecord>(state);
    if (!r) return std::nullopt;
    return journal::Principal{r->principal_id(), r->role(), {r->permissions().begin(), r->permissions().end()},
                              r->session_version(), r->active(), r->sessions_since_unix_s()};
}

void write_principal_row(sql::Tx& tx, const std::string& state) {
    auto r = parse_state<v1::PrincipalRecord>(state);
    if (!r) return;
    tx.exec("INSERT INTO principals (id, role, permissions, session_version, active, display_name, email, preset,"
            " sessions_since)"
            " VALUES ($1, $2, $3, $4::int, $5::boolean, $6, $7, $8, $9::bigint)"
            " ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role, permissions = EXCLUDED.permissions,"
            " session_version = EXCLUDED.session_version, active = EXCLUDED.active,"
            " display_name = EXCLUDED.display_name, email = EXCLUDED.email, preset = EXCLUDED.preset,"
            " sessions_since = EXCLUDED.sessions_since",
            {r->principal_id(), r->role(), joined(r->permissions()), std::to_string(r->session_version()),
             r->active() ? "true" : "false", r->display_name(), r->email(), r->preset(),
             std::to_string(r->sessions_since_unix_s())});
}

std::string record_json(const v1::PrincipalRecord& r) { return record_doc(r).dump(); }

}  // namespace tally::commands
