// The order lifecycle: table cases and properties over random sequences.
#include "domain/lifecycle.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <utility>

#include "domain/affiliate_payout.h"
#include "domain/ledger.h"
#include "events/registry.h"
#include "tally/v1/envelope.pb.h"

namespace tally::lifecycle {
namespace {

// Vendor a: 60.00 goods + 5.00 shipping, 6.00 commission (10 % of goods after discounts, the commission base); vendor b: 30.00, 3.00
// commission; 2.00 service fee; total 97.00, 10.00 paid by credit, 87.00 due.
v1::OrderPlaced placed() {
    v1::OrderPlaced p;
    p.set_order_id("ord-1");
    p.set_customer_id("cust-1");
    p.set_status("awaiting_payment");
    auto* pr = p.mutable_pricing();
    pr->set_currency("USD");
    pr->set_total_minor(9700);
    pr->set_credit_applied_minor(1000);
    pr->set_amount_due_minor(8700);
    pr->set_service_fee_minor(200);
    auto line = [&](const char* sku, const char* vendor, int64_t qty, int64_t net) {
        auto* l = pr->add_lines();
        l->set_sku(sku);
        l->set_vendor_id(vendor);
        l->set_quantity(qty);
        l->set_net_minor(net);
    };
    line("sku-a", "a", 3, 6000);
    line("sku-b", "b", 1, 3000);
    auto sub = [&](const char* vendor, int64_t goods, int64_t ship, int64_t comm) {
        auto* so = p.add_sub_orders();
        so->set_vendor_id(vendor);
        so->set_goods_net_minor(goods);
        so->set_shipping_minor(ship);
        so->set_commission_minor(comm);
        so->set_payable_minor(goods + ship - comm);
        so->set_status("awaiting_payment");
    };
    sub("a", 6000, 500, 600);
    sub("b", 3000, 0, 300);
    return p;
}

v1::ProviderSignal signal(v1::SignalKind kind, std::string object, int64_t amount, std::string outcome = "",
                          std::string vendor = "") {
    static int n = 0;
    v1::ProviderSignal s;
    s.set_provider_event_id("evt_" + std::to_string(++n));
    s.set_type("provider." + v1::SignalKind_Name(kind));
    s.set_kind(kind);
    s.set_object_id(std::move(object));
    s.set_amount_minor(amount);
    s.set_currency("USD");
    s.set_outcome(std::move(outcome));
    s.set_vendor_id(std::move(vendor));
    return s;
}

State play(State s, const std::vector<Event>& events) {
    for (const auto& e : events) s = evolve(std::move(s), e);
    return s;
}

State paid_state() { return play(initial_state(placed()), on_signal(initial_state(placed()), signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700))); }

// Balances per account over posting sets.
using Balances = std::map<std::string, int64_t>;
void post_all(Balances& b, const std::vector<Event>& events) {
    for (const auto& e : events)
        if (const auto* set = postings_of(e)) {
            ASSERT_TRUE(ledger::check_balanced(*set).has_value()) << type_of(e);
            for (const auto& p : set->postings()) b[p.account()] += ledger::signed_minor(p);
        }
}

TEST(Lifecycle, PaymentSucceededPaysTheOrderAndClearsTheReceivable) {
    const State s0 = initial_state(placed());
    const auto events = on_signal(s0, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700));
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(type_of(events[0]), "PaymentSucceeded");
    const State s = play(s0, events);
    EXPECT_EQ(s.status(), "paid");
    EXPECT_EQ(s.captured_minor(), 8700);
    Balances b;
    post_all(b, events);
    EXPECT_EQ(b["processor_clearing"], 8700);
    EXPECT_EQ(b["customer_receivable:cust-1"], -8700);
}

TEST(Lifecycle, AWrongAmountOrALateSuccessIsFlaggedNotApplied) {
    const State s0 = initial_state(placed());
    auto wrong = on_signal(s0, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8699));
    ASSERT_EQ(type_of(wrong.at(0)), "ProviderSignalFlagged");
    EXPECT_EQ(std::get<v1::ProviderSignalFlagged>(wrong[0]).reason(), "amount_mismatch");
    EXPECT_FALSE(play(s0, wrong).paid());
    const State cancelled = play(s0, *decide(s0, Cancel{"customer asked"}));
    auto late = on_signal(cancelled, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700));
    EXPECT_EQ(std::get<v1::ProviderSignalFlagged>(late.at(0)).reason(), "succeeded_after_cancel");
    EXPECT_EQ(play(cancelled, late).status(), "cancelled");
}

TEST(Lifecycle, FulfilmentMovesOneStepForwardAndNamesTheStatusWhenRefused) {
    State s = paid_state();
    auto skip = decide(s, Advance{"a", "shipped", "DHL", "123", 1});
    ASSERT_FALSE(skip.has_value());
    EXPECT_EQ(skip.error().code, Refusal::invalid_transition);
    EXPECT_EQ(skip.error().current_status, "paid");
    s = play(s, *decide(s, Advance{"a", "in_production", "", "", 1}));
    EXPECT_EQ(decide(s, Advance{"a", "shipped", "", "", 2}).error().code, Refusal::tracking_required);
    s = play(s, *decide(s, Advance{"a", "shipped", "DHL", "123", 2}));
    s = play(s, *decide(s, Advance{"a", "delivered", "", "", 3}));
    auto back = decide(s, Advance{"a", "in_production", "", "", 4});
    ASSERT_FALSE(back.has_value());
    EXPECT_EQ(back.error().current_status, "delivered");
    EXPECT_EQ(decide(s, Cancel{"late"}).error().code, Refusal::already_shipped);
    EXPECT_EQ(decide(initial_state(placed()), Advance{"a", "in_production", "", "", 1}).error().code, Refusal::not_paid);
}

