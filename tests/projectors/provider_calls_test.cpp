// The plan of provider calls, applied straight to a real PostgreSQL: which events ask
// for which call, under which key, and that applying again plans nothing twice.
#include "projectors/provider_calls.h"

#include <gtest/gtest.h>

#include "events/registry.h"
#include "infra/sql.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"
#include "tests/support/support.h"

namespace tally::projectors {
namespace {

constexpr int64_t kDelayMs = 3'600'000;

v1::EventEnvelope envelope(int64_t position, std::string_view type, const google::protobuf::Message& payload) {
    v1::EventEnvelope e;
    e.set_position(position);
    e.set_type(std::string(type));
    e.set_occurred_at_unix_ms(1'800'000'000'000 + position);
    e.set_payload(payload.SerializeAsString());
    return e;
}

v1::OrderPlaced placed(const std::string& order, int64_t due) {
    v1::OrderPlaced o;
    o.set_order_id(order);
    o.set_zero_payment(due == 0);
    o.mutable_pricing()->set_amount_due_minor(due);
    o.mutable_pricing()->set_currency("EUR");
    return o;
}

v1::OrderCancelled cancelled(const std::string& order, int64_t card) {
    v1::OrderCancelled c;
    c.set_order_id(order);
    c.set_card_minor(card);
    return c;
}

struct Plan {
    std::string url = testing::fresh_database();
    sql::Pool pool{url, 2};
    std::unique_ptr<Projection> planner = provider_calls_projection(kDelayMs);

    void apply(const std::vector<v1::EventEnvelope>& events) {
        ASSERT_TRUE(pool.transact([&](sql::Tx& tx) { planner->apply(tx, events, {{"provider_calls", "provider_calls"}}); }));
    }

