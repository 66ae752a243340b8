#pragma once
// Loyalty: six tiers by lifetime net spend, per currency (DOMAIN.md, Loyalty). The
// program is a definition (stream "program-loyalty") staff change without a deploy; a
// customer's spend and tier live in one aggregate (stream "loyalty-{customer_id}"), so
// they change together. Pure: decide(state, program, fact) -> events, evolve(state, event).
//
// Spend counts when an order becomes paid (its total, whatever paid it) and goes down by
// what is given back (refunds, paid cancellations, refunds made at the provider, lost
// disputes), never below what that order still counts for. An open dispute on any of the
// customer's orders holds every tier change until it closes; the spend keeps counting.

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tally/v1/loyalty.pb.h"

namespace tally::loyalty {

inline constexpr std::string_view kProgramStream = "program-loyalty";
inline constexpr std::array<std::string_view, 6> kTiers = {"bronze", "silver", "gold", "platinum", "diamond", "elite"};

std::string stream_id(std::string_view customer_id);

enum class ProgramRejection : uint16_t {  // precedence order; numbers are permanent
    currency_unknown = 1,
    currency_repeated = 2,
    six_tiers_required = 3,   // names in order: bronze ... elite
    bronze_starts_at_zero = 4,
    thresholds_must_increase = 5,
    discount_out_of_range = 6,  // 0..10000 bps
    threshold_out_of_range = 7,
};

std::string_view to_string(ProgramRejection r);

struct ProgramError {
    ProgramRejection code;
    std::string currency;  // the currency program at fault
};

std::expected<void, ProgramError> validate(const v1::LoyaltyProgram& program);

// The program for a currency; null when the program does not cover it.
const v1::CurrencyProgram* program_for(const v1::LoyaltyProgram& program, std::string_view currency);

// The tier the program gives for a spend (the highest whose threshold it reaches).
std::string tier_for(const v1::CurrencyProgram& program, int64_t spend_minor);

// The tier's checkout discount; 0 for "" or a tier the program does not name.
uint32_t discount_for(const v1::CurrencyProgram& program, std::string_view tier);

// The tier that applies now in a currency: while a hold is open, the tier as it stands;
// otherwise the program's for the spend ("" without a program for the currency).
std::string effective_tier(const v1::LoyaltyState& state, const v1::LoyaltyProgram& program, std::string_view currency);

// Facts from an order's life, and a program change.
struct OrderPaid {
    std::string order_id;
    std::string currency;
    int64_t total_minor = 0;
};
struct GivenBack {
    std::string order_id;
    std::string currency;
    int64_t amount_minor = 0;
    std::string reason;  // refund, cancelled, external_refund, dispute_lost
};
struct DisputeOpened {
    std::string order_id;
    std::string dispute_id;
};
struct DisputeClosed {
    std::string order_id;
    std::string dispute_id;
    bool lost = false;
    std::string currency;
    int64_t amount_minor = 0;  // lost: what it takes back
};
struct ProgramChanged {};

using Fact = std::variant<OrderPaid, GivenBack, DisputeOpened, DisputeClosed, ProgramChanged>;
using Event = std::variant<v1::SpendRecorded, v1::TierChanged, v1::TierHoldOpened, v1::TierHoldReleased>;

struct Program {
    const v1::LoyaltyProgram* program = nullptr;  // null: none defined yet
    int64_t version = 0;
};

// Pure. A payment already counted counts nothing more; a give-back takes at most what
// its order still counts for; after the change, each currency whose tier differs from
// the effective tier moves (unless held).
std::vector<Event> decide(const v1::LoyaltyState& state, const Program& program, const Fact& fact);

v1::LoyaltyState evolve(v1::LoyaltyState state, const Event& event);

std::string_view type_of(const Event& event);
std::string serialize(const Event& event);
// The event a journal entry of a "loyalty-{customer}" stream holds; nullopt for another type
// or a payload that does not parse.
std::optional<Event> parse(std::string_view type, const std::string& payload);

}  // namespace tally::loyalty