TEST(Lifecycle, RefundsSplitByVendorReverseCommissionAndNeverExceedWhatWasCaptured) {
    State s = paid_state();
    // A line refund: 1 of 3 units of sku-a = 20.00 from vendor a, 2.00 of its commission.
    Refund line{"r1", "card", 0, {{"sku-a", 1}}, "", "broken"};
    auto r1 = decide(s, line);
    ASSERT_TRUE(r1.has_value());
    Balances b;
    post_all(b, *r1);
    EXPECT_EQ(b["vendor_payable:a"], 1800);
    EXPECT_EQ(b["platform_commission_revenue"], 200);
    EXPECT_EQ(b["processor_clearing"], -2000);
    s = play(s, *r1);
    EXPECT_EQ(s.status(), "partially_refunded");
    EXPECT_EQ(decide(s, line).error().code, Refusal::refund_exists);
    // Card refunds stop at the 87.00 the card paid; credit can take the rest of the 97.00.
    auto too_much = decide(s, Refund{"r2", "card", 6701, {}, "", "x", false});
    EXPECT_EQ(too_much.error().code, Refusal::refund_exceeds_captured);
    s = play(s, *decide(s, Refund{"r3", "card", 6700, {}, "", "x", false}));
    EXPECT_EQ(decide(s, Refund{"r4", "card", 1, {}, "", "x", false}).error().code, Refusal::refund_exceeds_captured);
    auto rest = decide(s, Refund{"r5", "credit", 1000, {}, "", "x", false});
    ASSERT_TRUE(rest.has_value());
    EXPECT_EQ(credit_returned(rest->at(0)), 1000);
    s = play(s, *rest);
    EXPECT_EQ(s.status(), "refunded");
    EXPECT_EQ(s.refunded_minor(), 9700);
    // A full refund reverses exactly the commission and the fee charged.
    int64_t commission = 0;
    for (const auto& so : s.sub_orders()) {
        EXPECT_EQ(so.refunded_minor(), so.goods_net_minor() + so.shipping_minor());
        EXPECT_EQ(so.commission_reversed_minor(), so.commission_minor());
        commission += so.commission_reversed_minor();
    }
    EXPECT_EQ(commission, 900);
    EXPECT_EQ(s.fee_refunded_minor(), 200);
}

TEST(Lifecycle, AVendorRefundStaysWithinItsSubOrder) {
    const State s = paid_state();
    EXPECT_EQ(decide(s, Refund{"r", "card", 3001, {}, "b", "x", false}).error().code, Refusal::refund_exceeds_captured);
    const State after = play(s, *decide(s, Refund{"r", "card", 3000, {}, "b", "x", false}));
    EXPECT_EQ(after.sub_orders(1).refunded_minor(), 3000);
    EXPECT_EQ(play(after, {}).status(), "partially_refunded");
}

TEST(Lifecycle, DisputesHoldThenReleaseOrReverse) {
    State s = paid_state();
    auto opened = on_signal(s, signal(v1::SIGNAL_DISPUTE_OPENED, "dp_1", 5000));
    Balances b;
    post_all(b, opened);
    EXPECT_EQ(b["disputes_held"], 5000);
    s = play(s, opened);
    EXPECT_EQ(s.status(), "disputed");
    EXPECT_EQ(decide(s, Cancel{"x"}).error().code, Refusal::dispute_open);
    EXPECT_EQ(decide(s, Refund{"r", "card", 3701, {}, "", "x", false}).error().code, Refusal::refund_exceeds_captured);
    State won = play(s, on_signal(s, signal(v1::SIGNAL_DISPUTE_CLOSED, "dp_1", 5000, "won")));
    EXPECT_EQ(won.status(), "dispute_won");
    auto lost_events = on_signal(s, signal(v1::SIGNAL_DISPUTE_CLOSED, "dp_1", 5000, "lost"));
    post_all(b, lost_events);
    EXPECT_EQ(b["disputes_held"], 0);
    State lost = play(s, lost_events);
    EXPECT_EQ(lost.status(), "dispute_lost");
    EXPECT_EQ(lost.refunded_minor(), 5000);
    auto again = on_signal(lost, signal(v1::SIGNAL_DISPUTE_CLOSED, "dp_1", 5000, "won"));
    EXPECT_EQ(std::get<v1::ProviderSignalFlagged>(again.at(0)).reason(), "dispute_already_closed");
}

TEST(Lifecycle, ADisputeBeforeThePaymentIsKeptAndAppliedWhenThePaymentArrives) {
    State s = initial_state(placed());
    auto early = on_signal(s, signal(v1::SIGNAL_DISPUTE_OPENED, "dp_1", 4000));
    ASSERT_EQ(type_of(early.at(0)), "ProviderSignalDeferred");
    s = play(s, early);
    EXPECT_EQ(s.status(), "awaiting_payment");
    auto paid = on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700));
    ASSERT_EQ(paid.size(), 2u);
    EXPECT_EQ(type_of(paid[1]), "DisputeOpened");
    s = play(s, paid);
    EXPECT_EQ(s.status(), "disputed");
    EXPECT_EQ(s.deferred_size(), 0);
}

TEST(Lifecycle, PayoutsFollowDeliveryAndTheDelayAndSettleByTransfer) {
    State s = paid_state();
    s = play(s, *decide(s, Advance{"a", "in_production", "", "", 1}));
    s = play(s, *decide(s, Advance{"a", "shipped", "UPS", "1Z", 2}));
    EXPECT_EQ(decide(s, RequestPayout{"a", 10, 0}).error().code, Refusal::payout_not_due);
    s = play(s, *decide(s, Advance{"a", "delivered", "", "", 1000}));
    EXPECT_EQ(decide(s, RequestPayout{"a", 1500, 1000}).error().code, Refusal::payout_not_due);
    auto req = decide(s, RequestPayout{"a", 2000, 1000});
    ASSERT_TRUE(req.has_value());
    const auto& pr = std::get<v1::PayoutRequested>(req->at(0));
    EXPECT_EQ(pr.amount().minor(), 5900);
    EXPECT_EQ(pr.idempotency_key(), "payout-ord-1-a");
    s = play(s, *req);
    EXPECT_EQ(decide(s, RequestPayout{"a", 3000, 0}).error().code, Refusal::payout_exists);
    auto settled = on_signal(s, signal(v1::SIGNAL_TRANSFER_CREATED, "tr_1", 5900, "", "a"));
    Balances b;
    post_all(b, settled);
    EXPECT_EQ(b["vendor_payable:a"], 5900);
    s = play(s, settled);
    auto dup = on_signal(s, signal(v1::SIGNAL_TRANSFER_CREATED, "tr_1", 5900, "", "a"));
    EXPECT_EQ(type_of(dup.at(0)), "ProviderSignalFlagged");
}

