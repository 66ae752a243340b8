#include "domain/subscription.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "domain/assert.h"
#include "domain/ids.h"

namespace tally::subscription {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date, and back (the civil-calendar
// algorithms: eras of 400 years, March-based years so that leap days fall last).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

std::tuple<int64_t, int64_t, int64_t> civil_from_days(int64_t z) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return {yoe + era * 400 + (m <= 2), m, d};
}

int64_t days_in_month(int64_t y, int64_t m) {
    static constexpr int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : kDays[m - 1];
}

bool valid_country(std::string_view c) {
    return c.size() == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z';
}

Interval interval_of(const v1::SubscriptionState& s) {
    auto i = parse_interval(s.interval());
    TALLY_ASSERT(i.has_value(), "subscription {} has interval {}", s.subscription_id(), s.interval());
    return *i;
}

int64_t next_start_ms(const v1::SubscriptionState& s) {
    return period_start_ms(s.anchor_unix_ms(), interval_of(s), std::min(s.next_period(), kPeriodsMax));
}

bool skipping(const v1::SubscriptionState& s, int64_t period) {
    return std::find(s.skip_periods().begin(), s.skip_periods().end(), period) != s.skip_periods().end();
}

v1::SubscriptionRenewal* renewal_of(v1::SubscriptionState& s, int64_t period) {
    for (auto& r : *s.mutable_renewals())
        if (r.period() == period) return &r;
    return nullptr;
}

const v1::SubscriptionRenewal* renewal_of(const v1::SubscriptionState& s, int64_t period) {
    for (const auto& r : s.renewals())
        if (r.period() == period) return &r;
    return nullptr;
}

void keep_latest(v1::SubscriptionState& s) {
    auto* r = s.mutable_renewals();
    if (r->size() > kRenewalsKept) r->DeleteSubrange(0, r->size() - kRenewalsKept);
}

std::optional<SubscriptionRejection> open_for_changes(const v1::SubscriptionState& s) {
    if (s.subscription_id().empty()) return SubscriptionRejection::not_found;
    if (s.status() == "cancelled") return SubscriptionRejection::cancelled;
    if (s.status() == "past_due") return SubscriptionRejection::past_due;
    return std::nullopt;
}

}  // namespace

std::optional<Interval> parse_interval(std::string_view s) {
    if (s == "week") return Interval::week;
    if (s == "month") return Interval::month;
    if (s == "quarter") return Interval::quarter;
    return std::nullopt;
}

std::string_view to_string(Interval i) {
    switch (i) {
        case Interval::week: return "week";
        case Interval::month: return "month";
        case Interval::quarter: return "quarter";
    }
    return "unknown";
}

int64_t period_start_ms(int64_t anchor_ms, Interval interval, int64_t n) {
    TALLY_ASSERT(anchor_ms >= 0 && anchor_ms <= kAnchorMaxMs, "anchor {} out of range", anchor_ms);
    TALLY_ASSERT(n >= 0 && n <= kPeriodsMax, "period {} out of range", n);
    if (interval == Interval::week) return anchor_ms + n * 7 * kDayMs;
    const int64_t months = interval == Interval::month ? n : 3 * n;
    const int64_t day = anchor_ms / kDayMs, time_of_day = anchor_ms % kDayMs;
    const auto [y, m, d] = civil_from_days(day);
    const int64_t m0 = (m - 1) + months;  // months since January of the anchor's year
    const int64_t year = y + m0 / 12, month = m0 % 12 + 1;
    return days_from_civil(year, month, std::min(d, days_in_month(year, month))) * kDayMs + time_of_day;
}

std::optional<int64_t> retry_due_ms(const DunningPolicy& policy, int64_t first_failed_ms, int attempt) {
    if (attempt < 1 || attempt > static_cast<int>(policy.retry_after_ms.size())) return std::nullopt;
    return first_failed_ms + policy.retry_after_ms[static_cast<size_t>(attempt - 1)];
}

std::string stream_id(std::string_view subscription_id) { return "subscription-" + std::string(subscription_id); }

std::string renewal_payment_key(std::string_view subscription_id, int64_t period) {
    return "renewal-" + std::string(subscription_id) + "-" + std::to_string(period);
}

std::string retry_payment_key(std::string_view subscription_id, int64_t period, int attempt) {
    return renewal_payment_key(subscription_id, period) + "-retry-" + std::to_string(attempt);
}

std::string renewal_order_id(std::string_view subscription_id, int64_t period) {
    return "ord-" + std::string(subscription_id) + "-" + std::to_string(period);
}

