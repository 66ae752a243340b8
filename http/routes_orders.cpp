#include "http/api.h"

#include "http/call.h"

#include <algorithm>
#include <charconv>

#include "commands/checkout.h"
#include "commands/claims.h"
#include "commands/pricing_view.h"
#include "domain/affiliate.h"
#include "domain/catalog.h"
#include "domain/ids.h"
#include "domain/order.h"
#include "domain/pricing.h"
#include "events/envelope.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/order.pb.h"
#include "infra/provider_calls.h"

using nlohmann::json;

namespace tally::http {
namespace {

// An address a storefront may check a guest out under: printable ASCII without spaces,
// one '@' with something on both sides and a dot in the domain, at most 254 bytes.
bool plausible_email(std::string_view e) {
    if (e.size() < 5 || e.size() > 254) return false;
    const auto at = e.find('@');
    if (at == std::string_view::npos || at == 0 || e.find('@', at + 1) != std::string_view::npos) return false;
    const auto domain = e.substr(at + 1);
    if (domain.size() < 3 || domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.')
        return false;
    return std::all_of(e.begin(), e.end(), [](char ch) { return ch > ' ' && ch < 0x7f; });
}

// The guest a cart is for: a storefront's guest's customer id, or "" when the caller checks
// out for themselves. Nothing: answered (a guest from a non-storefront, none from a
// storefront at checkout, an implausible address).
std::optional<std::string> guest_of(Call& c, const v1::CartRequest& body, const std::string& role,
                                    const std::string& principal_id, bool checkout) {
    if (!body.has_guest()) {
        if (role == "storefront" && checkout) {
            c.fail(400, "missing_field", "a storefront checks out for a guest: guest.email is required", "guest");
            return std::nullopt;
        }
        return std::string();
    }
    if (role != "storefront") {
        c.fail(400, "invalid_field", "guest is for storefronts checking out a guest", "guest");
        return std::nullopt;
    }
    const std::string email = commands::normalize_email(body.guest().email());
    if (!plausible_email(email)) {
        c.fail(422, "invalid_value", "guest.email must be an e-mail address (printable ASCII, one @, at most 254 bytes)",
               "guest.email");
        return std::nullopt;
    }
    return commands::guest_customer_id(principal_id, email);
}

}  // namespace

// POST /v1/quote  (customers for themselves; staff for anyone with ?customer_id=; storefronts
// anonymously or for a guest): no side effects.
bool Api::post_quote(Call& c) {
    const auto& query = c.query;
    auto caller = c.fresh_caller();
    if (!caller) return true;
    const bool buyer = caller->principal.role == "customer" || caller->principal.role == "affiliate";
    std::string customer_id = buyer ? caller->principal.id : "";
    if (!buyer && caller->principal.role != "storefront") {
        if (auto q = query.find("customer_id"); q != query.end()) customer_id = q->second;
        if (!customer_id.empty() && !valid_id(customer_id))
            return c.fail(400, "invalid_query", "customer_id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
        // A customer's quote shows their store credit and wholesale standing: the same
        // permission as reading their credit.
        if (!customer_id.empty() && caller->principal.role == "employee" &&
            !commands::has_permission(caller->principal.permissions, "credit", "view"))
            return c.fail(403, "forbidden", "quoting for a customer needs credit.view (it shows their credit)",
                          "customer_id");
    }
    v1::CartRequest body;
    if (!c.parse_message(body)) return true;
    auto guest = guest_of(c, body, caller->principal.role, caller->principal.id, false);
    if (!guest) return true;
    if (!guest->empty()) customer_id = *guest;
    auto cart = commands::cart_from(body);
    if (!cart) return c.fail(422, cart.error().code, cart.error().detail, cart.error().field);
    if (!guest->empty()) cart->apply_credit = false;  // store credit belongs to accounts
    std::map<std::string, std::string> states;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        states = journal::read_states(tx, commands::first_streams(*cart, customer_id.empty() ? "-" : customer_id));
        for (auto& [id, bytes] : journal::read_states(tx, commands::vendor_streams(*cart, commands::state_of(states))))
            states[id] = bytes;
    });
    if (!r) return c.storage_unavailable(r.error());
    const auto inputs = commands::assemble(*cart, customer_id.empty() ? "-" : customer_id, commands::state_of(states));
    auto priced = pricing::price(*cart, inputs.catalog, inputs.customer, deps_.clock_ms());
    if (!priced) {
        const auto code = std::string(pricing::to_string(priced.error().code));
        const auto& subject = priced.error().subject;
        return c.fail(422, code, subject.empty() ? code : code + ": " + subject,
                    subject.empty() ? "" : (code.rfind("coupon", 0) == 0 || code == "unknown_coupon" ? "coupon_codes" : "lines"));
    }
    auto quoted = commands::breakdown_json(*priced);
    quoted["loyalty"] = {{"tier", inputs.loyalty_tier.empty() ? nlohmann::json(nullptr) : nlohmann::json(inputs.loyalty_tier)},
                       {"discount_bps", inputs.customer.loyalty_discount_bps}};
    return c.reply(json_response(200, quoted));
}

// POST /v1/checkout  (a customer for themselves, a storefront for a guest; Idempotency-Key;
// expected_total_minor required)
bool Api::post_checkout(Call& c) {
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::CartRequest body;
    if (!c.parse_message(body)) return true;
    if (!body.has_expected_total_minor())
        return c.fail(400, "missing_field", "expected_total_minor (the total the customer saw) is required",
                    "expected_total_minor");
    auto guest = guest_of(c, body, c.claims.role, c.claims.sub, true);
    if (!guest) return true;
    const std::string customer_id = guest->empty() ? c.claims.sub : *guest;
    if (!body.subscription_interval().empty())
        return c.fail(400, "invalid_field", "a subscription is started with POST /v1/subscriptions",
                      "subscription_interval");
    auto cart = commands::cart_from(body);
    if (!cart) return c.fail(422, cart.error().code, cart.error().detail, cart.error().field);
    if (!guest->empty()) cart->apply_credit = false;  // store credit belongs to accounts
    return place_order(c, *key, body, std::move(*cart), customer_id, *guest, std::nullopt);
}

// Checkout's common part (a cart, and a subscription's first order): the vendors and
// referral sources resolved, the batch's command submitted.
bool Api::place_order(Call& c, const std::string& key, const v1::CartRequest& body, pricing::Cart cart_in,
                      const std::string& customer_id, const std::string& guest,
                      std::optional<commands::SubscriptionStart> subscription) {
    auto cart = &cart_in;
    // Resolve the products' vendors so the batch can lock them too: from the cache,
    // or one read for the SKUs it does not know yet.
    std::vector<std::string> vendors, missing;
    {
        std::lock_guard lock(vendor_of_mu_);
        for (const auto& l : cart->lines) {
            auto it = vendor_of_.find(l.sku);
            if (it != vendor_of_.end()) vendors.push_back(it->second);
            else missing.push_back(catalog::product_stream(l.sku));
        }
    }
    // One read for the SKUs the cache does not know and the customer's recent checkouts
    // (the double-click rule: the batch reads the candidate's order with the rest).
    v1::CartRequest shape = body;
    shape.clear_expected_total_minor();
    shape.clear_referral_cookie();
    const std::string cart_hash = events::to_hex(events::sha256(shape.SerializeAsString()));
    const std::string guard_stream = order::checkout_guard_stream(customer_id);
    missing.push_back(guard_stream);
    // The referral sources, to read the affiliates they name with the batch: the
    // coupons' and the profile's (the batch decides on them afresh), and the cookie's.
    std::vector<std::string> sources{catalog::customer_stream(customer_id)};
    for (const auto& code : cart->coupon_codes) sources.push_back(catalog::coupon_stream(code));
    std::map<std::string, std::string> found, source_states;
    std::vector<std::string> to_read = missing;
    to_read.insert(to_read.end(), sources.begin(), sources.end());
    auto r = deps_.pool->transact([&](sql::Tx& tx) { found = journal::read_states(tx, to_read); });
    if (!r) return c.storage_unavailable(r.error());
    for (const auto& id : sources)  // one read; what remains in `found` are the guard and products
        if (auto it = found.find(id); it != found.end()) source_states.insert(found.extract(it));
    affiliate::Sources named = commands::referral_sources(cart->coupon_codes, customer_id, commands::state_of(source_states));
    named.cookie = referral_cookie(body.referral_cookie());
    std::vector<std::string> affiliate_streams;
    for (const auto& id : affiliate::named(named)) affiliate_streams.push_back(affiliate::stream_id(id));
    std::string candidate;
    if (auto g = found.find(guard_stream); g != found.end()) {
        v1::CheckoutGuardState guard;
        // A subscription is never a double click's duplicate: its Idempotency-Key guards it.
        if (!subscription && guard.ParseFromString(g->second))
            candidate = order::double_click_candidate(guard, cart_hash, deps_.clock_ms()).value_or("");
        found.erase(g);
    }
    if (!found.empty()) {
        std::lock_guard lock(vendor_of_mu_);
        if (vendor_of_.size() > kVendorOfMax) vendor_of_.clear();
        for (const auto& [stream, bytes] : found) {
            v1::ProductDefinition p;
            if (!p.ParseFromString(bytes)) continue;
            vendor_of_[p.sku()] = catalog::vendor_stream(p.vendor_id());
            vendors.push_back(vendor_of_[p.sku()]);
        }
    }
    commands::CheckoutRequest order{*cart, customer_id,
                                    commands::order_id_for(commands::command_id_for(c.claims.sub, key)),
                                    body.expected_total_minor(), std::move(vendors), cart_hash, candidate,
                                    guest.empty() ? "" : c.claims.sub, guest.empty() ? "" : body.guest().email()};
    order.referral_cookie = named.cookie;
    order.affiliate_streams = std::move(affiliate_streams);
    order.attribution_recent_ms = deps_.attribution_recent_ms;
    order.subscription = std::move(subscription);
    // A double click answers 200 with the first order, and says so in a header too.
    return c.submit(commands::checkout(std::move(order)), key, [](Response& res) {
        if (res.status != 200) return;
        auto doc = nlohmann::json::parse(res.body, nullptr, false);
        if (doc.is_object() && doc.contains("duplicate_of") && doc["duplicate_of"].is_string())
            res.headers.emplace_back("Duplicate-Of", doc["duplicate_of"].get<std::string>());
    });
}

// POST /v1/customers/{id}/claims  (admin; Idempotency-Key): the guest's unclaimed orders become the customer's.
bool Api::claim_guest_orders(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::GuestClaimRequest body;
    if (!c.parse_message(body)) return true;
    const bool by_id = !body.guest_customer_id().empty();
    if (by_id == (!body.storefront_id().empty() || !body.email().empty()))
        return c.fail(422, "invalid_value", "give either guest_customer_id or storefront_id and email", "guest_customer_id");
    if (!by_id && (!valid_id(body.storefront_id()) || body.email().empty()))
        return c.fail(422, "invalid_value", "storefront_id and email name the guest together", "storefront_id");
    const std::string guest = by_id ? body.guest_customer_id() : commands::guest_customer_id(body.storefront_id(), body.email());
    if (!valid_id(guest)) return c.fail(422, "invalid_value", "guest_customer_id is not a guest's id", "guest_customer_id");
    std::optional<journal::Principal> customer;
    std::map<std::string, std::string> states;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        customer = journal::load_principal(tx, parts[2]);
        states = journal::read_states(tx, {order::guest_stream(guest)});
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!customer || customer->role != "customer")
        return c.fail(422, "unknown_customer", "no registered customer " + parts[2], "customer_id");
    commands::GuestClaim claim{guest, parts[2], commands::unclaimed_orders(states[order::guest_stream(guest)])};
    return c.submit(commands::claim_guest(std::move(claim)), *key);
}