TEST(Lifecycle, CancellingAnUnpaidOrderReversesTheAccrualAndReturnsTheCredit) {
    const State s = initial_state(placed());
    auto c = decide(s, Cancel{"changed my mind"});
    ASSERT_TRUE(c.has_value());
    Balances b;
    post_all(b, *c);
    EXPECT_EQ(b["customer_receivable:cust-1"], -8700);
    EXPECT_EQ(b["store_credit_liability:cust-1"], -1000);
    EXPECT_EQ(b["vendor_payable:a"], 5900);
    EXPECT_EQ(credit_returned(c->at(0)), 1000);
    EXPECT_EQ(play(s, *c).status(), "cancelled");
}

// Vendor-run promotions (issue 11): vendor b's goods were free to the customer, a
// platform coupon paid them (promotions expense 30.00). Cancelling gives the platform its
// promotion back and leaves nothing owed to b, though the customer paid nothing for b.
TEST(Lifecycle, CancellingGivesThePlatformItsPromotionBackEvenForGoodsItFundedWhole) {
    v1::OrderPlaced p = placed();
    auto* b_sub = p.mutable_sub_orders(1);
    b_sub->set_goods_net_minor(0);
    b_sub->set_promotion_minor(3000);
    b_sub->set_payable_minor(3000 - 300);
    p.mutable_pricing()->set_total_minor(6700);
    p.mutable_pricing()->set_amount_due_minor(5700);
    const State s = initial_state(p);
    auto c = decide(s, Cancel{"changed my mind"});
    ASSERT_TRUE(c.has_value());
    Balances b;
    post_all(b, *c);
    EXPECT_EQ(b["vendor_payable:b"], 2700);  // the accrual's 27.00 credit, debited back
    EXPECT_EQ(b["promotions_expense"], -3000);
    EXPECT_EQ(b["platform_commission_revenue"], 900);
    EXPECT_EQ(b["vendor_payable:a"], 5900);
    const State after = play(s, *c);
    EXPECT_EQ(after.sub_orders(1).promotion_reversed_minor(), 3000);
    EXPECT_EQ(after.sub_orders(1).commission_reversed_minor(), 300);
}

TEST(Lifecycle, EveryEventTypeIsKnownToTheRegistryByTheSameName) {
    const std::vector<std::string_view> names = {"PaymentSucceeded", "PaymentFailed", "SubOrderAdvanced",
                                                 "OrderCancelled", "RefundIssued", "RefundConfirmed",
                                                 "DisputeOpened", "DisputeClosed", "PayoutRequested",
                                                 "PayoutSettled", "PayoutReversed", "ProviderSignalFlagged",
                                                 "ProviderSignalDeferred", "ExternalRefundRecorded",
                                                 "AffiliateConversionRecorded", "AffiliateConversionReversed",
                                                 "AffiliateConversionPaidOut"};
    ASSERT_EQ(names.size(), std::variant_size_v<Event>);
    Event e = v1::PaymentSucceeded{};
    EXPECT_EQ(type_of(e), names[0]);
    e = v1::AffiliateConversionPaidOut{};
    EXPECT_EQ(type_of(e), names.back());
    // Every alternative: the registry knows its name, decodes its payload and finds its status.
    [&]<size_t... I>(std::index_sequence<I...>) {
        (([&] {
             const Event alt{std::in_place_index<I>};
             EXPECT_EQ(type_of(alt), names[I]);
             EXPECT_EQ(events::current_schema_version(type_of(alt)), 1) << type_of(alt);
             v1::EventEnvelope env;
             env.set_type(std::string(type_of(alt)));
             env.set_payload(serialize(alt));
             EXPECT_NE(events::decode_payload(env), nullptr) << type_of(alt);
             EXPECT_TRUE(events::status_after(env).has_value()) << type_of(alt);
         }()),
         ...);
    }(std::make_index_sequence<std::variant_size_v<Event>>{});
}

// ---- properties -------------------------------------------------------------------

struct Step {
    int kind;      // 0-6 provider signals, 7-10 commands
    int vendor;    // 0 a, 1 b
    int64_t amount;
    int which;     // dispute id / stage / destination
};

void showValue(const Step& s, std::ostream& os) {
    os << "{kind " << s.kind << ", vendor " << s.vendor << ", amount " << s.amount << ", which " << s.which << "}";
}

const char* kVendors[] = {"a", "b"};
const char* kStages[] = {"in_production", "shipped", "delivered"};

std::vector<Event> step_events(const State& s, const Step& st, int i) {
    const std::string v = kVendors[st.vendor];
    switch (st.kind) {
        case 0: return on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", st.which % 2 ? 8700 : st.amount));
        case 1: return on_signal(s, signal(v1::SIGNAL_PAYMENT_FAILED, "pi_1", 0, "card_declined"));
        case 2: return on_signal(s, signal(v1::SIGNAL_DISPUTE_OPENED, "dp_" + std::to_string(st.which % 2), st.amount));
        case 3: return on_signal(s, signal(v1::SIGNAL_DISPUTE_CLOSED, "dp_" + std::to_string(st.which % 2), st.amount,
                                           st.which % 3 ? "lost" : "won"));
        case 4: return on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", st.amount));
        case 5: return on_signal(s, signal(v1::SIGNAL_TRANSFER_CREATED, "tr_" + v, st.amount, "", v));
        case 6: return on_signal(s, signal(v1::SIGNAL_TRANSFER_REVERSED, "tr_" + v, st.amount, "", v));
        default: break;
    }
    std::expected<std::vector<Event>, Refused> d;
    if (st.kind == 7) d = decide(s, Advance{v, kStages[st.which % 3], "DHL", "1", i * 1000});
    else if (st.kind == 8) d = decide(s, Refund{"r" + std::to_string(i), st.which % 2 ? "card" : "credit", st.amount, {},
                                                st.which % 3 == 0 ? v : "", "x", false});
    else if (st.kind == 9) d = decide(s, RequestPayout{v, i * 1000, 0});
    else d = decide(s, Cancel{"x"});
    return d ? *d : std::vector<Event>{};
}

