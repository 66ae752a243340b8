// Subscriptions over HTTP: subscribing (the first order is a checkout), the customer's
// acts, and the read models (projectors/subscriptions_projection.h).
#include "http/api.h"
#include "http/call.h"

#include "commands/lifecycle.h"
#include "commands/pricing_view.h"
#include "commands/subscription.h"
#include "domain/ids.h"
#include "domain/order.h"
#include "domain/subscription.h"
#include "tally/v1/subscription.pb.h"

using nlohmann::json;

namespace tally::http {
namespace {

// A payment method the storefront saved with a SetupIntent: Stripe's "pm_…" id.
bool plausible_payment_method(const std::string& pm) { return pm.rfind("pm_", 0) == 0 && valid_id(pm); }

json plan_json(const v1::SubscriptionPlan& plan) {
    json lines = json::array();
    for (const auto& l : plan.lines()) {
        json line = {{"sku", l.sku()}, {"quantity", l.quantity()}};
        if (!l.material().empty()) line["material"] = l.material();
        if (!l.finish().empty()) line["finish"] = l.finish();
        if (!l.turnaround().empty()) line["turnaround"] = l.turnaround();
        if (!l.variant_id().empty()) line["variant_id"] = l.variant_id();
        lines.push_back(std::move(line));
    }
    return {{"lines", lines},
            {"ship_to_country", plan.ship_to_country()},
            {"coupon_codes", json(std::vector<std::string>(plan.coupon_codes().begin(), plan.coupon_codes().end()))}};
}

json subscription_json(const v1::SubscriptionState& s) {
    const auto interval = subscription::parse_interval(s.interval());
    json out = {{"subscription_id", s.subscription_id()},
                {"customer_id", s.customer_id()},
                {"status", s.status()},
                {"interval", s.interval()},
                {"currency", s.currency()},
                {"plan", plan_json(s.plan())},
                {"payment_method", s.payment_method()},
                {"started_unix_ms", s.anchor_unix_ms()},
                {"next_period", s.next_period()},
                {"next_renewal_unix_ms", nullptr},
                {"skip_periods", json(std::vector<int64_t>(s.skip_periods().begin(), s.skip_periods().end()))},
                {"paused_until_unix_ms", s.paused_until_unix_ms() ? json(s.paused_until_unix_ms()) : json(nullptr)},
                {"cancel_at_unix_ms", s.cancel_at_unix_ms() ? json(s.cancel_at_unix_ms()) : json(nullptr)},
                {"cancelled_at_unix_ms", s.cancelled_at_unix_ms() ? json(s.cancelled_at_unix_ms()) : json(nullptr)},
                {"dunning", nullptr}};
    if (s.status() != "cancelled" && interval && s.next_period() <= subscription::kPeriodsMax)
        out["next_renewal_unix_ms"] = subscription::period_start_ms(s.anchor_unix_ms(), *interval, s.next_period());
    if (!s.cancel_mode().empty()) out["cancel_mode"] = s.cancel_mode();
    if (s.has_dunning())
        out["dunning"] = {{"period", s.dunning().period()},
                          {"failed_attempts", s.dunning().attempt() + 1},
                          {"last_code", s.dunning().last_code()},
                          {"next_retry_unix_ms", s.dunning().next_retry_unix_ms() ? json(s.dunning().next_retry_unix_ms())
                                                                                   : json(nullptr)}};
    return out;
}

std::optional<v1::SubscriptionState> parse_subscription(const std::string& bytes) {
    v1::SubscriptionState s;
    if (!s.ParseFromString(bytes) || s.subscription_id().empty()) return std::nullopt;
    return s;
}

}  // namespace

// POST /v1/subscriptions  (a customer for themselves; Idempotency-Key; expected_total_minor required)
bool Api::post_subscription(Call& c) {
    auto key = c.idempotency_key();
    if (!key) return true;
    v1::SubscriptionRequest body;
    if (!c.parse_message(body)) return true;
    if (!subscription::parse_interval(body.interval()))
        return c.fail(422, "invalid_value", "interval is week, month or quarter", "interval");
    if (!plausible_payment_method(body.payment_method()))
        return c.fail(422, "invalid_value", "payment_method is the pm_… id a SetupIntent saved", "payment_method");
    if (!body.has_expected_total_minor())
        return c.fail(400, "missing_field", "expected_total_minor (the total the customer saw) is required",
                      "expected_total_minor");
    v1::CartRequest cart_req;
    cart_req.set_currency(body.currency());
    cart_req.set_ship_to_country(body.ship_to_country());
    *cart_req.mutable_lines() = body.lines();
    *cart_req.mutable_coupon_codes() = body.coupon_codes();
    if (body.has_apply_credit()) cart_req.set_apply_credit(body.apply_credit());
    cart_req.set_expected_total_minor(body.expected_total_minor());
    cart_req.set_subscription_interval(body.interval());
    auto cart = commands::cart_from(cart_req);
    if (!cart) return c.fail(422, cart.error().code, cart.error().detail, cart.error().field);
    v1::SubscriptionChangeRequest as_plan;
    *as_plan.mutable_lines() = body.lines();
    as_plan.set_ship_to_country(body.ship_to_country());
    *as_plan.mutable_coupon_codes() = body.coupon_codes();
    if (auto problem = subscription::check_plan(commands::merged_plan({}, as_plan)))
        return c.fail(422, "plan_invalid", *problem, "lines");
    const std::string command_id = commands::command_id_for(c.claims.sub, *key);
    return place_order(c, *key, cart_req, std::move(*cart), c.claims.sub, "",
                       commands::SubscriptionStart{commands::subscription_id_for(command_id), body.payment_method()});
}

// POST /v1/subscriptions/{id}/changes | pause | skip | cancel  (its customer, admin, employee
// with orders.manage; Idempotency-Key)
bool Api::subscription_act(Call& c) {
    const auto& parts = c.parts;
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "subscription id must be 1-64 of [A-Za-z0-9._-]", "subscription_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    commands::SubscriptionAct act{parts[2], commands::SkipNext{}};
    const std::string& what = parts[3];
    bool immediately = false;
    if (what == "changes") {
        v1::SubscriptionChangeRequest body;
        if (!c.parse_message(body)) return true;
        if (body.lines().empty() && body.ship_to_country().empty() && body.coupon_codes().empty() && !body.clear_coupons())
            return c.fail(422, "invalid_value", "a change names lines, ship_to_country or coupons", "lines");
        act.act = commands::ChangePlan{std::move(body)};
    } else if (what == "pause") {
        v1::SubscriptionPauseRequest body;
        if (!c.parse_message(body)) return true;
        act.act = commands::PauseUntil{body.until_unix_ms()};
    } else if (what == "cancel") {
        v1::SubscriptionCancelRequest body;
        if (!c.parse_message(body)) return true;
        auto mode = subscription::parse_cancel_mode(body.mode());
        if (!mode) return c.fail(422, "invalid_value", "mode is period_end or immediately", "mode");
        if (body.reason().size() > 500) return c.fail(422, "invalid_value", "reason is at most 500 bytes", "reason");
        immediately = *mode == subscription::CancelMode::immediately;
        act.act = commands::CancelSubscription{*mode, body.reason()};
    } else if (!c.req.body.empty()) {
        v1::SubscriptionSkipRequest none;  // skip takes no fields: an empty object at most
        if (!c.parse_message(none)) return true;
    }
    // Read first: a subscription that does not exist is 404; an immediate cancellation
    // takes the latest period's order (and what its cancellation locks) into the batch.
    std::map<std::string, std::string> states;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        states = journal::read_states(tx, {subscription::stream_id(parts[2])});
        if (!immediately) return;
        auto s = parse_subscription(states[subscription::stream_id(parts[2])]);
        if (!s || s->renewals().empty() || s->renewals().rbegin()->order_id().empty()) return;
        const std::string order = s->renewals().rbegin()->order_id();
        for (auto& [id, bytes] : journal::read_states(tx, {order::stream_id(order)})) states[id] = std::move(bytes);
    });
    if (!r) return c.storage_unavailable(r.error());
    auto s = parse_subscription(states[subscription::stream_id(parts[2])]);
    if (!s) return c.fail(404, "not_found", "no subscription " + parts[2]);
    if (immediately && !s->renewals().empty() && !s->renewals().rbegin()->order_id().empty()) {
        act.order_id = s->renewals().rbegin()->order_id();
        v1::OrderState order;
        if (order.ParseFromString(states[order::stream_id(act.order_id)]) && !order.cancelled())
            act.order_cancellation = commands::change_order(commands::cancellation_of(
                order, lifecycle::Cancel{"subscription " + parts[2] + " cancelled immediately", false, 0, 0}));
    }
    return c.submit(commands::subscription_act(std::move(act)), *key);
}