std::string_view to_string(SubscriptionRejection r) {
    switch (r) {
        case SubscriptionRejection::not_found: return "subscription_not_found";
        case SubscriptionRejection::cancelled: return "subscription_cancelled";
        case SubscriptionRejection::past_due: return "subscription_past_due";
        case SubscriptionRejection::plan_invalid: return "plan_invalid";
        case SubscriptionRejection::pause_not_in_future: return "pause_not_in_future";
        case SubscriptionRejection::pause_too_long: return "pause_too_long";
        case SubscriptionRejection::cancellation_scheduled: return "cancellation_scheduled";
    }
    return "unknown";
}

std::optional<std::string> check_plan(const v1::SubscriptionPlan& plan) {
    if (plan.lines().empty()) return "a plan needs at least one line";
    if (plan.lines_size() > kPlanLinesMax) return "a plan has at most " + std::to_string(kPlanLinesMax) + " lines";
    std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> seen;
    for (const auto& l : plan.lines()) {
        if (!valid_id(l.sku())) return "line sku '" + l.sku() + "' is not a valid id";
        if (l.quantity() < 1 || l.quantity() > 1'000'000) return "line " + l.sku() + ": quantity must be 1..1000000";
        if (!l.variant_id().empty() && !valid_id(l.variant_id())) return "line " + l.sku() + ": variant_id is not a valid id";
        if (!seen.insert({l.sku(), l.material(), l.finish(), l.turnaround(), l.variant_id()}).second)
            return "line " + l.sku() + " appears twice";
    }
    if (!valid_country(plan.ship_to_country())) return "ship_to_country must be an ISO 3166-1 alpha-2 code";
    for (const auto& code : plan.coupon_codes())
        if (!valid_id(code)) return "coupon code '" + code + "' is not a valid id";
    return std::nullopt;
}

std::expected<v1::SubscriptionChanged, SubscriptionRejection> change(const v1::SubscriptionState& s,
                                                                     const v1::SubscriptionPlan& plan) {
    if (auto no = open_for_changes(s)) return std::unexpected(*no);
    if (check_plan(plan)) return std::unexpected(SubscriptionRejection::plan_invalid);
    v1::SubscriptionChanged e;
    e.set_subscription_id(s.subscription_id());
    *e.mutable_plan() = plan;
    e.set_from_period(s.next_period());
    return e;
}

std::expected<v1::SubscriptionPaused, SubscriptionRejection> pause(const v1::SubscriptionState& s, int64_t until_ms,
                                                                   int64_t now_ms) {
    if (auto no = open_for_changes(s)) return std::unexpected(*no);
    if (until_ms <= now_ms) return std::unexpected(SubscriptionRejection::pause_not_in_future);
    if (until_ms - now_ms > kPauseMaxMs) return std::unexpected(SubscriptionRejection::pause_too_long);
    if (s.cancel_at_unix_ms() != 0) return std::unexpected(SubscriptionRejection::cancellation_scheduled);
    v1::SubscriptionPaused e;
    e.set_subscription_id(s.subscription_id());
    e.set_until_unix_ms(until_ms);
    return e;
}

std::expected<v1::SubscriptionSkipRequested, SubscriptionRejection> skip_next(const v1::SubscriptionState& s) {
    if (auto no = open_for_changes(s)) return std::unexpected(*no);
    if (s.cancel_at_unix_ms() != 0) return std::unexpected(SubscriptionRejection::cancellation_scheduled);
    v1::SubscriptionSkipRequested e;
    e.set_subscription_id(s.subscription_id());
    e.set_period(s.next_period());
    return e;
}

std::optional<CancelMode> parse_cancel_mode(std::string_view s) {
    if (s == "period_end") return CancelMode::period_end;
    if (s == "immediately") return CancelMode::immediately;
    return std::nullopt;
}