// Order listings, newest first, keyset-paginated: ?limit=&cursor= (cursor from the previous page).
//   GET /v1/customers/{id}/orders  (the customer, admin, auditor, employee with orders.view)
//   GET /v1/vendors/{id}/orders    (the vendor: its sub-orders only; staff likewise)
//   GET /v1/orders?status=&vendor_id=&from_ms=&to_ms=  (admin, auditor, employee with orders.view)
bool Api::list_orders(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    const auto& query = c.query;
    const bool customer_list = parts.size() == 4 && parts[1] == "customers";
    const bool vendor_list = parts.size() == 4 && parts[1] == "vendors";
    const bool admin_list = parts.size() == 2;
    auto caller = c.fresh_caller();
    if (!caller) return true;
    const auto& p = caller->principal;
    const bool staff = p.role == "admin" || p.role == "auditor" ||
                       (p.role == "employee" && commands::has_permission(p.permissions, "orders", "view"));
    if (!admin_list && !valid_id(parts[2]))
        return c.fail(400, "invalid_path", "id must be 1-64 of [A-Za-z0-9._-]", customer_list ? "customer_id" : "vendor_id");
    const bool self = (customer_list && p.role == "customer" && p.id == parts[2]) ||
                      (vendor_list && p.role == "vendor" && p.id == parts[2]);
    if (!staff && !self) return c.fail(403, "forbidden", "you may not list these orders");
    auto limit = parse_count(query, "limit", 50, 200);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..200", "limit");
    // Cursor "placed_at_ms.order_id": rows strictly older than it.
    std::string cursor_ms = std::to_string(INT64_MAX), cursor_id = "";
    if (auto cur = query.find("cursor"); cur != query.end()) {
        const auto dot = cur->second.find('.');
        int64_t ms = 0;
        const auto* begin = cur->second.data();
        if (dot == std::string::npos || std::from_chars(begin, begin + dot, ms).ec != std::errc())
            return c.fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
        cursor_ms = std::to_string(ms);
        cursor_id = cur->second.substr(dot + 1);
        if (!valid_id(cursor_id)) return c.fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
    }
    auto from = parse_count(query, "from_ms", 0, INT64_MAX);
    auto to = parse_count(query, "to_ms", INT64_MAX, INT64_MAX);
    if (!from || !to) return c.fail(400, "invalid_query", "from_ms and to_ms are unix milliseconds", "from_ms");
    const std::string status = query.contains("status") ? query.at("status") : "";
    const std::string fulfilment = query.contains("fulfilment_status") ? query.at("fulfilment_status") : "";
    if (!fulfilment.empty() && fulfilment != "unfulfilled" && fulfilment != "partially_shipped" &&
        fulfilment != "shipped" && fulfilment != "delivered")
        return c.fail(400, "invalid_query", "fulfilment_status is unfulfilled, partially_shipped, shipped or delivered",
                      "fulfilment_status");
    const std::string vendor = vendor_list ? parts[2] : (query.contains("vendor_id") ? query.at("vendor_id") : "");
    if (!status.empty() && (status.size() > 32 || !std::all_of(status.begin(), status.end(), [](char ch) {
                                return (ch >= 'a' && ch <= 'z') || ch == '_';
                            })))
        return c.fail(400, "invalid_query", "status is an order status such as awaiting_payment or paid", "status");
    if (!vendor.empty() && !valid_id(vendor))
        return c.fail(400, "invalid_query", "vendor_id must be 1-64 of [A-Za-z0-9._-]", "vendor_id");
    json items = json::array();
    std::string next;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        sql::Rows rows;
        const std::string page =
            " AND (o.placed_at_unix_ms, o.order_id) < ($2::bigint, $3)"
            " AND o.placed_at_unix_ms >= $4::bigint AND o.placed_at_unix_ms < $5::bigint"
            " AND ($6 = '' OR o.status = $6) AND ($8 = '' OR o.fulfilment_status = $8)"
            " ORDER BY o.placed_at_unix_ms DESC, o.order_id DESC LIMIT $7::bigint";
        const std::vector<sql::Param> args{customer_list ? parts[2] : vendor, cursor_ms, cursor_id,
                                           std::to_string(*from), std::to_string(*to), status,
                                           std::to_string(*limit), fulfilment};
        if (!vendor.empty())
            // Vendors see their sub-order, never the order's totals or other vendors' lines.
            rows = tx.exec("SELECT o.order_id, o.placed_at_unix_ms, s.status, o.currency, s.goods_net_minor,"
                           " s.shipping_minor, s.commission_minor, s.payable_minor, o.customer_id"
                           " FROM sub_orders s JOIN orders o USING (order_id) WHERE s.vendor_id = $1" + page, args);
        else if (customer_list)
            rows = tx.exec("SELECT o.order_id, o.placed_at_unix_ms, o.status, o.currency, o.total_minor,"
                           " o.amount_due_minor, o.credit_applied_minor, o.zero_payment::int, o.customer_id,"
                           " o.fulfilment_status FROM orders o WHERE o.customer_id = $1" + page, args);
        else
            rows = tx.exec("SELECT o.order_id, o.placed_at_unix_ms, o.status, o.currency, o.total_minor,"
                           " o.amount_due_minor, o.credit_applied_minor, o.zero_payment::int, o.customer_id,"
                           " o.fulfilment_status FROM orders o WHERE $1 = ''" + page, args);
        for (const auto& row : rows) {
            json item = {{"order_id", row.str(0)}, {"placed_at_unix_ms", row.i64(1)}, {"status", row.str(2)},
                         {"currency", row.str(3)}};
            if (!vendor.empty()) {
                item["vendor_id"] = vendor;
                item["goods_net_minor"] = row.i64(4);
                item["shipping_minor"] = row.i64(5);
                item["commission_minor"] = row.i64(6);
                item["payable_minor"] = row.i64(7);
            } else {
                item["customer_id"] = row.str(8);
                item["total_minor"] = row.i64(4);
                item["amount_due_minor"] = row.i64(5);
                item["credit_applied_minor"] = row.i64(6);
                item["zero_payment"] = row.i64(7) == 1;
                item["fulfilment_status"] = row.str(9);
            }
            items.push_back(item);
        }
        if (static_cast<int64_t>(rows.size()) == *limit && !rows.empty())
            next = std::to_string(rows.back().i64(1)) + "." + rows.back().str(0);
    });
    if (!r) return c.storage_unavailable(r.error());
    json out = {{"orders", items}};
    out["next_cursor"] = next.empty() ? json(nullptr) : json(next);
    return c.reply(json_response(200, out));
}