// GET /v1/customers/{id}/subscriptions  (the customer, admin, auditor, employee with orders.view)
// GET /v1/subscriptions?status=&due_before=  (admin, auditor, employee with orders.view)
bool Api::list_subscriptions(Call& c) {
    const bool customer_list = c.parts.size() == 4;
    std::string customer_id;
    if (customer_list) {
        customer_id = c.parts[2];
        if (!c.customer_read(customer_id, "orders", "subscriptions")) return true;
    }
    auto page = c.id_page();
    if (!page) return true;
    std::string status;
    if (auto q = c.query.find("status"); q != c.query.end()) {
        status = q->second;
        if (status != "active" && status != "paused" && status != "past_due" && status != "cancelled")
            return c.fail(400, "invalid_query", "status is active, paused, past_due or cancelled", "status");
    }
    auto due_before = parse_count(c.query, "due_before", INT64_MAX, INT64_MAX);
    if (!due_before) return c.fail(400, "invalid_query", "due_before is unix milliseconds", "due_before");
    sql::Rows rows;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        rows = tx.exec("SELECT subscription_id, state FROM subscriptions WHERE ($1 = '' OR customer_id = $1)"
                       " AND ($2 = '' OR status = $2) AND next_due_unix_ms < $3::bigint AND subscription_id > $4"
                       " ORDER BY subscription_id LIMIT $5",
                       {customer_id, status, std::to_string(*due_before), page->after, std::to_string(page->limit + 1)});
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, keyset_page("subscriptions", rows, page->limit, [](const sql::Row& row) {
        auto s = parse_subscription(row.bytes(1));
        return s ? subscription_json(*s) : json{{"subscription_id", row.str(0)}};
    }));
}

