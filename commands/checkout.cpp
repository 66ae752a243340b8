#include "commands/checkout.h"

#include <algorithm>
#include <set>

#include "commands/loyalty.h"
#include "commands/pricing_view.h"
#include "domain/catalog.h"
#include "domain/credit.h"
#include "domain/affiliate.h"
#include "domain/lifecycle.h"
#include "domain/order.h"
#include "domain/stock.h"
#include "domain/subscription.h"
#include "events/envelope.h"
#include "events/registry.h"

namespace tally::commands {
namespace {

constexpr int64_t kPaymentWindowMs = 5 * 60 * 1000;

class Checkout final : public Command {
public:
    explicit Checkout(CheckoutRequest req) : req_(std::move(req)) {
        // Written: the order, each SKU's stock, each coupon, the customer's credit, and their
        // loyalty (a zero-payment order is paid here, and its spend counts in this batch).
        streams_ = {order::stream_id(req_.order_id), credit::stream_id(req_.customer_id),
                    order::checkout_guard_stream(req_.customer_id)};
        if (req_.loyalty) streams_.push_back(loyalty::stream_id(req_.customer_id));
        if (guest()) streams_.push_back(order::guest_stream(req_.customer_id));
        for (const auto& l : req_.cart.lines) streams_.push_back(stock::stream_id(l.sku));
        for (const auto& code : req_.cart.coupon_codes) streams_.push_back(catalog::coupon_stream(code));
        if (req_.subscription) streams_.push_back(subscription::stream_id(req_.subscription->subscription_id));
        // Only read: the catalog and the customer's profile it prices from.
        for (auto& id : first_streams(req_.cart, req_.customer_id))
            if (std::find(streams_.begin(), streams_.end(), id) == streams_.end()) read_streams_.push_back(std::move(id));
        read_streams_.insert(read_streams_.end(), req_.vendor_streams.begin(), req_.vendor_streams.end());
        for (const auto& id : req_.affiliate_streams)
            if (std::find(read_streams_.begin(), read_streams_.end(), id) == read_streams_.end()) read_streams_.push_back(id);
        if (!req_.duplicate_candidate.empty()) read_streams_.push_back(order::stream_id(req_.duplicate_candidate));
    }

    std::vector<std::string> streams() const override { return streams_; }
    std::vector<std::string> read_streams() const override { return read_streams_; }

