#pragma once
// The provider calls' table (provider_calls): the workers' queue, their outcomes and the
// dead letters, behind typed reads and writes. Its projector
// (projectors/provider_calls.h) plans the rows from events, into the live table or a
// rebuild's shadow; everything else (the workers in commands/, the API in http/) goes
// through here.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infra/sql.h"

namespace tally::provider_calls {

// A call a worker has claimed (leased): `claim` fences its outcome.
struct Claimed {
    int64_t id = 0;
    std::string key, kind, order_id, vendor_id, currency;
    int64_t amount_minor = 0;
    int attempts = 0;
    int64_t claim = 0;
    std::string affiliate_id;
};

// Claims the next due call of one of `kinds` (all when empty): counts an attempt and moves
// due_at `lease_ms` ahead, so that nobody else takes it while it runs and it falls due
// again if the worker dies.
std::optional<Claimed> claim_next(sql::Tx& tx, int64_t lease_ms, const std::vector<std::string>& kinds);

// Outcomes, recorded only while `claim` is the latest claim and the call still pending
// (false: a newer claim owns the call, or it was finished).
bool record_done(sql::Tx& tx, const Claimed& c, const std::string& note, const std::string& object_id,
                 const std::string& client_secret);
bool record_wait(sql::Tx& tx, const Claimed& c, const std::string& note, int64_t delay_ms);  // not an attempt
bool record_retry(sql::Tx& tx, const Claimed& c, const std::string& note, int64_t delay_ms);
bool record_dead(sql::Tx& tx, const Claimed& c, const std::string& note);

struct Counts {
    int64_t dead = 0;  // parked: the dead letters
    int64_t due = 0;   // pending and due now
};
Counts counts(sql::Tx& tx);

// An order's payment-intent call, if planned.
struct IntentCall {
    std::string status;  // pending | done | dead
    std::string object_id, client_secret, last_error;
};
std::optional<IntentCall> payment_intent_of(sql::Tx& tx, const std::string& order_id);
// The order whose intent the provider created as `intent_id`, if any.
std::optional<std::string> order_of_intent(sql::Tx& tx, const std::string& intent_id);
// Is an intent's creation unresolved (pending, or parked in the last 72 hours), so that an
// unknown intent may still be ours?
bool intent_creation_unresolved(sql::Tx& tx);

struct DeadLetter {
    int64_t id = 0;
    std::string key, kind, order_id, vendor_id;
    int64_t amount_minor = 0;
    std::string currency;
    int64_t attempts = 0;
    std::string last_error;
    int64_t source_position = 0, operator_retries = 0;
    std::string retried_by;
    int64_t parked_at_unix_ms = 0;
    std::string affiliate_id;
};
std::vector<DeadLetter> dead_letters(sql::Tx& tx, int64_t limit);  // newest first

struct CallHead {
    std::string status, key, kind, last_error;
    int64_t operator_retries = 0;
};
std::optional<CallHead> find(sql::Tx& tx, int64_t id);

}  // namespace tally::provider_calls
