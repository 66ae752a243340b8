#include <algorithm>

#include "domain/affiliate.h"
#include "domain/assert.h"
#include "domain/ledger.h"
#include "domain/lifecycle_detail.h"
#include "domain/order.h"
#include "domain/pricing.h"

// What a refund, a paid cancellation or a lost dispute gives back: split over the
// sub-orders and the service fee, and posted against the ledger.
namespace tally::lifecycle::detail {

// Which sub-orders (and the service fee) an amount given back comes out of:
// proportionally to what is left of each, then the fee, then excess. Within a
// sub-order the goods go back first, then the shipping (or the shipping alone, for a
// shipping refund). Commission is reversed on the base it was charged on, goods after
// discounts, cumulatively: a full refund reverses exactly the commission charged, and
// shipping never moves any.
Allocation allocate_back(const State& s, int64_t amount, std::string_view only_vendor, bool shipping_only) {
    Allocation a;
    std::vector<const v1::SubOrder*> subs;
    std::vector<int64_t> left;
    for (const auto& so : s.sub_orders()) {
        if (!only_vendor.empty() && so.vendor_id() != only_vendor) continue;
        subs.push_back(&so);
        left.push_back(shipping_only ? shipping_left(so) : goods_left(so) + shipping_left(so));
    }
    int64_t left_total = 0;
    for (auto l : left) left_total += l;
    const int64_t to_vendors = std::min(amount, left_total);
    const bool everything = to_vendors == left_total;  // nothing is left in any sub-order after this
    const auto parts = to_vendors > 0 ? pricing::allocate(to_vendors, left) : std::vector<int64_t>(left.size(), 0);
    for (size_t i = 0; i < subs.size(); ++i) {
        // A sub-order given back whole reverses all its commission and promotion, even one
        // whose goods the platform funded entirely (nothing the customer paid to weigh by).
        const bool whole = !shipping_only && parts[i] == left[i] && (left[i] > 0 || everything);
        if (parts[i] == 0 && !whole) continue;
        const auto& so = *subs[i];
        const int64_t goods_part = shipping_only ? 0 : std::min(parts[i], goods_left(so));
        const int64_t goods_after = so.refunded_minor() - so.shipping_refunded_minor() + goods_part;
        const auto pro_rata = [&](int64_t whole_amount) {
            if (whole) return whole_amount;
            return so.goods_net_minor() <= 0
                       ? int64_t{0}
                       : static_cast<int64_t>(static_cast<__int128>(goods_after) * whole_amount / so.goods_net_minor());
        };
        v1::VendorShare share;
        share.set_vendor_id(so.vendor_id());
        share.set_amount_minor(parts[i]);
        share.set_commission_minor(pro_rata(so.commission_minor()) - so.commission_reversed_minor());
        share.set_promotion_minor(pro_rata(so.promotion_minor()) - so.promotion_reversed_minor());
        share.set_shipping_minor(parts[i] - goods_part);
        if (share.amount_minor() == 0 && share.commission_minor() == 0 && share.promotion_minor() == 0) continue;
        a.shares.push_back(share);
    }
    int64_t rest = amount - to_vendors;
    if (only_vendor.empty()) {
        a.fee_minor = std::min(rest, std::max<int64_t>(0, s.service_fee_minor() - s.fee_refunded_minor()));
        rest -= a.fee_minor;
    }
    a.excess_minor = rest;
    return a;
}

void post(v1::PostingSet& set, bool debit, const std::string& account, int64_t minor, Currency c) {
    if (minor <= 0) return;
    *set.add_postings() = debit ? ledger::debit(account, Money{minor, c}) : ledger::credit(account, Money{minor, c});
}

// Debits what an allocation takes back from vendors, commission, fees and losses; the
// platform's promotion comes back to promotions expense.
void post_reversal(v1::PostingSet& set, const Allocation& a, Currency c) {
    int64_t commission = 0, promotion = 0;
    for (const auto& sh : a.shares) {
        post(set, true, ledger::vendor_payable(sh.vendor_id()),
             sh.amount_minor() + sh.promotion_minor() - sh.commission_minor(), c);
        commission += sh.commission_minor();
        promotion += sh.promotion_minor();
    }
    post(set, true, std::string(ledger::kPlatformCommission), commission, c);
    post(set, false, std::string(ledger::kPromotionsExpense), promotion, c);
    post(set, true, std::string(ledger::kPlatformFees), a.fee_minor, c);
    post(set, true, std::string(ledger::kDisputeLosses), a.excess_minor, c);
}

void apply_allocation(State& s, const google::protobuf::RepeatedPtrField<v1::VendorShare>& shares, int64_t fee) {
    for (const auto& sh : shares) {
        auto* so = sub_order(s, sh.vendor_id());
        TALLY_ASSERT(so != nullptr, "share for unknown vendor {}", sh.vendor_id());
        so->set_refunded_minor(so->refunded_minor() + sh.amount_minor());
        so->set_commission_reversed_minor(so->commission_reversed_minor() + sh.commission_minor());
        so->set_promotion_reversed_minor(so->promotion_reversed_minor() + sh.promotion_minor());
        so->set_shipping_refunded_minor(so->shipping_refunded_minor() + sh.shipping_minor());
    }
    s.set_fee_refunded_minor(s.fee_refunded_minor() + fee);
}

v1::Money money(int64_t minor, Currency c) {
    v1::Money m;
    m.set_minor(minor);
    m.set_currency(std::string(c.code()));
    return m;
}

void convert_affiliate(State& s, int64_t at_unix_ms, std::vector<Event>& out) {
    const auto& at = s.attribution();
    if (!s.paid() || s.affiliate_converted() || at.outcome() != affiliate::kAttributed || at.commission_minor() <= 0) return;
    const Currency c = currency_of(s);
    v1::AffiliateConversionRecorded e;
    e.set_order_id(s.order_id());
    e.set_affiliate_id(at.affiliate_id());
    e.set_customer_id(order::owner(s));
    *e.mutable_commission() = money(at.commission_minor(), c);
    e.set_base_minor(at.base_minor());
    e.set_at_unix_ms(at_unix_ms);
    post(*e.mutable_postings(), true, std::string(ledger::kAffiliateCommissionExpense), at.commission_minor(), c);
    post(*e.mutable_postings(), false, ledger::affiliate_payable(at.affiliate_id()), at.commission_minor(), c);
    emit(s, std::move(e), out);
}

void reverse_affiliate(State& s, std::string_view cause, std::vector<Event>& out) {
    if (!s.affiliate_converted()) return;
    const auto& at = s.attribution();
    int64_t goods_total = 0, goods_back = 0;
    for (const auto& so : s.sub_orders()) {
        goods_total += so.goods_net_minor();
        goods_back += so.goods_net_minor() - goods_left(so);
    }
    const int64_t due = affiliate::reversed_at(at.commission_minor(), goods_total, goods_back);
    // What was paid out stays paid: a reversal takes back at most what is still unpaid.
    const int64_t unpaid = at.commission_minor() - s.affiliate_reversed_minor() - s.affiliate_paid_minor();
    const int64_t owed = due - s.affiliate_reversed_minor();
    const int64_t delta = std::min(owed, unpaid);
    if (delta <= 0) return;
    const Currency c = currency_of(s);
    v1::AffiliateConversionReversed e;
    e.set_order_id(s.order_id());
    e.set_affiliate_id(at.affiliate_id());
    *e.mutable_amount() = money(delta, c);
    e.set_goods_back_minor(goods_back);
    e.set_reversed_total_minor(s.affiliate_reversed_minor() + delta);
    e.set_kept_minor(owed - delta);
    e.set_cause(std::string(cause));
    post(*e.mutable_postings(), true, ledger::affiliate_payable(at.affiliate_id()), delta, c);
    post(*e.mutable_postings(), false, std::string(ledger::kAffiliateCommissionExpense), delta, c);
    emit(s, std::move(e), out);
}

}  // namespace tally::lifecycle::detail

