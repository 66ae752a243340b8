#include "domain/order.h"

#include "domain/ledger.h"

namespace tally::order {

std::string stream_id(std::string_view order_id) { return "order-" + std::string(order_id); }

v1::OrderPlaced place(const std::string& order_id, const std::string& customer_id, const pricing::Cart& cart,
                      const pricing::Catalog& catalog, const pricing::Breakdown& b,
                      const std::string& payment_idempotency_key) {
    v1::OrderPlaced e;
    e.set_order_id(order_id);
    e.set_customer_id(customer_id);
    e.set_zero_payment(b.zero_payment);
    e.set_status(b.zero_payment ? "paid" : "awaiting_payment");
    if (!b.zero_payment) e.set_payment_idempotency_key(payment_idempotency_key);
    e.set_ship_to_country(cart.ship_to_country);
    auto* p = e.mutable_pricing();
    p->set_currency(std::string(b.currency.code()));
    for (size_t i = 0; i < b.lines.size(); ++i) {
        const auto& l = b.lines[i];
        const auto& in = cart.lines[i];
        auto* pl = p->add_lines();
        pl->set_sku(l.sku);
        pl->set_vendor_id(l.vendor_id);
        pl->set_quantity(l.quantity);
        pl->set_unit_minor(l.unit_minor);
        pl->set_price_source(std::string(pricing::to_string(l.source)));
        pl->set_gross_minor(l.gross_minor);
        pl->set_bundle_discount_minor(l.bundle_discount_minor);
        pl->set_coupon_discount_minor(l.coupon_discount_minor);
        pl->set_loyalty_discount_minor(l.loyalty_discount_minor);
        pl->set_net_minor(l.net_minor);
        pl->set_commission_bps(l.commission_bps);
        pl->set_material(in.options.material);
        pl->set_finish(in.options.finish);
        pl->set_turnaround(in.options.turnaround);
        pl->set_variant_id(in.variant_id);
        pl->set_country_of_origin(catalog.products.at(l.sku).country_of_origin);
        pl->set_platform_funded_minor(l.platform_funded_minor);
    }
    for (const auto& c : b.coupons) {
        auto* ac = p->add_coupons();
        ac->set_code(c.code);
        ac->set_discount_minor(c.discount_minor);
        ac->set_funded_by(c.funded_by);
    }
    p->set_goods_gross_minor(b.goods_gross_minor);
    p->set_discounts_minor(b.discounts_minor);
    p->set_goods_net_minor(b.goods_net_minor);
    p->set_shipping_minor(b.shipping_minor);
    p->set_service_fee_minor(b.service_fee_minor);
    p->set_total_minor(b.total_minor);
    p->set_credit_applied_minor(b.credit_applied_minor);
    p->set_amount_due_minor(b.amount_due_minor);
    p->set_commission_minor(b.commission_minor);
    p->set_promotions_minor(b.promotions_minor);
    for (const auto& v : b.vendors) {
        auto* so = e.add_sub_orders();
        so->set_vendor_id(v.vendor_id);
        so->set_goods_net_minor(v.goods_net_minor);
        so->set_shipping_minor(v.shipping_minor);
        so->set_commission_minor(v.commission_minor);
        so->set_payable_minor(v.payable_minor);
        so->set_promotion_minor(v.promotion_minor);
        so->set_status(b.zero_payment ? "paid" : "awaiting_payment");
    }
    // Accrual: the customer owes the total and the platform pays the discounts it funds
    // (promotions expense); vendors are owed their payables, the platform earns
    // commission and fees. A vendor-funded discount is simply not in its payable. Zero
    // legs are left out.
    auto* postings = e.mutable_postings();
    auto leg = [&](bool is_debit, const std::string& account, int64_t minor) {
        if (minor <= 0) return;
        const Money m{minor, b.currency};
        *postings->add_postings() = is_debit ? ledger::debit(account, m) : ledger::credit(account, m);
    };
    leg(true, ledger::customer_receivable(customer_id), b.total_minor);
    leg(true, std::string(ledger::kPromotionsExpense), b.promotions_minor);
    for (const auto& v : b.vendors) leg(false, ledger::vendor_payable(v.vendor_id), v.payable_minor);
    leg(false, std::string(ledger::kPlatformCommission), b.commission_minor);
    leg(false, std::string(ledger::kPlatformFees), b.service_fee_minor);
    return e;
}

std::string owner(const v1::OrderState& state) {
    return state.owner_customer_id().empty() ? state.customer_id() : state.owner_customer_id();
}

std::string guest_stream(std::string_view guest_id) { return "guest-" + std::string(guest_id); }

std::string checkout_guard_stream(std::string_view customer_id) { return "checkouts-" + std::string(customer_id); }

std::optional<std::string> double_click_candidate(const v1::CheckoutGuardState& guard, std::string_view cart_hash,
                                                  int64_t now_unix_ms) {
    std::optional<std::string> found;
    for (const auto& r : guard.recent())  // the newest identical one wins
        if (r.cart_hash() == cart_hash && now_unix_ms - r.at_unix_ms() < kDoubleClickWindowMs) found = r.order_id();
    return found;
}

bool stands_for_duplicate(const v1::OrderState& first) {
    return !first.paid() && !first.cancelled() && first.status() == "awaiting_payment";
}

v1::CheckoutGuardState record_checkout(const v1::CheckoutGuardState& guard, const v1::CheckoutRecorded& placed) {
    v1::CheckoutGuardState out;
    for (const auto& r : guard.recent())
        if (placed.at_unix_ms() - r.at_unix_ms() < kDoubleClickWindowMs) *out.add_recent() = r;
    *out.add_recent() = placed;
    return out;
}

std::string fulfilment_status(const std::vector<std::string>& sub_order_statuses) {
    int live = 0, shipped = 0, delivered = 0;
    for (const auto& s : sub_order_statuses) {
        if (s == "cancelled" || s == "refunded") continue;
        ++live;
        if (s == "shipped" || s == "delivered") ++shipped;
        if (s == "delivered") ++delivered;
    }
    if (live == 0 || shipped == 0) return "unfulfilled";
    if (delivered == live) return "delivered";
    if (shipped == live) return "shipped";
    return "partially_shipped";
}

}  // namespace tally::order