// GET /v1/subscriptions/{id}  (its customer, admin, auditor, employee with orders.view): the
// subscription and every period's renewal, with its order's status.
bool Api::get_subscription(Call& c) {
    const auto& id = c.parts[2];
    if (!valid_id(id)) return c.fail(400, "invalid_path", "subscription id must be 1-64 of [A-Za-z0-9._-]", "subscription_id");
    auto caller = c.fresh_caller();
    if (!caller) return true;
    std::optional<v1::SubscriptionState> s;
    sql::Rows renewals;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto rows = tx.exec("SELECT state FROM subscriptions WHERE subscription_id = $1", {id});
        if (rows.empty()) return;
        s = parse_subscription(rows[0].bytes(0));
        renewals = tx.exec("SELECT r.period, r.order_id, r.status, r.note, r.attempts_failed, r.at_unix_ms,"
                           " coalesce(o.status, ''), coalesce(o.total_minor, 0) FROM subscription_renewals r"
                           " LEFT JOIN orders o ON o.order_id = r.order_id AND r.order_id <> ''"
                           " WHERE r.subscription_id = $1 ORDER BY r.period",
                           {id});
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!s) return c.fail(404, "not_found", "no subscription " + id + " (it may not be projected yet)");
    if (!reads_customer(*caller, s->customer_id(), "orders"))
        return c.fail(403, "forbidden", "you may not read this subscription");
    json out = subscription_json(*s);
    out["renewals"] = json::array();
    for (const auto& row : renewals) {
        json renewal = {{"period", row.i64(0)},   {"status", row.str(2)}, {"attempts_failed", row.i64(4)},
                        {"at_unix_ms", row.i64(5)}, {"order_id", nullptr}, {"order", nullptr}};
        if (!row.str(3).empty()) renewal["note"] = row.str(3);
        if (!row.str(1).empty()) {
            renewal["order_id"] = row.str(1);
            if (!row.str(6).empty()) renewal["order"] = {{"status", row.str(6)}, {"total_minor", row.i64(7)}};
        }
        out["renewals"].push_back(std::move(renewal));
    }
    return c.reply_json(200, out);
}

}  // namespace tally::http