namespace tally::lifecycle {

std::vector<Event> convert_affiliate(const State& state) {
    State s = state;
    std::vector<Event> out;
    detail::convert_affiliate(s, s.placed_at_unix_ms(), out);
    return out;
}

std::optional<v1::AffiliateConversionPaidOut> pay_out_affiliate(const State& s, const std::string& affiliate_id,
                                                               const std::string& payout_id, int64_t now_unix_ms,
                                                               int64_t holding_ms) {
    const auto& at = s.attribution();
    if (!s.affiliate_converted() || at.affiliate_id() != affiliate_id) return std::nullopt;
    if (s.affiliate_converted_at_unix_ms() + holding_ms > now_unix_ms) return std::nullopt;  // not yet payable
    if (detail::held_open(s) > 0) return std::nullopt;  // an open dispute holds it
    const int64_t unpaid = at.commission_minor() - s.affiliate_reversed_minor() - s.affiliate_paid_minor();
    if (unpaid <= 0) return std::nullopt;
    v1::AffiliateConversionPaidOut e;
    e.set_order_id(s.order_id());
    e.set_affiliate_id(affiliate_id);
    e.set_payout_id(payout_id);
    *e.mutable_amount() = detail::money(unpaid, detail::currency_of(s));
    e.set_paid_total_minor(s.affiliate_paid_minor() + unpaid);
    *e.mutable_after() = detail::after_of(evolve(s, e));
    return e;
}

}  // namespace tally::lifecycle