    Decision decide(const std::map<std::string, StreamState>& states, const DecideContext& ctx) const override {
        // A customer for themselves; a storefront for a guest, under the id derived from it.
        // An affiliate may buy as a customer (never earning on its own purchase).
        const bool as_customer =
            (ctx.role == "customer" || ctx.role == "affiliate") && !guest() && ctx.actor == req_.customer_id;
        const bool as_storefront = ctx.role == "storefront" && guest() && ctx.actor == req_.storefront_id &&
                                   req_.customer_id == guest_customer_id(req_.storefront_id, req_.guest_email);
        if (!as_customer && !as_storefront)
            return Rejection{RejectionKind::forbidden, "forbidden", "customers check out for themselves, storefronts for guests"};
        const std::string order_stream = order::stream_id(req_.order_id);
        if (states.at(order_stream).version > 0)
            return Rejection{RejectionKind::state_forbids, "order_exists", "order " + req_.order_id + " exists"};
        if (req_.subscription && states.at(subscription::stream_id(req_.subscription->subscription_id)).version > 0)
            return Rejection{RejectionKind::state_forbids, "subscription_exists",
                             "subscription " + req_.subscription->subscription_id + " exists"};
        const std::string guard_stream = order::checkout_guard_stream(req_.customer_id);
        const auto guard = parse_state<v1::CheckoutGuardState>(states.at(guard_stream).state).value_or(v1::CheckoutGuardState{});
        // A subscription is never a double click: its Idempotency-Key guards it.
        if (auto first = req_.subscription ? std::nullopt : order::double_click_candidate(guard, req_.cart_hash, ctx.now_unix_ms)) {
            // The first order's state: read with the batch, or written earlier in it.
            auto it = states.find(order::stream_id(*first));
            if (it == states.end())
                return Rejection{RejectionKind::retry_later, "checkout_in_flight",
                                 "an identical checkout was just placed; retry to get its order"};
            auto first_state = parse_state<v1::OrderState>(it->second.state);
            if (first_state && order::stands_for_duplicate(*first_state)) {
                Accepted same;
                same.reply = [first = *first, status = first_state->status()](const std::vector<v1::EventEnvelope>&) {
                    return Reply{200, nlohmann::json{{"order_id", first}, {"status", status}, {"duplicate_of", first}}.dump()};
                };
                return same;
            }
        }
        // The locked states, read in place.
        const StateOf state_of = [&states](const std::string& id) -> std::string_view {
            auto it = states.find(id);
            return it == states.end() ? std::string_view() : std::string_view(it->second.state);
        };
        // A product defined or changed since the vendors were resolved: its vendor is not locked.
        for (const auto& v : vendor_streams(req_.cart, state_of))
            if (!states.contains(v))
                return Rejection{RejectionKind::retry_later, "catalog_changed", "the catalog changed; retry"};

        const auto inputs = assemble(req_.cart, req_.customer_id, state_of);
        auto priced = pricing::price(req_.cart, inputs.catalog, inputs.customer, ctx.now_unix_ms);
        if (!priced) {
            const auto code = std::string(pricing::to_string(priced.error().code));
            Rejection r{RejectionKind::fix_request, code,
                        priced.error().subject.empty() ? code : code + ": " + priced.error().subject};
            if (!priced.error().subject.empty())
                r.field = code.rfind("coupon", 0) == 0 || code == "unknown_coupon" ? "coupon_codes" : "lines";
            return r;
        }
        const pricing::Breakdown& b = *priced;
        if (b.total_minor != req_.expected_total_minor)
            return Rejection{RejectionKind::state_forbids, "price_changed",
                             "the total is " + format_money(b.total_minor, b.currency) + ", not " +
                                 format_money(req_.expected_total_minor, b.currency),
                             nlohmann::json{{"breakdown", breakdown_json(b)}}.dump()};

        Accepted a;
        const std::string payment_key =
            b.zero_payment ? "" : events::to_hex(events::sha256(req_.customer_id + "|" + std::to_string(b.amount_due_minor) + "|" +
                                                                std::string(b.currency.code()) + "|" + req_.cart_hash + "|" +
                                                                std::to_string(ctx.now_unix_ms / kPaymentWindowMs)))
                                      .substr(0, 32);
        auto placed = order::place(req_.order_id, req_.customer_id, req_.cart, inputs.catalog, b, payment_key);
        placed.set_placed_at_unix_ms(ctx.now_unix_ms);  // the payment window runs from here
        placed.mutable_pricing()->set_loyalty_tier(inputs.loyalty_tier);
        placed.mutable_pricing()->set_loyalty_discount_bps(inputs.customer.loyalty_discount_bps);
        if (guest()) {
            placed.set_storefront_id(req_.storefront_id);
            placed.set_guest_email(normalize_email(req_.guest_email));
        }
        auto attribution = attribute(states, state_of, b, placed, ctx.now_unix_ms);
        if (!attribution) return attribution.error();
        if (*attribution) *placed.mutable_attribution() = **attribution;
        if (req_.subscription) {
            placed.mutable_subscription()->set_subscription_id(req_.subscription->subscription_id);
            placed.mutable_subscription()->set_period(0);
        }
        a.events.push_back({order_stream, std::string(events::kOrderPlaced), 1, placed.SerializeAsString()});
        if (req_.subscription) start_subscription(a, b, ctx.now_unix_ms);
        // Paid on placing: an attributed order earns its affiliate now.
        auto order_state = lifecycle::initial_state(placed);
        for (const auto& e : lifecycle::convert_affiliate(order_state)) {
            order_state = lifecycle::evolve(std::move(order_state), e);
            a.events.push_back({order_stream, std::string(lifecycle::type_of(e)), 1, lifecycle::serialize(e)});
        }
        a.new_states[order_stream] = order_state.SerializeAsString();
        // Paid on placing (credit or discounts covered it all): the spend counts now.
        if (b.zero_payment && req_.loyalty)
            record_loyalty(a, req_.customer_id, states,
                           loyalty::OrderPaid{req_.order_id, std::string(b.currency.code()), b.total_minor});

        // Stock: one reservation per SKU for the order; never below zero.
        if (auto no = reserve_stock(a, states, req_.cart.lines, req_.order_id)) return *no;

        // Coupons: usage counted atomically with the order.
        redeem_coupons(a, states, b.coupons, req_.order_id, req_.customer_id);

        // Store credit, last.
        if (b.credit_applied_minor > 0) {
            const std::string crid = credit::stream_id(req_.customer_id);
            auto account = credit::from_snapshot(req_.customer_id, states.at(crid).state);
            auto spent = credit::decide(account, credit::SpendCredit{req_.customer_id, req_.order_id,
                                                                     Money{b.credit_applied_minor, b.currency}});
            if (!spent)
                return Rejection{RejectionKind::state_forbids, std::string(credit::to_string(spent.error())),
                                 "store credit changed; quote again"};
            for (const auto& e : *spent) {
                account = credit::evolve(account, e);
                a.events.push_back({crid, std::string(events::kCreditSpent), 1, e.SerializeAsString()});
            }
            a.new_states[crid] = credit::to_snapshot(account);
        }

        // Remembered for the double-click rule.
        v1::CheckoutRecorded recorded;
        recorded.set_customer_id(req_.customer_id);
        recorded.set_cart_hash(req_.cart_hash);
        recorded.set_order_id(req_.order_id);
        recorded.set_at_unix_ms(ctx.now_unix_ms);
        a.new_states[guard_stream] = order::record_checkout(guard, recorded).SerializeAsString();
        a.events.push_back({guard_stream, std::string(events::kCheckoutRecorded), 1, recorded.SerializeAsString()});

        // A guest's orders, listed where an admin can later claim them for a customer.
        if (guest()) {
            const std::string gid = order::guest_stream(req_.customer_id);
            v1::GuestState gs = parse_state<v1::GuestState>(states.at(gid).state).value_or(v1::GuestState{});
            v1::GuestCheckedOut g;
            g.set_guest_id(req_.customer_id);
            g.set_storefront_id(req_.storefront_id);
            g.set_email(normalize_email(req_.guest_email));
            g.set_order_id(req_.order_id);
            gs.set_guest_id(g.guest_id());
            gs.set_storefront_id(g.storefront_id());
            gs.set_email(g.email());
            gs.add_orders()->set_order_id(req_.order_id);
            a.events.push_back({gid, std::string(events::kGuestCheckedOut), 1, g.SerializeAsString()});
            a.new_states[gid] = gs.SerializeAsString();
        }

        a.reply = [order_id = req_.order_id, status = placed.status(), zero = b.zero_payment, payment_key,
                   body = breakdown_json(b), subscription = req_.subscription](const std::vector<v1::EventEnvelope>& written) {
            nlohmann::json out = {{"order_id", order_id}, {"status", status}, {"zero_payment", zero},
                                  {"payment_idempotency_key", payment_key}, {"breakdown", body},
                                  {"position", written.front().position()}};
            if (subscription) out["subscription_id"] = subscription->subscription_id;
            return Reply{201, out.dump()};
        };
        return a;
    }

private:
    bool guest() const { return !req_.storefront_id.empty(); }

