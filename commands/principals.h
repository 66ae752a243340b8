#pragma once
// Principals as events (domain/principal.h has the rules). A principal's record is its
// stream, "principal-{id}"; the pipeline writes the principals row, which every request
// re-reads, from the record in the same transaction as the event. So a new role or a
// disable bumps the session version and revokes every earlier token atomically.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "commands/pipeline.h"
#include "infra/journal.h"
#include "infra/sql.h"
#include "tally/v1/principal.pb.h"

namespace tally::commands {

// Sets a principal's whole record (its session version is the server's). `row`: the
// principals row as read before submitting, for a principal created before principals
// were events (migrations' system principals, test fixtures), whose stream is empty.
std::unique_ptr<Command> set_principal(v1::PrincipalRecord wanted, std::optional<journal::Principal> row);
// Revokes every token the principal holds (PrincipalSessionsRevoked); `row` as above.
std::unique_ptr<Command> revoke_principal(std::string principal_id, std::optional<journal::Principal> row,
                                          std::string reason);

// The principals row a principal stream's state stands for; nothing for another stream.
std::optional<journal::Principal> principal_of_state(std::string_view stream_id, const std::string& state);
// Writes the principals row of a principal stream's new state (in the batch's transaction).
void write_principal_row(sql::Tx& tx, const std::string& state);

// The record as the API shows it.
std::string record_json(const v1::PrincipalRecord& r);

}  // namespace tally::commands
