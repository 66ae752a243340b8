#include "projectors/subscriptions_projection.h"

#include "domain/subscription.h"
#include "events/registry.h"

namespace tally::projectors {
namespace {

template <typename Event>
bool fold_as(v1::SubscriptionState& state, const v1::EventEnvelope& e) {
    Event event;
    if (!event.ParseFromString(e.payload())) return false;
    state = subscription::evolve(std::move(state), event);
    return true;
}

// A period's row: written when it is renewed or skipped, then moved by its payment's outcomes.
void renewal_row(sql::Tx& tx, const TableMap& t, const v1::SubscriptionState& s, int64_t period,
                 const v1::EventEnvelope& e) {
    for (const auto& r : s.renewals()) {
        if (r.period() != period) continue;
        tx.exec("INSERT INTO " + t.at("subscription_renewals") +
                    " AS r (subscription_id, period, order_id, status, note, attempts_failed, at_unix_ms, position)"
                    " VALUES ($1, $2::bigint, $3, $4, $5, $6::int, $7::bigint, $8::bigint) ON CONFLICT (subscription_id, period)"
                    " DO UPDATE SET order_id = EXCLUDED.order_id, status = EXCLUDED.status, note = EXCLUDED.note,"
                    " attempts_failed = EXCLUDED.attempts_failed, position = EXCLUDED.position"
                    " WHERE r.position < EXCLUDED.position",
                {s.subscription_id(), std::to_string(period), r.order_id(), r.status(), r.note(),
                 std::to_string(r.attempts_failed()), std::to_string(e.occurred_at_unix_ms()), std::to_string(e.position())});
        return;
    }
}

// The period an event moves, if it moves one.
std::optional<int64_t> period_of(const v1::EventEnvelope& e) {
    auto period = [&e]<typename Event>(Event event) -> std::optional<int64_t> {
        if (!event.ParseFromString(e.payload())) return std::nullopt;
        return event.period();
    };
    if (e.type() == events::kRenewalPlaced) return period(v1::RenewalPlaced{});
    if (e.type() == events::kRenewalSkipped) return period(v1::RenewalSkipped{});
    if (e.type() == events::kRenewalPaymentFailed) return period(v1::RenewalPaymentFailed{});
    if (e.type() == events::kRenewalPaid) return period(v1::RenewalPaid{});
    if (e.type() == events::kSubscriptionStarted) return 0;
    return std::nullopt;
}

class SubscriptionsProjection final : public Projection {
public:
    std::string name() const override { return "subscriptions"; }
    std::vector<std::string> tables() const override { return {"subscriptions", "subscription_renewals"}; }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        for (const auto& e : events) {
            if (e.stream_id().rfind("subscription-", 0) != 0) continue;
            v1::SubscriptionState state;
            int64_t position = 0;
            const auto id = e.stream_id().substr(std::string_view("subscription-").size());
            if (e.type() != events::kSubscriptionStarted) {
                auto rows = tx.exec("SELECT state, position FROM " + t.at("subscriptions") + " WHERE subscription_id = $1",
                                    {id});
                if (rows.empty() || !state.ParseFromString(rows[0].bytes(0))) continue;
                position = rows[0].i64(1);
            }
            if (position >= e.position()) continue;  // applied already
            if (!fold_subscription(state, e)) continue;
            const int64_t due = subscription::next_due_ms(state);
            tx.exec("INSERT INTO " + t.at("subscriptions") +
                        " AS s (subscription_id, customer_id, status, interval, currency, next_period, next_due_unix_ms,"
                        " started_unix_ms, state, position) VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8::bigint, $9,"
                        " $10::bigint) ON CONFLICT (subscription_id) DO UPDATE SET status = EXCLUDED.status,"
                        " next_period = EXCLUDED.next_period, next_due_unix_ms = EXCLUDED.next_due_unix_ms,"
                        " state = EXCLUDED.state, position = EXCLUDED.position WHERE s.position < EXCLUDED.position",
                    {state.subscription_id(), state.customer_id(), state.status(), state.interval(), state.currency(),
                     std::to_string(state.next_period()), std::to_string(due), std::to_string(state.anchor_unix_ms()),
                     sql::bytea_param(state.SerializeAsString()), std::to_string(e.position())});
            if (auto period = period_of(e)) renewal_row(tx, t, state, *period, e);
        }
    }
};

}  // namespace

bool fold_subscription(v1::SubscriptionState& state, const v1::EventEnvelope& e) {
    const auto& type = e.type();
    if (type == events::kSubscriptionStarted) return fold_as<v1::SubscriptionStarted>(state, e);
    if (type == events::kSubscriptionChanged) return fold_as<v1::SubscriptionChanged>(state, e);
    if (type == events::kSubscriptionPaused) return fold_as<v1::SubscriptionPaused>(state, e);
    if (type == events::kSubscriptionSkipRequested) return fold_as<v1::SubscriptionSkipRequested>(state, e);
    if (type == events::kSubscriptionCancelRequested) return fold_as<v1::SubscriptionCancelRequested>(state, e);
    if (type == events::kSubscriptionCancelled) return fold_as<v1::SubscriptionCancelled>(state, e);
    if (type == events::kRenewalPlaced) return fold_as<v1::RenewalPlaced>(state, e);
    if (type == events::kRenewalSkipped) return fold_as<v1::RenewalSkipped>(state, e);
    if (type == events::kRenewalPaymentFailed) return fold_as<v1::RenewalPaymentFailed>(state, e);
    if (type == events::kRenewalRetryRequested) return fold_as<v1::RenewalRetryRequested>(state, e);
    if (type == events::kRenewalPaid) return fold_as<v1::RenewalPaid>(state, e);
    if (type == events::kSubscriptionPastDue) return fold_as<v1::SubscriptionPastDue>(state, e);
    if (type == events::kRenewalLineSkipped) return fold_as<v1::RenewalLineSkipped>(state, e);
    return false;
}

std::unique_ptr<Projection> subscriptions_projection() { return std::make_unique<SubscriptionsProjection>(); }

}  // namespace tally::projectors