    // The subscription this first order starts: anchored now, its plan the cart as asked.
    void start_subscription(Accepted& a, const pricing::Breakdown& b, int64_t now_ms) const {
        v1::SubscriptionStarted e;
        e.set_subscription_id(req_.subscription->subscription_id);
        e.set_customer_id(req_.customer_id);
        e.set_interval(req_.cart.subscription_interval);
        e.set_currency(std::string(b.currency.code()));
        auto* plan = e.mutable_plan();
        for (const auto& l : req_.cart.lines) {
            auto* pl = plan->add_lines();
            pl->set_sku(l.sku);
            pl->set_quantity(l.quantity);
            pl->set_material(l.options.material);
            pl->set_finish(l.options.finish);
            pl->set_turnaround(l.options.turnaround);
            pl->set_variant_id(l.variant_id);
        }
        plan->set_ship_to_country(req_.cart.ship_to_country);
        for (const auto& c : req_.cart.coupon_codes) plan->add_coupon_codes(c);
        e.set_payment_method(req_.subscription->payment_method);
        e.set_anchor_unix_ms(now_ms);
        e.set_first_order_id(req_.order_id);
        const std::string id = subscription::stream_id(e.subscription_id());
        a.new_states[id] = subscription::evolve(v1::SubscriptionState{}, e).SerializeAsString();
        a.events.push_back({id, std::string(events::kSubscriptionStarted), 1, e.SerializeAsString()});
    }