rc::Gen<Step> step_gen() {
    return rc::gen::build<Step>(rc::gen::set(&Step::kind, rc::gen::inRange(0, 11)),
                                rc::gen::set(&Step::vendor, rc::gen::inRange(0, 2)),
                                rc::gen::set(&Step::amount, rc::gen::inRange<int64_t>(-10, 10000)),
                                rc::gen::set(&Step::which, rc::gen::inRange(0, 6)));
}

RC_GTEST_PROP(LifecycleProperties, NeverMovesBackwardsAndAlwaysPostsBalancedSets, ()) {
    const auto steps = *rc::gen::container<std::vector<Step>>(step_gen());
    State s = initial_state(placed());
    for (size_t i = 0; i < steps.size(); ++i) {
        const auto events = step_events(s, steps[i], static_cast<int>(i) + 1);
        for (const auto& e : events) {
            if (const auto* set = postings_of(e)) RC_ASSERT(ledger::check_balanced(*set).has_value());
            const State next = evolve(s, e);
            RC_ASSERT(payment_rank(next) >= payment_rank(s));
            RC_ASSERT(!(s.paid() && !next.paid()));
            for (int k = 0; k < s.sub_orders_size(); ++k) {
                const auto& before = s.sub_orders(k);
                const auto& after = next.sub_orders(k);
                RC_ASSERT(fulfilment_rank(after.status()) >= fulfilment_rank(before.status()));
                RC_ASSERT(after.refunded_minor() >= before.refunded_minor());
                RC_ASSERT(after.refunded_minor() <= after.goods_net_minor() + after.shipping_minor());
            }
            RC_ASSERT(next.refunded_minor() >= s.refunded_minor());
            RC_ASSERT(next.refunded_minor() <= next.total_minor());
            for (int k = 0; k < s.disputes_size(); ++k)
                RC_ASSERT(s.disputes(k).status() == "open" || next.disputes(k).status() == s.disputes(k).status());
            s = next;
        }
    }
}

RC_GTEST_PROP(LifecycleProperties, ProviderMessagesInAnyOrderEndTheSame, ()) {
    // One order's provider messages: success, a dispute opened and closed, a failure.
    const bool lost = *rc::gen::arbitrary<bool>();
    const int64_t disputed = *rc::gen::inRange<int64_t>(1, 8701);
    std::vector<v1::ProviderSignal> messages = {
        signal(v1::SIGNAL_PAYMENT_FAILED, "pi_1", 0, "declined"),
        signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700),
        signal(v1::SIGNAL_DISPUTE_OPENED, "dp_1", disputed),
        signal(v1::SIGNAL_DISPUTE_CLOSED, "dp_1", disputed, lost ? "lost" : "won"),
    };
    auto run = [](const std::vector<v1::ProviderSignal>& order) {
        State s = initial_state(placed());
        std::map<std::string, int64_t> balances;
        for (const auto& m : order)
            for (const auto& e : on_signal(s, m)) {
                if (const auto* set = postings_of(e))
                    for (const auto& p : set->postings()) balances[p.account()] += ledger::signed_minor(p);
                s = evolve(std::move(s), e);
            }
        std::erase_if(balances, [](const auto& kv) { return kv.second == 0; });
        return std::make_tuple(s.status(), s.captured_minor(), s.refunded_minor(), balances);
    };
    const auto expected = run(messages);
    const auto shuffled = *rc::gen::container<std::vector<int>>(messages.size(), rc::gen::inRange(0, 1000));
    std::vector<size_t> idx(messages.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return std::pair(shuffled[x], x) < std::pair(shuffled[y], y); });
    std::vector<v1::ProviderSignal> reordered;
    for (auto i : idx) reordered.push_back(messages[i]);
    RC_ASSERT(run(reordered) == expected);
}

}  // namespace
}  // namespace tally::lifecycle

namespace tally::lifecycle {

// The payment window (issue 11): the system cancels only an order still unpaid once its
// window has passed, by the injected clock; people cancel as before.
TEST(Lifecycle, AnUnpaidOrderExpiresOnlyAfterItsWindow) {
    auto p = placed();
    constexpr int64_t kPlaced = 1'800'000'000'000, kWindow = 1'800'000;
    p.set_placed_at_unix_ms(kPlaced);
    auto* coupon = p.mutable_pricing()->add_coupons();
    coupon->set_code("SPRING");
    const State s = initial_state(p);
    EXPECT_EQ(s.placed_at_unix_ms(), kPlaced);
    ASSERT_EQ(s.coupon_codes_size(), 1);
    EXPECT_EQ(s.coupon_codes(0), "SPRING");

    auto early = decide(s, Cancel{"expired", true, kPlaced + kWindow - 1, kWindow});
    ASSERT_FALSE(early);
    EXPECT_EQ(early.error().code, Refusal::payment_window_open);
    auto due = decide(s, Cancel{"expired", true, kPlaced + kWindow, kWindow});
    ASSERT_TRUE(due);
    const auto& cancelled = std::get<v1::OrderCancelled>(due->front());
    EXPECT_TRUE(cancelled.expired());
    EXPECT_EQ(cancelled.card_minor(), 0);
    EXPECT_EQ(cancelled.credit_minor(), 1000);  // the credit spent comes back
    EXPECT_EQ(play(s, *due).status(), "cancelled");

    // Paid meanwhile: never expired, however late.
    State paid = play(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700)));
    EXPECT_EQ(decide(paid, Cancel{"expired", true, kPlaced + 10 * kWindow, kWindow}).error().code,
              Refusal::payment_window_open);
    // An order from before the time was recorded is left to people.
    EXPECT_EQ(decide(initial_state(placed()), Cancel{"expired", true, kPlaced * 2, kWindow}).error().code,
              Refusal::payment_window_open);
    // A subscription's renewal (period > 0) waits for dunning, not the window; its first order does not.
    auto renewal = p;
    renewal.mutable_subscription()->set_subscription_id("sub-1");
    renewal.mutable_subscription()->set_period(2);
    EXPECT_EQ(decide(initial_state(renewal), Cancel{"expired", true, kPlaced + 10 * kWindow, kWindow}).error().code,
              Refusal::payment_window_open);
    renewal.mutable_subscription()->set_period(0);
    EXPECT_TRUE(decide(initial_state(renewal), Cancel{"expired", true, kPlaced + 10 * kWindow, kWindow}));
    // A person's cancellation has no window.
    EXPECT_TRUE(decide(s, Cancel{"changed my mind"}));
}

}  // namespace tally::lifecycle

