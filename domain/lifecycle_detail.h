#pragma once
// The order lifecycle's internals, shared by its files (not part of the domain's API):
// lifecycle.cpp (state, statuses, staff and customer decisions, evolve), lifecycle_money.cpp
// (what a refund, cancellation or lost dispute gives back and how it is posted) and
// lifecycle_signals.cpp (the payment provider's messages).

#include <string>
#include <string_view>
#include <vector>

#include "domain/lifecycle.h"
#include "domain/money.h"

namespace tally::lifecycle::detail {

Currency currency_of(const State& s);
int64_t base_of(const v1::SubOrder& so);
// What is left to give back of a sub-order's goods, and of its shipping.
int64_t goods_left(const v1::SubOrder& so);
int64_t shipping_left(const v1::SubOrder& so);
const v1::SubOrder* sub_order(const State& s, std::string_view vendor_id);
v1::SubOrder* sub_order(State& s, std::string_view vendor_id);
int64_t held_open(const State& s);
std::string order_status(const State& s);
v1::OrderStatusAfter after_of(const State& s);
v1::DisputeState* dispute(State& s, std::string_view id);
const v1::PayoutState* payout(const State& s, std::string_view vendor_id);
v1::PayoutState* payout(State& s, std::string_view vendor_id);
// A dispute of `amount` fits in what the card paid, less refunds and disputes held.
bool disputable(const State& s, int64_t amount);

// Evolves `state` by the event, stamps the status after it, and keeps it.
template <typename E>
void emit(State& state, E e, std::vector<Event>& out) {
    state = evolve(std::move(state), Event(e));
    *e.mutable_after() = after_of(state);
    out.emplace_back(std::move(e));
}

struct Allocation {
    std::vector<v1::VendorShare> shares;
    int64_t fee_minor = 0;
    int64_t excess_minor = 0;  // beyond anything left to give back
};

// Which sub-orders (and the service fee) an amount given back comes out of (lifecycle_money.cpp).
Allocation allocate_back(const State& s, int64_t amount, std::string_view only_vendor, bool shipping_only);
void post(v1::PostingSet& set, bool debit, const std::string& account, int64_t minor, Currency c);
// Debits what an allocation takes back from vendors, commission, fees and losses.
void post_reversal(v1::PostingSet& set, const Allocation& a, Currency c);
void apply_allocation(State& s, const google::protobuf::RepeatedPtrField<v1::VendorShare>& shares, int64_t fee);
v1::Money money(int64_t minor, Currency c);

// The affiliate's commission after an order was paid (once), and taken back in
// proportion to the goods given back so far after money went back (lifecycle_money.cpp):
// only what is not paid out yet; the rest stays the affiliate's (kept_minor).
void convert_affiliate(State& s, int64_t at_unix_ms, std::vector<Event>& out);
void reverse_affiliate(State& s, std::string_view cause, std::vector<Event>& out);

}  // namespace tally::lifecycle::detail