    // The attribution chain on fresh state: the applied coupons as their streams hold them
    // (locked), the profile (read), the cookie; each named affiliate's definition must have
    // been read with the batch, else the sources changed since the route looked.
    std::expected<std::optional<v1::Attribution>, Rejection> attribute(const std::map<std::string, StreamState>& states,
                                                                      const StateOf& state_of, const pricing::Breakdown& b,
                                                                      const v1::OrderPlaced& placed, int64_t now_ms) const {
        std::vector<std::string> applied;
        for (const auto& c : b.coupons) applied.push_back(c.code);
        affiliate::Sources sources = referral_sources(applied, req_.customer_id, state_of);
        sources.cookie = req_.referral_cookie;
        for (const auto& id : affiliate::named(sources))
            if (!states.contains(affiliate::stream_id(id)))
                return std::unexpected(Rejection{RejectionKind::retry_later, "attribution_changed",
                                                 "the referral sources changed; retry"});
        int64_t base = 0;
        for (const auto& so : placed.sub_orders()) base += so.goods_net_minor();
        const affiliate::Lookup lookup = [&state_of](const std::string& id) {
            return parse_state<v1::AffiliateDefinition>(state_of(affiliate::stream_id(id)));
        };
        return affiliate::attribute(
            sources, lookup,
            {req_.customer_id, std::string(b.currency.code()), now_ms, req_.attribution_recent_ms, base});
    }

    CheckoutRequest req_;
    std::vector<std::string> streams_;
    std::vector<std::string> read_streams_;
};

}  // namespace

std::optional<Rejection> reserve_stock(Accepted& a, const std::map<std::string, StreamState>& states,
                                       const std::vector<pricing::CartLine>& lines, const std::string& order_id) {
    std::map<std::string, int64_t> wanted;
    for (const auto& l : lines) wanted[l.sku] += l.quantity;
    for (const auto& [sku, qty] : wanted) {
        const std::string sid = stock::stream_id(sku);
        auto level = stock::from_snapshot(sku, states.at(sid).state);
        auto reserved = stock::decide(level, stock::ReserveStock{sku, order_id, qty});
        if (!reserved)
            return Rejection{RejectionKind::state_forbids, "out_of_stock",
                             sku + ": " + std::to_string(level.available) + " available, " + std::to_string(qty) + " wanted"};
        for (const auto& e : *reserved) {
            level = stock::evolve(level, e);
            a.events.push_back({sid, std::string(events::kStockReserved), 1, std::get<v1::StockReserved>(e).SerializeAsString()});
        }
        a.new_states[sid] = stock::to_snapshot(level);
    }
    return std::nullopt;
}

void redeem_coupons(Accepted& a, const std::map<std::string, StreamState>& states,
                    const std::vector<pricing::AppliedCoupon>& coupons, const std::string& order_id,
                    const std::string& customer_id) {
    for (const auto& c : coupons) {
        const std::string cid = catalog::coupon_stream(c.code);
        v1::CouponState cs = parse_state<v1::CouponState>(states.at(cid).state).value_or(v1::CouponState{});
        cs.set_uses_total(cs.uses_total() + 1);
        (*cs.mutable_uses_by_customer())[customer_id] += 1;
        v1::CouponRedeemed e;
        e.set_code(c.code);
        e.set_order_id(order_id);
        e.set_customer_id(customer_id);
        e.set_discount_minor(c.discount_minor);
        a.events.push_back({cid, std::string(events::kCouponRedeemed), 1, e.SerializeAsString()});
        a.new_states[cid] = cs.SerializeAsString();
    }
}

std::unique_ptr<Command> checkout(CheckoutRequest req) { return std::make_unique<Checkout>(std::move(req)); }

std::string normalize_email(std::string_view email) {
    while (!email.empty() && email.front() == ' ') email.remove_prefix(1);
    while (!email.empty() && email.back() == ' ') email.remove_suffix(1);
    std::string out(email);
    for (auto& ch : out)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return out;
}

std::string guest_customer_id(std::string_view storefront_id, std::string_view email) {
    return "guest-" + events::to_hex(events::sha256(std::string(storefront_id) + "\n" + normalize_email(email))).substr(0, 32);
}

std::string order_id_for(const std::string& command_id) { return "ord-" + command_id.substr(0, 20); }

std::string subscription_id_for(const std::string& command_id) { return "sub-" + command_id.substr(0, 20); }

}  // namespace tally::commands