namespace tally::lifecycle {

// A line's units are refunded at most once, over all its refunds (issue 11).
TEST(Lifecycle, ALinesUnitsAreRefundedAtMostOnce) {
    State s = paid_state();
    auto first = decide(s, Refund{"r1", "card", 0, {{"sku-a", 2}}, "", "damaged", false});
    ASSERT_TRUE(first);
    EXPECT_EQ(std::get<v1::RefundIssued>(first->front()).amount().minor(), 4000);
    s = play(s, *first);
    EXPECT_EQ(s.units_refunded().at("a/sku-a"), 2);
    auto again = decide(s, Refund{"r2", "card", 0, {{"sku-a", 2}}, "", "damaged", false});
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, Refusal::units_already_refunded);
    EXPECT_EQ(to_string(again.error().code), "units_already_refunded");
    // Two lines of the same SKU in one refund count together.
    EXPECT_EQ(decide(s, Refund{"r3", "card", 0, {{"sku-a", 1}, {"sku-a", 1}}, "", "x", false}).error().code,
              Refusal::units_already_refunded);
    auto last = decide(s, Refund{"r4", "card", 0, {{"sku-a", 1}}, "", "the last one", false});
    ASSERT_TRUE(last);
    s = play(s, *last);
    EXPECT_EQ(s.units_refunded().at("a/sku-a"), 3);
    // A refund by amount does not count units.
    EXPECT_TRUE(decide(s, Refund{"r5", "credit", 100, {}, "", "goodwill", false}));
}

}  // namespace tally::lifecycle

