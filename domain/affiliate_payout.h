#pragma once
// Affiliate payouts (DOMAIN.md, Affiliates): on the schedule's weekday, from its hour
// (UTC), each affiliate whose payable conversions reach the threshold of its currency
// gets one payout, "affiliate-payout-{affiliate}-{yyyy-mm-dd}". A conversion is payable
// once it is older than the holding period (the refund window) and no dispute is open on
// its order (lifecycle::pay_out_affiliate). The payout account of an affiliate (stream
// "affiliate-payouts-{id}") keeps its payouts and what came back from failed or reversed
// ones, which the next payout pays again. The payable moves when the provider says the
// money left (settled), and back if it returns (reversed). Pure.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "domain/affiliate.h"
#include "domain/money.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::affiliate {

inline constexpr std::string_view kScheduleStream = "affiliate-payout-schedule";
inline constexpr uint32_t kHoldingDaysDefault = 14;

std::string payouts_stream(std::string_view affiliate_id);
std::string payout_id(std::string_view affiliate_id, std::string_view date);
// The affiliate a payout id names ("affiliate-payout-{affiliate}-{yyyy-mm-dd}"); nothing
// when it is not one.
std::optional<std::string> affiliate_of_payout(std::string_view payout_id);

// A schedule's first fault, naming the field.
std::optional<Fault> validate(const v1::AffiliatePayoutSchedule& schedule);
// The currency's threshold: as set, else 100.00 in its minor units.
int64_t threshold_minor(const v1::AffiliatePayoutSchedule& schedule, const Currency& currency);
int64_t holding_ms(const v1::AffiliatePayoutSchedule& schedule);

// UTC calendar of a unix time: ISO weekday (1 Monday .. 7 Sunday) and "yyyy-mm-dd".
int iso_weekday(int64_t unix_ms);
std::string utc_date(int64_t unix_ms);
// The payout day at `now` ("yyyy-mm-dd"): on the schedule's weekday from its hour; else nothing.
std::optional<std::string> payout_day(const v1::AffiliatePayoutSchedule& schedule, int64_t now_unix_ms);

using PayoutEvent = std::variant<v1::AffiliatePayoutRequested, v1::AffiliatePayoutSettled, v1::AffiliatePayoutFailed,
                                 v1::AffiliatePayoutReversed>;
using PayoutsState = v1::AffiliatePayoutsState;

PayoutsState evolve(PayoutsState state, const PayoutEvent& event);
std::string_view type_of(const PayoutEvent& event);
std::string serialize(const PayoutEvent& event);
const v1::AffiliatePayoutEntry* find_payout(const PayoutsState& state, std::string_view payout_id);

enum class PayoutRefusal : uint16_t {
    payout_exists = 1,     // this day's payout was made
    below_threshold = 2,   // what is payable does not reach the threshold
    not_payable = 3,       // suspended, or no payout rail
};
struct PayoutRefused {
    PayoutRefusal reason;
    std::string detail;
};

// The day's payout of what `items` (the conversions' unpaid shares) and the returned
// money add up to.
std::expected<v1::AffiliatePayoutRequested, PayoutRefused> request_payout(const PayoutsState& state,
                                                                         const v1::AffiliateDefinition& affiliate,
                                                                         const std::string& date,
                                                                         const std::vector<v1::PayoutItem>& items,
                                                                         int64_t threshold_minor);

// What the provider said about a payout.
enum class PayoutOutcome { paid, failed, returned };
struct PayoutSignal {
    std::string payout_id;
    PayoutOutcome outcome = PayoutOutcome::paid;
    v1::ProviderSignal signal;
    std::string reason;  // failed: why
};
// The event it makes; or why it changes nothing (a repeat, a contradiction: `ignored`).
struct SignalApplied {
    std::optional<PayoutEvent> event;
    std::string ignored;
};
SignalApplied on_payout_signal(const PayoutsState& state, const PayoutSignal& signal);

}  // namespace tally::affiliate
