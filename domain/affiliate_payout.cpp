#include "domain/affiliate_payout.h"

#include "domain/assert.h"
#include "domain/ids.h"
#include "domain/ledger.h"

namespace tally::affiliate {
namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

// Days since 1970-01-01 as a civil date (H. Hinnant's algorithm).
void civil(int64_t days, int64_t& y, unsigned& m, unsigned& d) {
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string clearing_of(std::string_view rail) {
    return std::string(rail == "paypal" ? ledger::kPayPalClearing : ledger::kProcessorClearing);
}

v1::PostingSet settlement(const v1::AffiliatePayoutEntry& p, const std::string& affiliate, const Currency& c,
                          bool settled) {
    v1::PostingSet set;
    const Money m{p.amount_minor(), c};
    const std::string payable = ledger::affiliate_payable(affiliate), clearing = clearing_of(p.rail());
    *set.add_postings() = settled ? ledger::debit(payable, m) : ledger::credit(payable, m);
    *set.add_postings() = settled ? ledger::credit(clearing, m) : ledger::debit(clearing, m);
    return set;
}

v1::AffiliatePayoutEntry* find(PayoutsState& s, std::string_view id) {
    for (auto& p : *s.mutable_payouts())
        if (p.payout_id() == id) return &p;
    return nullptr;
}

// A settled, failed or reversed payout was requested earlier on the same stream: the
// decisions guarantee it, so one missing is a bug, or a damaged log in a fold (found by
// fuzz_envelope: it was a null dereference).
v1::AffiliatePayoutEntry& requested(PayoutsState& s, std::string_view id) {
    auto* p = find(s, id);
    TALLY_ASSERT(p != nullptr, "payout {} of {} was never requested", id, s.affiliate_id());
    return *p;
}

}  // namespace

std::string payouts_stream(std::string_view affiliate_id) { return "affiliate-payouts-" + std::string(affiliate_id); }
std::string payout_id(std::string_view affiliate_id, std::string_view date) {
    return "affiliate-payout-" + std::string(affiliate_id) + "-" + std::string(date);
}

std::optional<std::string> affiliate_of_payout(std::string_view id) {
    constexpr std::string_view kPrefix = "affiliate-payout-";
    constexpr size_t kDate = 11;  // "-yyyy-mm-dd"
    if (id.rfind(kPrefix, 0) != 0 || id.size() <= kPrefix.size() + kDate) return std::nullopt;
    const std::string_view date = id.substr(id.size() - kDate);
    for (size_t i = 0; i < kDate; ++i) {
        const bool dash = i == 0 || i == 5 || i == 8;
        if (dash ? date[i] != '-' : (date[i] < '0' || date[i] > '9')) return std::nullopt;
    }
    std::string affiliate(id.substr(kPrefix.size(), id.size() - kPrefix.size() - kDate));
    if (!valid_id(affiliate)) return std::nullopt;
    return affiliate;
}

std::optional<Fault> validate(const v1::AffiliatePayoutSchedule& s) {
    if (s.weekday() < 1 || s.weekday() > 7) return Fault{"invalid_value", "weekday", "weekday is 1 (Monday) to 7 (Sunday)"};
    if (s.hour_utc() > 23) return Fault{"invalid_value", "hour_utc", "hour_utc is 0 to 23"};
    if (s.holding_days() > 365) return Fault{"invalid_value", "holding_days", "holding_days is 0 to 365"};
    for (const auto& [code, minor] : s.thresholds_minor()) {
        if (!Currency::parse(code))
            return Fault{"unknown_currency", "thresholds_minor." + code, "'" + code + "' is not a supported currency"};
        if (minor <= 0 || minor > 1'000'000'000'000)
            return Fault{"invalid_value", "thresholds_minor." + code, "a threshold is a positive amount in minor units"};
    }
    return std::nullopt;
}

int64_t threshold_minor(const v1::AffiliatePayoutSchedule& s, const Currency& c) {
    auto it = s.thresholds_minor().find(std::string(c.code()));
    if (it != s.thresholds_minor().end()) return it->second;
    int64_t minor = 100;
    for (int i = 0; i < c.minor_digits(); ++i) minor *= 10;
    return minor;
}

int64_t holding_ms(const v1::AffiliatePayoutSchedule& s) { return int64_t{s.holding_days()} * kDayMs; }

int iso_weekday(int64_t unix_ms) {
    const int64_t days = floor_div(unix_ms, kDayMs);  // 1970-01-01 was a Thursday (4)
    return static_cast<int>(((days + 3) % 7 + 7) % 7) + 1;
}

std::string utc_date(int64_t unix_ms) {
    int64_t y = 0;
    unsigned m = 0, d = 0;
    civil(floor_div(unix_ms, kDayMs), y, m, d);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
    return buf;
}

std::optional<std::string> payout_day(const v1::AffiliatePayoutSchedule& s, int64_t now) {
    if (s.weekday() == 0 || iso_weekday(now) != static_cast<int>(s.weekday())) return std::nullopt;
    const int64_t into_day = now - floor_div(now, kDayMs) * kDayMs;
    if (into_day < int64_t{s.hour_utc()} * 3600 * 1000) return std::nullopt;
    return utc_date(now);
}

const v1::AffiliatePayoutEntry* find_payout(const PayoutsState& s, std::string_view id) {
    for (const auto& p : s.payouts())
        if (p.payout_id() == id) return &p;
    return nullptr;
}

PayoutsState evolve(PayoutsState s, const PayoutEvent& event) {
    std::visit(
        [&s](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, v1::AffiliatePayoutRequested>) {
                s.set_affiliate_id(e.affiliate_id());
                s.set_currency(e.amount().currency());
                s.set_returned_minor(s.returned_minor() - e.returned_minor());
                auto* p = s.add_payouts();
                p->set_payout_id(e.payout_id());
                p->set_date(e.date());
                p->set_amount_minor(e.amount().minor());
                p->set_rail(e.rail());
                p->set_destination(e.destination());
                p->set_status("requested");
            } else if constexpr (std::is_same_v<T, v1::AffiliatePayoutSettled>) {
                auto& p = requested(s, e.payout_id());
                p.set_status("paid");
                p.set_object_id(e.signal().object_id());
            } else if constexpr (std::is_same_v<T, v1::AffiliatePayoutFailed>) {
                requested(s, e.payout_id()).set_status("failed");
                s.set_returned_minor(s.returned_minor() + e.amount().minor());
            } else if constexpr (std::is_same_v<T, v1::AffiliatePayoutReversed>) {
                requested(s, e.payout_id()).set_status("reversed");
                s.set_returned_minor(s.returned_minor() + e.amount().minor());
            }
        },
        event);
    return s;
}