    // key -> "kind order vendor amount currency", and each row's due time less its event's time.
    std::map<std::string, std::string> rows() {
        std::map<std::string, std::string> out;
        EXPECT_TRUE(pool.transact([&](sql::Tx& tx) {
            for (const auto& r : tx.exec("SELECT key, kind, order_id, vendor_id || affiliate_id, amount_minor, currency, status,"
                                         " (extract(epoch FROM due_at) * 1000)::bigint - 1800000000000 - source_position"
                                         " FROM provider_calls"))
                out[r.str(0)] = r.str(1) + " " + r.str(2) + " " + r.str(3) + " " + r.str(4) + " " + r.str(5) + " " +
                                r.str(6) + " +" + r.str(7);
        }));
        return out;
    }
};

TEST(ProviderCallsPlan, EachEventAsksForItsCallOnce) {
    Plan plan;
    v1::RefundIssued card;
    card.set_order_id("o1");
    card.set_refund_id("refund-abc");
    card.set_destination("card");
    card.mutable_amount()->set_minor(500);
    card.mutable_amount()->set_currency("EUR");
    v1::RefundIssued credit = card;
    credit.set_refund_id("refund-def");
    credit.set_destination("credit");
    v1::PayoutRequested payout;
    payout.set_order_id("o1");
    payout.set_vendor_id("ana");
    payout.set_idempotency_key("payout-o1-ana");
    payout.mutable_amount()->set_minor(4100);
    payout.mutable_amount()->set_currency("EUR");
    v1::SubOrderAdvanced shipped, delivered;
    shipped.set_order_id("o1");
    shipped.set_vendor_id("ana");
    shipped.set_to_status("shipped");
    delivered = shipped;
    delivered.set_to_status("delivered");
    delivered.set_at_unix_ms(1'800'000'000'000 + 7);
    v1::ProviderSignalFlagged late, other;
    late.set_order_id("o3");
    late.set_reason("succeeded_after_cancel");
    late.mutable_signal()->set_provider_event_id("evt_9");
    late.mutable_signal()->set_amount_minor(4500);
    late.mutable_signal()->set_currency("EUR");
    other = late;
    other.set_reason("already_paid");
    other.mutable_signal()->set_provider_event_id("evt_10");
    v1::AffiliatePayoutRequested by_stripe, by_paypal;
    by_stripe.set_payout_id("affiliate-payout-aff-1-2026-12-09");
    by_stripe.set_affiliate_id("aff-1");
    by_stripe.set_rail("stripe");
    by_stripe.mutable_amount()->set_minor(700);
    by_stripe.mutable_amount()->set_currency("EUR");
    by_paypal = by_stripe;
    by_paypal.set_payout_id("affiliate-payout-aff-2-2026-12-09");
    by_paypal.set_affiliate_id("aff-2");
    by_paypal.set_rail("paypal");

    const std::vector<v1::EventEnvelope> events{
        envelope(1, events::kOrderPlaced, placed("o1", 4500)),
        envelope(2, events::kOrderPlaced, placed("o2", 0)),         // paid by credit: no intent
        envelope(3, events::kOrderPlaced, placed("o3", 4500)),
        envelope(4, events::kRefundIssued, card),
        envelope(5, events::kRefundIssued, credit),                 // store credit: no call
        envelope(6, events::kSubOrderAdvanced, shipped),            // only delivery schedules
        envelope(7, events::kSubOrderAdvanced, delivered),
        envelope(8, events::kPayoutRequested, payout),
        envelope(9, events::kOrderCancelled, cancelled("o2", 0)),   // no intent to cancel
        envelope(10, events::kOrderCancelled, cancelled("o3", 0)),  // unpaid: its intent is cancelled
        envelope(11, events::kProviderSignalFlagged, late),         // paid after the cancel: refunded
        envelope(12, events::kProviderSignalFlagged, other),        // other flags wait for people
        envelope(13, events::kOrderCancelled, cancelled("o1", 4000)),
        envelope(14, events::kAffiliatePayoutRequested, by_stripe),
        envelope(15, events::kAffiliatePayoutRequested, by_paypal),
    };
    plan.apply(events);
    const std::map<std::string, std::string> expected{
        {"intent-o1", "payment_intent o1  4500 EUR pending +0"},
        {"intent-o3", "payment_intent o3  4500 EUR pending +0"},
        {"refund-abc", "refund o1  500 EUR pending +0"},
        {"payout-request-o1-ana", "request_payout o1 ana 0  pending +3600000"},
        {"payout-o1-ana", "transfer o1 ana 4100 EUR pending +0"},
        {"intent-cancel-o3", "cancel_intent o3  0  pending +0"},
        {"refund-late-evt_9", "refund o3  4500 EUR pending +0"},
        {"refund-cancel-o1", "refund o1  4000  pending +0"},
        {"affiliate-payout-aff-1-2026-12-09", "affiliate_transfer  aff-1 700 EUR pending +0"},
        {"affiliate-payout-aff-2-2026-12-09", "paypal_payout  aff-2 700 EUR pending +0"},
    };
    EXPECT_EQ(plan.rows(), expected);
    // Delivered twice (a replay after a crash): nothing new, nothing changed.
    plan.apply(events);
    EXPECT_EQ(plan.rows(), expected);
}

TEST(ProviderCallsPlan, AClosedDisputeWakesTheHeldPayoutRequest) {
    Plan plan;
    v1::SubOrderAdvanced delivered;
    delivered.set_order_id("o1");
    delivered.set_vendor_id("ana");
    delivered.set_to_status("delivered");
    plan.apply({envelope(1, events::kSubOrderAdvanced, delivered)});
    ASSERT_TRUE(plan.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE provider_calls SET status = 'dead', attempts = 12, due_at = now() + interval '1 day'");
    }));
    v1::DisputeClosed closed;
    closed.set_order_id("o1");
    closed.set_outcome("won");
    plan.apply({envelope(2, events::kDisputeClosed, closed)});
    int64_t due_now = 0;
    ASSERT_TRUE(plan.pool.transact([&](sql::Tx& tx) {
        due_now = tx.exec("SELECT count(*) FROM provider_calls WHERE status = 'pending' AND attempts = 0"
                          " AND due_at <= now()").at(0).i64(0);
    }));
    EXPECT_EQ(due_now, 1);
}

}  // namespace
}  // namespace tally::projectors