std::expected<Cancellation, SubscriptionRejection> cancel(const v1::SubscriptionState& s, CancelMode mode,
                                                          std::string reason, int64_t now_ms) {
    if (s.subscription_id().empty()) return std::unexpected(SubscriptionRejection::not_found);
    if (s.status() == "cancelled") return std::unexpected(SubscriptionRejection::cancelled);
    Cancellation out;
    // Past due, nothing more will be delivered: ending it is immediate, whatever was asked.
    if (mode == CancelMode::period_end && s.status() != "past_due") {
        if (s.cancel_at_unix_ms() != 0 && !s.has_dunning())
            return std::unexpected(SubscriptionRejection::cancellation_scheduled);
        v1::SubscriptionCancelRequested e;
        e.set_subscription_id(s.subscription_id());
        e.set_effective_unix_ms(next_start_ms(s));
        out.requested = std::move(e);
        return out;
    }
    v1::SubscriptionCancelled e;
    e.set_subscription_id(s.subscription_id());
    e.set_mode("immediately");
    e.set_at_unix_ms(now_ms);
    e.set_reason(std::move(reason));
    // The latest period's order, if one was placed for it: the command cancels it unless shipped.
    if (!s.renewals().empty() && !s.renewals().rbegin()->order_id().empty())
        e.set_order_to_cancel(s.renewals().rbegin()->order_id());
    out.cancelled = std::move(e);
    return out;
}

Due due(const v1::SubscriptionState& s, const DunningPolicy& policy, int64_t now_ms) {
    Due d;
    if (s.subscription_id().empty() || s.status() == "cancelled") return d;
    if (s.cancel_at_unix_ms() != 0 && now_ms >= s.cancel_at_unix_ms()) {
        d.kind = Due::Kind::cancel;
        d.reason = s.status() == "past_due" ? "dunning" : "period_end";
        return d;
    }
    if (s.has_dunning()) {
        // An unpaid period holds everything else back: retries, then past due.
        if (s.dunning().next_retry_unix_ms() != 0 && now_ms >= s.dunning().next_retry_unix_ms()) {
            d.kind = Due::Kind::retry;
            d.period = s.dunning().period();
            d.attempt = s.dunning().attempt() + 1;
        }
        return d;
    }
    if (s.next_period() > kPeriodsMax) return d;
    const int64_t start = next_start_ms(s);
    if (now_ms < start) return d;
    d.period = s.next_period();
    if (skipping(s, d.period)) {
        d.kind = Due::Kind::skip;
        d.reason = "skipped";
    } else if (s.paused_until_unix_ms() > start) {
        d.kind = Due::Kind::skip;
        d.reason = "paused";
    } else {
        d.kind = Due::Kind::renew;
    }
    (void)policy;
    return d;
}

int64_t next_due_ms(const v1::SubscriptionState& s) {
    if (s.subscription_id().empty() || s.status() == "cancelled") return INT64_MAX;
    int64_t at = INT64_MAX;
    if (s.cancel_at_unix_ms() != 0) at = s.cancel_at_unix_ms();
    if (s.has_dunning()) {
        if (s.dunning().next_retry_unix_ms() != 0) at = std::min(at, s.dunning().next_retry_unix_ms());
        return at;
    }
    if (s.next_period() <= kPeriodsMax) at = std::min(at, next_start_ms(s));
    return at;
}

std::optional<PaymentFailure> payment_failed(const v1::SubscriptionState& s, const DunningPolicy& policy, int64_t period,
                                             int attempt, std::string code, int64_t now_ms) {
    if (s.status() == "cancelled") return std::nullopt;
    const auto* r = renewal_of(s, period);
    if (!r || r->status() == "paid" || r->order_id().empty()) return std::nullopt;
    // The latest attempt only: the renewal's charge before any dunning, else the retry asked last.
    const bool dunning = s.has_dunning() && s.dunning().period() == period;
    if (attempt == 0 && dunning) return std::nullopt;
    if (attempt != 0 && !(dunning && s.dunning().retry_requested() == attempt)) return std::nullopt;
    // Dunning counts on the clock that asked for the charge (the scheduler's), not on when
    // the provider's answer was recorded.
    if (r->attempted_unix_ms() > 0) now_ms = r->attempted_unix_ms();
    PaymentFailure out;
    auto& f = out.failed;
    f.set_subscription_id(s.subscription_id());
    f.set_period(period);
    f.set_attempt(attempt);
    f.set_code(std::move(code));
    f.set_payment_key(attempt == 0 ? renewal_payment_key(s.subscription_id(), period)
                                   : retry_payment_key(s.subscription_id(), period, attempt));
    f.set_at_unix_ms(now_ms);
    const int64_t first = attempt == 0 ? now_ms : s.dunning().first_failed_unix_ms();
    if (auto next = retry_due_ms(policy, first, attempt + 1)) {
        f.set_next_retry_unix_ms(std::max(*next, now_ms));
    } else {
        v1::SubscriptionPastDue p;
        p.set_subscription_id(s.subscription_id());
        p.set_period(period);
        p.set_cancel_at_unix_ms(now_ms + policy.grace_ms);
        out.past_due = std::move(p);
    }
    return out;
}