std::string_view type_of(const PayoutEvent& event) {
    static constexpr std::string_view kNames[] = {"AffiliatePayoutRequested", "AffiliatePayoutSettled",
                                                  "AffiliatePayoutFailed", "AffiliatePayoutReversed"};
    static_assert(std::size(kNames) == std::variant_size_v<PayoutEvent>);
    return kNames[event.index()];
}

std::string serialize(const PayoutEvent& event) {
    return std::visit([](const auto& e) { return e.SerializeAsString(); }, event);
}

std::expected<v1::AffiliatePayoutRequested, PayoutRefused> request_payout(const PayoutsState& state,
                                                                         const v1::AffiliateDefinition& def,
                                                                         const std::string& date,
                                                                         const std::vector<v1::PayoutItem>& items,
                                                                         int64_t threshold) {
    const std::string id = payout_id(def.affiliate_id(), date);
    if (find_payout(state, id)) return std::unexpected(PayoutRefused{PayoutRefusal::payout_exists, id + " was made"});
    if (def.status() != kActive)
        return std::unexpected(PayoutRefused{PayoutRefusal::not_payable, "affiliate " + def.affiliate_id() + " is " + def.status()});
    const bool stripe = !def.stripe_account().empty();
    if (!stripe && def.paypal_email().empty())
        return std::unexpected(PayoutRefused{PayoutRefusal::not_payable, "affiliate " + def.affiliate_id() + " has no payout rail"});
    int64_t amount = state.returned_minor();
    for (const auto& i : items) amount += i.amount_minor();
    if (amount < threshold || amount <= 0)
        return std::unexpected(PayoutRefused{PayoutRefusal::below_threshold, "payable " + std::to_string(amount) +
                                                                                 " is below the threshold " +
                                                                                 std::to_string(threshold)});
    v1::AffiliatePayoutRequested e;
    e.set_payout_id(id);
    e.set_affiliate_id(def.affiliate_id());
    e.set_date(date);
    e.mutable_amount()->set_minor(amount);
    e.mutable_amount()->set_currency(def.currency());
    e.set_rail(stripe ? "stripe" : "paypal");
    e.set_destination(stripe ? def.stripe_account() : def.paypal_email());
    for (const auto& i : items) *e.add_items() = i;
    e.set_returned_minor(state.returned_minor());
    return e;
}

