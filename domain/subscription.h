#pragma once
// Subscriptions (stream "subscription-{id}"): recurring orders of a plan (items,
// quantities, ship-to, coupons) at the products' subscription prices, charged off-session
// to a saved payment method. Pure rules: periods from an anchor, what falls due when, the
// customer's changes, dunning. No I/O, no clock: `now` is always an argument.
//
// Periods. Period 0 starts at the anchor (the first order); period n starts n intervals
// later, in UTC. A week is 7 days; a month or quarter is counted in calendar months from
// the anchor's day of the month, clamped to shorter months (an anchor on the 31st renews
// on 28 or 29 February, then on 31 March), keeping the time of day.
//
// What falls due, first thing first (due()):
//   1. a scheduled cancellation (at the end of the period, or at the end of dunning's grace);
//   2. a dunning retry of an unpaid period (retries, by default 1, 3 and 7 days after the
//      first failure; after the last the subscription is past_due and is cancelled after
//      the grace period, unless a payment lands first);
//   3. the next period's renewal, once it has started and no earlier period is unpaid:
//      skipped if the customer asked to skip it or it starts before a pause ends, else
//      renewed (every period once, late if the scheduler was down).
// Changes to the plan apply from the next renewal; the current period's order stands.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/v1/subscription.pb.h"

namespace tally::subscription {

enum class Interval : uint8_t { week = 1, month = 2, quarter = 3 };
std::optional<Interval> parse_interval(std::string_view s);  // "week", "month", "quarter"
std::string_view to_string(Interval i);

inline constexpr int64_t kDayMs = 86'400'000;
inline constexpr int64_t kPeriodsMax = 10'000;        // about 190 years of weekly renewals
inline constexpr int64_t kAnchorMaxMs = 7'258'118'400'000;  // 2200-01-01: periods stay in int64 and in range
inline constexpr int64_t kPauseMaxMs = 366 * kDayMs;  // a pause ends within a year
inline constexpr int kRenewalsKept = 24;              // in the snapshot; the projection keeps all
inline constexpr int kPlanLinesMax = 50;

// The start of period `n`. REQUIRES: 0 <= anchor_ms <= kAnchorMaxMs, 0 <= n <= kPeriodsMax.
int64_t period_start_ms(int64_t anchor_ms, Interval interval, int64_t n);

struct DunningPolicy {
    std::vector<int64_t> retry_after_ms = {1 * kDayMs, 3 * kDayMs, 7 * kDayMs};  // from the first failure, ascending
    int64_t grace_ms = 7 * kDayMs;  // past_due, then cancelled
};
// When retry `attempt` (1-based) falls due, for a period that first failed at
// `first_failed_ms`; nothing once the retries are used up.
std::optional<int64_t> retry_due_ms(const DunningPolicy& policy, int64_t first_failed_ms, int attempt);

std::string stream_id(std::string_view subscription_id);
// The provider's Idempotency-Keys: a period's charge, and each dunning retry's.
std::string renewal_payment_key(std::string_view subscription_id, int64_t period);
std::string retry_payment_key(std::string_view subscription_id, int64_t period, int attempt);
// A period's renewal order: derived, so a repeat of the renewal finds the same order.
std::string renewal_order_id(std::string_view subscription_id, int64_t period);

enum class SubscriptionRejection : uint16_t {  // precedence order; numbers are permanent
    not_found = 1,
    cancelled = 2,
    past_due = 3,
    plan_invalid = 4,
    pause_not_in_future = 5,
    pause_too_long = 6,
    cancellation_scheduled = 7,
};
std::string_view to_string(SubscriptionRejection r);

// What a plan must be: 1..kPlanLinesMax lines with positive quantities and valid SKUs,
// no SKU/options/variant twice, an ISO country. Nothing: it may stand; else the problem.
std::optional<std::string> check_plan(const v1::SubscriptionPlan& plan);

// The customer's acts. Each applies from the next renewal; a cancelled subscription
// refuses them all, a past-due one all but cancellation.
std::expected<v1::SubscriptionChanged, SubscriptionRejection> change(const v1::SubscriptionState& s,
                                                                     const v1::SubscriptionPlan& plan);
std::expected<v1::SubscriptionPaused, SubscriptionRejection> pause(const v1::SubscriptionState& s, int64_t until_ms,
                                                                   int64_t now_ms);
// Skips the next period (the one the next renewal is for); twice is once.
std::expected<v1::SubscriptionSkipRequested, SubscriptionRejection> skip_next(const v1::SubscriptionState& s);

enum class CancelMode : uint8_t { period_end = 1, immediately = 2 };
std::optional<CancelMode> parse_cancel_mode(std::string_view s);  // "period_end", "immediately"
// period_end: a SubscriptionCancelRequested for the start of the next period.
// immediately: a SubscriptionCancelled naming the latest period's order to cancel (the
// command cancels it if it has not shipped).
struct Cancellation {
    std::optional<v1::SubscriptionCancelRequested> requested;
    std::optional<v1::SubscriptionCancelled> cancelled;
};
std::expected<Cancellation, SubscriptionRejection> cancel(const v1::SubscriptionState& s, CancelMode mode,
                                                          std::string reason, int64_t now_ms);

// What the scheduler must do now.
struct Due {
    enum class Kind : uint8_t { none, cancel, retry, renew, skip };
    Kind kind = Kind::none;
    int64_t period = 0;
    int attempt = 0;          // retry: 1-based
    std::string reason;       // skip: "skipped" | "paused"; cancel: "period_end" | "dunning"
};
Due due(const v1::SubscriptionState& s, const DunningPolicy& policy, int64_t now_ms);
// When something next falls due (INT64_MAX: never), for the scheduler's index.
int64_t next_due_ms(const v1::SubscriptionState& s);

// A period's charge (attempt 0) or retry (attempt n) was refused: the failure, with the
// next retry's time or, after the last, the subscription falling past due. A failure of
// an attempt that is not the latest (a stale report) or of a paid period is nothing.
struct PaymentFailure {
    v1::RenewalPaymentFailed failed;
    std::optional<v1::SubscriptionPastDue> past_due;
};
std::optional<PaymentFailure> payment_failed(const v1::SubscriptionState& s, const DunningPolicy& policy, int64_t period,
                                             int attempt, std::string code, int64_t now_ms);
// A period's order was paid; nothing if it already was (or is unknown).
std::optional<v1::RenewalPaid> payment_succeeded(const v1::SubscriptionState& s, int64_t period);

// Evolve: one overload per event.
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionStarted& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionChanged& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionPaused& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionSkipRequested& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionCancelRequested& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionCancelled& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalPlaced& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalSkipped& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalLineSkipped& e);  // a notice: no change
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalPaymentFailed& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalRetryRequested& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalPaid& e);
v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionPastDue& e);

}  // namespace tally::subscription