namespace tally::lifecycle {

// One commission base (issue 11): over random orders and random partial refunds (by
// amount, by vendor, shipping alone), every split sums exactly, shipping never moves
// commission, the commission reversed is always the charged rate on the goods given
// back, and refunding everything reverses exactly what was charged.
RC_GTEST_PROP(LifecycleProperties, RefundSplitsAndCommissionReversalsSumExactly, ()) {
    v1::OrderPlaced p;
    p.set_order_id("ord-p");
    p.set_customer_id("cust-p");
    p.set_status("awaiting_payment");
    auto* pr = p.mutable_pricing();
    pr->set_currency("USD");
    const int vendors = *rc::gen::inRange(1, 4);
    int64_t total = 0;
    for (int v = 0; v < vendors; ++v) {
        const int64_t goods = *rc::gen::inRange<int64_t>(0, 200000);
        const int64_t ship = *rc::gen::inRange<int64_t>(0, 3000);
        const int64_t bps = *rc::gen::inRange<int64_t>(0, 3001);
        // A platform-funded coupon discount: the vendor's sale is goods + promotion.
        const int64_t promotion = *rc::gen::arbitrary<bool>() ? *rc::gen::inRange<int64_t>(0, 50000) : 0;
        auto* so = p.add_sub_orders();
        so->set_vendor_id("v" + std::to_string(v));
        so->set_goods_net_minor(goods);
        so->set_shipping_minor(ship);
        so->set_promotion_minor(promotion);
        so->set_commission_minor((goods + promotion) * bps / 10000);
        so->set_payable_minor(goods + promotion + ship - so->commission_minor());
        so->set_status("awaiting_payment");
        total += goods + ship;
    }
    const int64_t fee = *rc::gen::inRange<int64_t>(0, 500);
    total += fee;
    RC_PRE(total > 0);
    pr->set_total_minor(total);
    pr->set_amount_due_minor(total);
    pr->set_service_fee_minor(fee);
    State s = initial_state(p);
    s = play(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_p", total)));
    RC_ASSERT(s.paid());

    const int refunds = *rc::gen::inRange(0, 8);
    for (int i = 0; i < refunds; ++i) {
        const int64_t left = s.total_minor() - s.refunded_minor();
        if (left <= 0) break;
        Refund r{"r" + std::to_string(i), *rc::gen::element(std::string("card"), std::string("credit")),
                 *rc::gen::inRange<int64_t>(1, left + 1), {}, "", "property", *rc::gen::arbitrary<bool>()};
        if (*rc::gen::arbitrary<bool>()) r.vendor_id = "v" + std::to_string(*rc::gen::inRange(0, vendors));
        auto decided = decide(s, r);
        if (!decided) continue;  // beyond what that vendor (or its shipping) has left: refused whole
        const auto& e = std::get<v1::RefundIssued>(decided->front());
        int64_t shares = 0;
        for (const auto& sh : e.shares()) {
            shares += sh.amount_minor();
            RC_ASSERT(sh.shipping_minor() >= 0);
            RC_ASSERT(sh.shipping_minor() <= sh.amount_minor());
            if (r.shipping_only) {
                RC_ASSERT(sh.commission_minor() == 0);
                RC_ASSERT(sh.shipping_minor() == sh.amount_minor());
            }
        }
        RC_ASSERT(shares + e.fee_minor() == r.amount_minor);
        RC_ASSERT(ledger::check_balanced(e.postings()).has_value());
        s = play(s, *decided);
        for (const auto& so : s.sub_orders()) {
            const int64_t goods_back = so.refunded_minor() - so.shipping_refunded_minor();
            RC_ASSERT(goods_back >= 0);
            RC_ASSERT(goods_back <= so.goods_net_minor());
            RC_ASSERT(so.shipping_refunded_minor() <= so.shipping_minor());
            // Reversed at the charged rate on the goods given back; a sub-order whose goods
            // the platform funded entirely reverses all or nothing.
            const auto expected = [&](int64_t charged, int64_t reversed) {
                if (so.goods_net_minor() == 0) return reversed == 0 || reversed == charged;
                return reversed ==
                       static_cast<int64_t>(static_cast<__int128>(goods_back) * charged / so.goods_net_minor());
            };
            RC_ASSERT(expected(so.commission_minor(), so.commission_reversed_minor()));
            RC_ASSERT(expected(so.promotion_minor(), so.promotion_reversed_minor()));
        }
    }
    // Whatever is left, back in one go: every commission is reversed exactly.
    const int64_t left = s.total_minor() - s.refunded_minor();
    if (left > 0) {
        auto last = decide(s, Refund{"last", "credit", left, {}, "", "the rest", false});
        RC_ASSERT(last.has_value());
        s = play(s, *last);
    }
    for (const auto& so : s.sub_orders()) {
        if (so.goods_net_minor() > 0 || left > 0) {
            RC_ASSERT(so.commission_reversed_minor() == so.commission_minor());
            RC_ASSERT(so.promotion_reversed_minor() == so.promotion_minor());
        }
        RC_ASSERT(so.refunded_minor() == so.goods_net_minor() + so.shipping_minor());
    }
    RC_ASSERT(s.fee_refunded_minor() == fee);
}

}  // namespace tally::lifecycle

namespace tally::lifecycle {

// Refunds made at the provider (issue 11): what the provider gave back beyond what tally
// issued is booked like a card refund, once; tally's own refunds are only confirmed.
TEST(Lifecycle, ARefundMadeAtTheProviderIsBookedOnce) {
    State s = paid_state();
    auto ext = on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", 1500));
    ASSERT_EQ(ext.size(), 1u);
    ASSERT_EQ(type_of(ext[0]), "ExternalRefundRecorded");
    const auto& e = std::get<v1::ExternalRefundRecorded>(ext[0]);
    EXPECT_EQ(e.amount().minor(), 1500);
    Balances b;
    post_all(b, ext);
    EXPECT_EQ(b["processor_clearing"], -1500);
    EXPECT_GT(b["platform_commission_revenue"], 0);  // commission reversed on its base
    s = play(s, ext);
    EXPECT_EQ(s.refunded_minor(), 1500);
    // The same message again, or a later one that only counts tally's refund too: confirmed.
    EXPECT_EQ(type_of(on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", 1500)).at(0)), "RefundConfirmed");
    s = play(s, *decide(s, Refund{"r1", "card", 1000, {}, "", "x", false}));
    EXPECT_EQ(type_of(on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", 2500)).at(0)), "RefundConfirmed");
    // More than the card has left is flagged, not booked.
    auto absurd = on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", 99999));
    EXPECT_EQ(type_of(absurd.at(0)), "ProviderSignalFlagged");
}

}  // namespace tally::lifecycle

namespace tally::lifecycle {

// Found by the property: money an open dispute holds cannot also be refunded at the
// provider, so such a charge.refunded is flagged rather than booked (else the card
// would give back more than it paid once the dispute is lost).
TEST(Lifecycle, AProviderRefundBeyondWhatDisputesLeaveIsFlagged) {
    State s = paid_state();
    s = play(s, on_signal(s, signal(v1::SIGNAL_DISPUTE_OPENED, "dp_1", 8000)));
    auto refund = on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", 1000));
    ASSERT_EQ(refund.size(), 1u);
    EXPECT_EQ(type_of(refund[0]), "ProviderSignalFlagged");
    auto fits = on_signal(s, signal(v1::SIGNAL_CHARGE_REFUNDED, "ch_1", 700));
    EXPECT_EQ(type_of(fits.at(0)), "ExternalRefundRecorded");
}

}  // namespace tally::lifecycle

namespace tally::lifecycle {
namespace {

// ord-1 referred by aff-1 at 10 %: goods 90.00 (sub-orders a 60.00, b 30.00), 9.00 earned.
v1::OrderPlaced referred() {
    auto p = placed();
    auto* a = p.mutable_attribution();
    a->set_affiliate_id("aff-1");
    a->set_step("cookie");
    a->set_outcome("attributed");
    a->set_commission_bps(1000);
    a->set_base_minor(9000);
    a->set_commission_minor(900);
    return p;
}

int64_t payable(const std::vector<Event>& events) {
    int64_t sum = 0;
    for (const auto& e : events)
        if (const auto* set = postings_of(e))
            for (const auto& p : set->postings())
                if (p.account() == "affiliate_payable:aff-1") sum -= ledger::signed_minor(p);
    return sum;
}

template <typename T>
int count(const std::vector<Event>& events) {
    return static_cast<int>(std::count_if(events.begin(), events.end(), [](const Event& e) { return std::holds_alternative<T>(e); }));
}

std::vector<Event> run(State& s, std::vector<Event> events, std::vector<Event>& log) {
    for (const auto& e : events) {
        s = evolve(std::move(s), e);
        log.push_back(e);
    }
    return events;
}

TEST(LifecycleAffiliate, APaymentEarnsOnceAndRefundsTakeItBackInProportion) {
    State s = initial_state(referred());
    std::vector<Event> log;
    auto paid = run(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700)), log);
    ASSERT_EQ(paid.size(), 2u);
    ASSERT_TRUE(std::holds_alternative<v1::AffiliateConversionRecorded>(paid[1]));
    EXPECT_EQ(std::get<v1::AffiliateConversionRecorded>(paid[1]).commission().minor(), 900);
    EXPECT_EQ(payable(log), 900);
    // Redelivered: flagged, earns nothing more.
    run(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700)), log);
    EXPECT_EQ(count<v1::AffiliateConversionRecorded>(log), 1);
    // A shipping refund gives no goods back: nothing moves.
    auto ship = decide(s, Refund{"r0", "card", 500, {}, "a", "late", true});
    ASSERT_TRUE(ship);
    run(s, *ship, log);
    EXPECT_EQ(count<v1::AffiliateConversionReversed>(log), 0);
    // 30.00 of vendor a's goods back: a third of the order's goods, 3.00 of the commission.
    auto third = decide(s, Refund{"r1", "card", 3000, {}, "a", "scratched", false});
    ASSERT_TRUE(third);
    run(s, *third, log);
    ASSERT_EQ(count<v1::AffiliateConversionReversed>(log), 1);
    EXPECT_EQ(payable(log), 600);
    // Everything else back (card then credit): the whole commission is reversed.
    auto rest = decide(s, Refund{"r2", "credit", s.total_minor() - s.refunded_minor(), {}, "", "all", false});
    ASSERT_TRUE(rest) << rest.error().detail;
    run(s, *rest, log);
    EXPECT_EQ(payable(log), 0);
    EXPECT_EQ(s.affiliate_reversed_minor(), 900);
    for (const auto& e : log) {
        if (const auto* set = postings_of(e)) {
            EXPECT_TRUE(ledger::check_balanced(*set).has_value()) << type_of(e);
        }
    }
}

TEST(LifecycleAffiliate, ALostDisputeReversesAndABlockedOrUnattributedOrderEarnsNothing) {
    State s = initial_state(referred());
    std::vector<Event> log;
    run(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700)), log);
    run(s, on_signal(s, signal(v1::SIGNAL_DISPUTE_OPENED, "dp_1", 8700)), log);
    EXPECT_EQ(payable(log), 900);  // held, not yet taken back
    run(s, on_signal(s, signal(v1::SIGNAL_DISPUTE_CLOSED, "dp_1", 8700, "lost")), log);
    EXPECT_GT(count<v1::AffiliateConversionReversed>(log), 0);
    EXPECT_LT(payable(log), 900);
    EXPECT_GE(payable(log), 0);