SignalApplied on_payout_signal(const PayoutsState& state, const PayoutSignal& sig) {
    const auto* p = find_payout(state, sig.payout_id);
    if (!p) return {std::nullopt, "no_payout_requested"};
    const auto currency = Currency::parse(state.currency());
    if (!currency) return {std::nullopt, "no_currency"};
    const Money amount{p->amount_minor(), *currency};
    v1::Money m;
    m.set_minor(amount.minor);
    m.set_currency(state.currency());
    switch (sig.outcome) {
        case PayoutOutcome::paid: {
            if (p->status() != "requested") return {std::nullopt, "payout_already_" + p->status()};
            if (sig.signal.amount_minor() != 0 && sig.signal.amount_minor() != p->amount_minor())
                return {std::nullopt, "amount_mismatch"};
            v1::AffiliatePayoutSettled e;
            e.set_payout_id(p->payout_id());
            e.set_affiliate_id(state.affiliate_id());
            *e.mutable_amount() = m;
            *e.mutable_signal() = sig.signal;
            *e.mutable_postings() = settlement(*p, state.affiliate_id(), *currency, true);
            return {PayoutEvent(std::move(e)), ""};
        }
        case PayoutOutcome::failed: {
            if (p->status() != "requested") return {std::nullopt, "payout_already_" + p->status()};
            v1::AffiliatePayoutFailed e;
            e.set_payout_id(p->payout_id());
            e.set_affiliate_id(state.affiliate_id());
            *e.mutable_amount() = m;
            *e.mutable_signal() = sig.signal;
            e.set_reason(sig.reason);
            return {PayoutEvent(std::move(e)), ""};
        }
        case PayoutOutcome::returned: {
            if (p->status() == "requested") {  // returned before it was ever paid: a failure
                PayoutSignal failed = sig;
                failed.outcome = PayoutOutcome::failed;
                if (failed.reason.empty()) failed.reason = "returned";
                return on_payout_signal(state, failed);
            }
            if (p->status() != "paid") return {std::nullopt, "payout_not_paid"};
            v1::AffiliatePayoutReversed e;
            e.set_payout_id(p->payout_id());
            e.set_affiliate_id(state.affiliate_id());
            *e.mutable_amount() = m;
            *e.mutable_signal() = sig.signal;
            *e.mutable_postings() = settlement(*p, state.affiliate_id(), *currency, false);
            return {PayoutEvent(std::move(e)), ""};
        }
    }
    return {std::nullopt, "unknown_outcome"};
}

}  // namespace tally::affiliate