// GET /v1/orders/{id}  (the customer, admin, auditor, employee with orders.view, the storefront that
// placed a guest order; a vendor sees its sub-order only)
bool Api::get_order(Call& c) {
    const std::vector<std::string>& parts = c.parts;
    auto caller = c.fresh_caller();
    if (!caller) return true;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "order id must be 1-64 of [A-Za-z0-9._-]", "order_id");
    std::optional<v1::OrderPlaced> placed;
    std::string status;
    std::map<std::string, std::string> sub_status;  // the projected lifecycle status per vendor
    std::map<std::string, std::pair<std::string, std::string>> shipment;  // carrier, tracking per vendor
    std::string fulfilment_status;
    std::string owner;  // the customer now: a claimed guest order's is the claimant
    json payment = nullptr;  // the PaymentIntent: planned, created, or parked in the dead letters
    std::string client_secret;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT o.status, o.detail, coalesce(i.payment_intent_id, ''), o.fulfilment_status,"
                            " o.customer_id FROM orders o"
                            " LEFT JOIN order_payment_intents i USING (order_id) WHERE o.order_id = $1", {parts[2]});
        if (rows.empty()) return;
        status = rows[0].str(0);
        fulfilment_status = rows[0].str(3);
        owner = rows[0].str(4);
        v1::OrderPlaced o;
        if (o.ParseFromString(rows[0].bytes(1))) placed = std::move(o);
        if (auto pc = provider_calls::payment_intent_of(tx, parts[2])) {
            payment = {{"intent_status", pc->status == "done" ? "created" : pc->status == "dead" ? "failed" : "pending"},
                       {"payment_intent_id", pc->object_id.empty() ? rows[0].str(2) : pc->object_id}};
            if (pc->status == "dead") payment["error"] = pc->last_error;
            client_secret = pc->client_secret;
        }
        for (const auto& so : tx.exec("SELECT vendor_id, status, carrier, tracking FROM sub_orders WHERE order_id = $1",
                                      {parts[2]})) {
            sub_status[so.str(0)] = so.str(1);
            shipment[so.str(0)] = {so.str(2), so.str(3)};
        }
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!placed) return c.fail(404, "not_found", "no order " + parts[2] + " (it may not be projected yet)");
    const auto& p = caller->principal;
    const bool storefront = p.role == "storefront" && !placed->storefront_id().empty() && p.id == placed->storefront_id();
    const bool full = p.role == "admin" || p.role == "auditor" ||
                      (p.role == "employee" && commands::has_permission(p.permissions, "orders", "view")) ||
                      (p.role == "customer" && p.id == owner) || storefront;
    bool vendor_part = false;
    if (p.role == "vendor")
        for (const auto& so : placed->sub_orders()) vendor_part = vendor_part || so.vendor_id() == p.id;
    if (!full && !vendor_part) return c.fail(403, "forbidden", "you may not read this order");
    json lines = json::array(), subs = json::array();
    for (const auto& l : placed->pricing().lines())
        if (full || l.vendor_id() == p.id)
            lines.push_back({{"sku", l.sku()}, {"vendor_id", l.vendor_id()}, {"quantity", l.quantity()},
                             {"unit_minor", l.unit_minor()}, {"net_minor", l.net_minor()},
                             {"country_of_origin", l.country_of_origin()}});
    for (const auto& so : placed->sub_orders())
        if (full || so.vendor_id() == p.id)
            subs.push_back({{"vendor_id", so.vendor_id()}, {"status", sub_status[so.vendor_id()]},
                            {"goods_net_minor", so.goods_net_minor()}, {"shipping_minor", so.shipping_minor()},
                            {"commission_minor", so.commission_minor()}, {"payable_minor", so.payable_minor()},
                            {"promotion_minor", so.promotion_minor()},
                            {"carrier", shipment[so.vendor_id()].first},
                            {"tracking", shipment[so.vendor_id()].second}});
    json out = {{"order_id", placed->order_id()}, {"status", status}, {"fulfilment_status", fulfilment_status},
                {"currency", placed->pricing().currency()},
                {"lines", lines}, {"sub_orders", subs}};
    if (full) {
        out["customer_id"] = owner;
        if (!placed->storefront_id().empty()) {
            out["storefront_id"] = placed->storefront_id();
            out["guest_customer_id"] = placed->customer_id();
            out["guest_email"] = placed->guest_email();
        }
        out["total_minor"] = placed->pricing().total_minor();
        out["credit_applied_minor"] = placed->pricing().credit_applied_minor();
        out["amount_due_minor"] = placed->pricing().amount_due_minor();
        out["zero_payment"] = placed->zero_payment();
        // Who paid for each discount: the platform, or the vendor named.
        json coupons = json::array();
        for (const auto& cp : placed->pricing().coupons())
            coupons.push_back({{"code", cp.code()}, {"discount_minor", cp.discount_minor()},
                               {"funded_by", cp.funded_by()}});  // empty for orders placed before it was recorded
        out["coupons"] = coupons;
        out["promotions_minor"] = placed->pricing().promotions_minor();
        out["loyalty"] = {{"tier", placed->pricing().loyalty_tier().empty() ? nlohmann::json(nullptr)
                                                                             : nlohmann::json(placed->pricing().loyalty_tier())},
                          {"discount_bps", placed->pricing().loyalty_discount_bps()}};
        // Who referred it, for staff and auditors (what the affiliate earns is not the buyer's business).
        if (p.role == "admin" || p.role == "employee" || p.role == "auditor") {
            const auto& at = placed->attribution();
            out["attribution"] = at.affiliate_id().empty()
                                     ? nlohmann::json(nullptr)
                                     : nlohmann::json{{"affiliate_id", at.affiliate_id()}, {"step", at.step()},
                                                      {"outcome", at.outcome()}, {"coupon_code", at.coupon_code()},
                                                      {"commission_bps", at.commission_bps()},
                                                      {"base_minor", at.base_minor()},
                                                      {"commission_minor", at.commission_minor()}};
        }
        // The storefront confirms the payment with the intent's client secret: the customer's
        // alone, or the storefront's that placed the guest order.
        if (payment.is_object() && (p.role == "customer" || storefront) && !client_secret.empty())
            payment["client_secret"] = client_secret;
        out["payment"] = payment;
    }
    return c.reply(json_response(200, out));
}

}  // namespace tally::http