    auto blocked = referred();
    blocked.mutable_attribution()->set_outcome("self_referral_blocked");
    blocked.mutable_attribution()->set_commission_minor(0);
    State b = initial_state(blocked);
    EXPECT_EQ(count<v1::AffiliateConversionRecorded>(on_signal(b, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700))), 0);
    State none = initial_state(placed());
    EXPECT_EQ(count<v1::AffiliateConversionRecorded>(on_signal(none, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700))), 0);
    // Paid on placing: convert_affiliate earns at once, and only once.
    auto zero = referred();
    zero.set_zero_payment(true);
    State z = initial_state(zero);
    auto first = convert_affiliate(z);
    ASSERT_EQ(first.size(), 1u);
    z = evolve(z, first[0]);
    EXPECT_TRUE(convert_affiliate(z).empty());
}

// Over random sequences of payments, redeliveries, refunds, disputes and cancellations of
// a referred order: the affiliate's payable is what was earned less what was reversed,
// never negative, never above the commission; it is earned at most once; every posting
// set balances.
RC_GTEST_PROP(LifecycleProperties, TheAffiliatesPayableIsConversionsLessReversalsAndNeverNegative, ()) {
    const auto steps = *rc::gen::container<std::vector<Step>>(step_gen());
    State s = initial_state(referred());
    std::vector<Event> log;
    for (size_t i = 0; i < steps.size(); ++i) {
        for (const auto& e : step_events(s, steps[i], static_cast<int>(i) + 1)) {
            if (const auto* set = postings_of(e)) RC_ASSERT(ledger::check_balanced(*set).has_value());
            s = evolve(std::move(s), e);
            log.push_back(e);
        }
        {  // after each decision's events (one batch)
            const int64_t p = payable(log);
            RC_ASSERT(p >= 0);
            RC_ASSERT(p <= 900);
            int64_t earned = 0, reversed = 0;
            for (const auto& x : log) {
                if (const auto* c = std::get_if<v1::AffiliateConversionRecorded>(&x)) earned += c->commission().minor();
                if (const auto* r = std::get_if<v1::AffiliateConversionReversed>(&x)) reversed += r->amount().minor();
            }
            RC_ASSERT(p == earned - reversed);
            RC_ASSERT(count<v1::AffiliateConversionRecorded>(log) <= 1);
            RC_ASSERT(reversed == s.affiliate_reversed_minor());
            // Every good given back: nothing is left owed for the order.
            int64_t goods_kept = 0;
            for (const auto& so : s.sub_orders())
                goods_kept += so.goods_net_minor() - (so.refunded_minor() - so.shipping_refunded_minor());
            if (goods_kept <= 0) RC_ASSERT(p == 0);
        }
    }
}

TEST(LifecycleAffiliate, APayoutTakesTheMaturedUnpaidShareAndARefundAfterItTakesBackOnlyWhatIsUnpaid) {
    State s = initial_state(referred());
    std::vector<Event> log;
    run(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700)), log);
    const int64_t at = s.affiliate_converted_at_unix_ms();
    const int64_t hold = 14LL * 24 * 3600 * 1000;
    // Not before the holding period, not for another affiliate, not while a dispute is open.
    EXPECT_FALSE(pay_out_affiliate(s, "aff-1", "p1", at + hold - 1, hold));
    EXPECT_FALSE(pay_out_affiliate(s, "aff-2", "p1", at + hold, hold));
    State disputed = s;
    for (const auto& e : on_signal(disputed, signal(v1::SIGNAL_DISPUTE_OPENED, "dp_1", 1000))) disputed = evolve(disputed, e);
    EXPECT_FALSE(pay_out_affiliate(disputed, "aff-1", "p1", at + hold, hold));
    // A third of the goods back first: 6.00 left, all of it paid out.
    auto third = decide(s, Refund{"r1", "card", 3000, {}, "a", "scratched", false});
    ASSERT_TRUE(third);
    run(s, *third, log);
    auto share = pay_out_affiliate(s, "aff-1", "p1", at + hold, hold);
    ASSERT_TRUE(share);
    EXPECT_EQ(share->amount().minor(), 600);
    EXPECT_EQ(share->paid_total_minor(), 600);
    s = evolve(s, *share);
    EXPECT_FALSE(pay_out_affiliate(s, "aff-1", "p2", at + hold, hold));  // nothing left unpaid
    // Everything else back: the commission is paid out, nothing more is taken back.
    auto rest = decide(s, Refund{"r2", "credit", s.total_minor() - s.refunded_minor(), {}, "", "all", false});
    ASSERT_TRUE(rest) << rest.error().detail;
    run(s, *rest, log);
    EXPECT_EQ(count<v1::AffiliateConversionReversed>(log), 1);
    EXPECT_EQ(s.affiliate_reversed_minor(), 300);
    EXPECT_EQ(payable(log), 600);  // the payout's settlement takes it to 0
}