std::optional<v1::RenewalPaid> payment_succeeded(const v1::SubscriptionState& s, int64_t period) {
    const auto* r = renewal_of(s, period);
    if (!r || r->status() == "paid" || r->order_id().empty()) return std::nullopt;
    v1::RenewalPaid e;
    e.set_subscription_id(s.subscription_id());
    e.set_period(period);
    e.set_order_id(r->order_id());
    return e;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionStarted& e) {
    s.set_subscription_id(e.subscription_id());
    s.set_customer_id(e.customer_id());
    s.set_interval(e.interval());
    s.set_currency(e.currency());
    *s.mutable_plan() = e.plan();
    s.set_payment_method(e.payment_method());
    s.set_anchor_unix_ms(e.anchor_unix_ms());
    s.set_provider_customer(e.provider_customer());
    s.set_status("active");
    s.set_next_period(1);
    auto* r = s.add_renewals();
    r->set_period(0);
    r->set_order_id(e.first_order_id());
    r->set_status("placed");
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionChanged& e) {
    *s.mutable_plan() = e.plan();  // the current period's order is placed already: it stands
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionPaused& e) {
    s.set_paused_until_unix_ms(e.until_unix_ms());
    s.set_status("paused");
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionSkipRequested& e) {
    if (!skipping(s, e.period())) s.add_skip_periods(e.period());
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionCancelRequested& e) {
    s.set_cancel_at_unix_ms(e.effective_unix_ms());
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionCancelled& e) {
    s.set_status("cancelled");
    s.set_cancelled_at_unix_ms(e.at_unix_ms());
    s.set_cancel_mode(e.mode());
    s.set_cancel_at_unix_ms(0);
    s.clear_dunning();
    return s;
}

namespace {

// A period done with (renewed or skipped): the next one is due next; its skip request is spent.
void advance(v1::SubscriptionState& s, int64_t period) {
    s.set_next_period(period + 1);
    auto* skips = s.mutable_skip_periods();
    skips->erase(std::remove_if(skips->begin(), skips->end(), [period](int64_t p) { return p <= period; }), skips->end());
}

}  // namespace

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalPlaced& e) {
    advance(s, e.period());
    if (s.status() == "paused") s.set_status("active");
    auto* r = s.add_renewals();
    r->set_period(e.period());
    r->set_order_id(e.order_id());
    r->set_status("placed");
    r->set_amount_due_minor(e.amount_due_minor());
    r->set_attempted_unix_ms(e.at_unix_ms());
    keep_latest(s);
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalSkipped& e) {
    advance(s, e.period());
    if (s.status() == "paused" && e.reason() != "paused") s.set_status("active");
    auto* r = s.add_renewals();
    r->set_period(e.period());
    r->set_status("skipped");
    r->set_note(e.reason());
    keep_latest(s);
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalLineSkipped&) { return s; }

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalPaymentFailed& e) {
    if (auto* r = renewal_of(s, e.period())) {
        r->set_status("failed");
        r->set_note(e.code());
        r->set_attempts_failed(r->attempts_failed() + 1);
    }
    auto* d = s.mutable_dunning();
    if (e.attempt() == 0) d->set_first_failed_unix_ms(e.at_unix_ms());
    d->set_period(e.period());
    d->set_attempt(e.attempt());
    d->set_next_retry_unix_ms(e.next_retry_unix_ms());
    d->set_last_code(e.code());
    d->set_retry_requested(0);
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalRetryRequested& e) {
    if (auto* r = renewal_of(s, e.period())) r->set_attempted_unix_ms(e.at_unix_ms());
    // In flight: no retry falls due until this one's outcome is known.
    if (s.has_dunning() && s.dunning().period() == e.period()) {
        s.mutable_dunning()->set_next_retry_unix_ms(0);
        s.mutable_dunning()->set_retry_requested(e.attempt());
    }
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::RenewalPaid& e) {
    if (auto* r = renewal_of(s, e.period())) r->set_status("paid");
    if (s.has_dunning() && s.dunning().period() == e.period()) {
        s.clear_dunning();
        if (s.status() == "past_due") {
            s.set_status("active");
            s.set_cancel_at_unix_ms(0);
        }
    }
    return s;
}

v1::SubscriptionState evolve(v1::SubscriptionState s, const v1::SubscriptionPastDue& e) {
    s.set_status("past_due");
    s.set_cancel_at_unix_ms(e.cancel_at_unix_ms());
    return s;
}

}  // namespace tally::subscription