// A refund partly after a payout: what is still unpaid is taken back, the rest is kept.
TEST(LifecycleAffiliate, AReversalBeyondWhatIsUnpaidKeepsThePaidPart) {
    State s = initial_state(referred());
    std::vector<Event> log;
    run(s, on_signal(s, signal(v1::SIGNAL_PAYMENT_SUCCEEDED, "pi_1", 8700)), log);
    s.set_affiliate_paid_minor(800);  // as if 8.00 had been paid out: 1.00 unpaid
    auto half = decide(s, Refund{"r1", "card", 6000, {}, "a", "broken", false});
    ASSERT_TRUE(half);
    run(s, *half, log);
    const auto& r = std::get<v1::AffiliateConversionReversed>(log.back());
    EXPECT_EQ(r.amount().minor(), 100);
    EXPECT_EQ(r.kept_minor(), 500);  // 6.00 due (two thirds of 9.00), 5.00 of it paid out
    EXPECT_EQ(r.reversed_total_minor(), 100);
}

// Over random sequences of payments, redeliveries, refunds, disputes and cancellations of
// a referred order, with payouts between them (settled, failed, or settled and then
// reversed at random): the affiliate's payable is what was earned less what was reversed
// less what was paid out, never negative, and every cent of it is payable somewhere (the
// order's unpaid share, the account's returned money, or a payout in flight); every
// posting set balances.
RC_GTEST_PROP(LifecycleProperties, PayoutsKeepThePayableEqualToEarningsLessReversalsLessPayouts, ()) {
    const auto steps = *rc::gen::container<std::vector<std::pair<Step, int>>>(
        rc::gen::pair(step_gen(), rc::gen::inRange(0, 8)));  // 0-3: no payout; 4: settled; 5: failed; 6: reversed; 7: left in flight
    State s = initial_state(referred());
    v1::AffiliateDefinition def;
    def.set_affiliate_id("aff-1");
    def.set_currency("USD");
    def.set_status("active");
    def.set_stripe_account("acct_1");
    affiliate::PayoutsState account;
    std::vector<Event> log;
    int64_t earned = 0, reversed = 0, settled = 0, account_payable = 0;
    const int64_t far = int64_t{1} << 50;
    for (size_t i = 0; i < steps.size(); ++i) {
        for (const auto& e : step_events(s, steps[i].first, static_cast<int>(i) + 1)) {
            if (const auto* set = postings_of(e)) RC_ASSERT(ledger::check_balanced(*set).has_value());
            if (const auto* c = std::get_if<v1::AffiliateConversionRecorded>(&e)) earned += c->commission().minor();
            if (const auto* r = std::get_if<v1::AffiliateConversionReversed>(&e)) reversed += r->amount().minor();
            s = evolve(std::move(s), e);
            log.push_back(e);
        }
        const int what = steps[i].second;
        if (what >= 4) {
            const std::string date = "2027-01-" + std::to_string(10 + i % 20) + "-" + std::to_string(i);
            const std::string id = affiliate::payout_id("aff-1", date);
            std::vector<v1::PayoutItem> items;
            auto share = pay_out_affiliate(s, "aff-1", id, far, 0);
            if (share) {
                v1::PayoutItem item;
                item.set_order_id(s.order_id());
                item.set_amount_minor(share->amount().minor());
                items.push_back(item);
            }
            auto requested = affiliate::request_payout(account, def, date, items, 1);
            if (requested) {
                if (share) s = evolve(std::move(s), *share);
                account = affiliate::evolve(account, *requested);
                auto signal_of = [&](affiliate::PayoutOutcome o) {
                    return affiliate::on_payout_signal(account, {id, o, v1::ProviderSignal(), ""});
                };
                auto apply = [&](const affiliate::SignalApplied& a) {
                    RC_ASSERT(a.event.has_value());
                    if (const auto* st = std::get_if<v1::AffiliatePayoutSettled>(&*a.event)) {
                        RC_ASSERT(ledger::check_balanced(st->postings()).has_value());
                        for (const auto& p : st->postings().postings())
                            if (p.account() == "affiliate_payable:aff-1") account_payable -= ledger::signed_minor(p);
                        settled += st->amount().minor();
                    }
                    if (const auto* rv = std::get_if<v1::AffiliatePayoutReversed>(&*a.event)) {
                        RC_ASSERT(ledger::check_balanced(rv->postings()).has_value());
                        for (const auto& p : rv->postings().postings())
                            if (p.account() == "affiliate_payable:aff-1") account_payable -= ledger::signed_minor(p);
                        settled -= rv->amount().minor();
                    }
                    account = affiliate::evolve(account, *a.event);
                };
                if (what == 4 || what == 6) apply(signal_of(affiliate::PayoutOutcome::paid));
                if (what == 5) apply(signal_of(affiliate::PayoutOutcome::failed));
                if (what == 6) apply(signal_of(affiliate::PayoutOutcome::returned));
                // A repeat changes nothing.
                if (what != 7) RC_ASSERT(!signal_of(affiliate::PayoutOutcome::paid).event.has_value());
            }
        }
        const int64_t p = payable(log) + account_payable;
        RC_ASSERT(p >= 0);
        RC_ASSERT(p == earned - reversed - settled);
        // Where every cent of the payable is.
        int64_t in_flight = 0;
        for (const auto& x : account.payouts())
            if (x.status() == "requested") in_flight += x.amount_minor();
        const int64_t unpaid = s.affiliate_converted()
                                   ? s.attribution().commission_minor() - s.affiliate_reversed_minor() - s.affiliate_paid_minor()
                                   : 0;
        RC_ASSERT(unpaid >= 0);
        RC_ASSERT(p == unpaid + account.returned_minor() + in_flight);
    }
}

}  // namespace
}  // namespace tally::lifecycle
