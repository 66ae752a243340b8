#include "http/api.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <map>

#include "commands/affiliate_payout.h"
#include "commands/lifecycle.h"
#include "commands/operator_acts.h"
#include "domain/affiliate_payout.h"
#include "domain/ids.h"
#include "domain/money.h"
#include "domain/order.h"
#include "events/envelope.h"
#include "http/call.h"
#include "http/stripe.h"
#include "infra/journal.h"
#include "infra/provider_calls.h"
#include "tally/v1/operator.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::http {

// POST /v1/webhooks/stripe: verified by signature; deduplicated by event id forever (the
// pipeline's idempotency record under the provider's principal); 200 only after the
// commit, 5xx when anything fails so the provider retries.
bool Api::stripe_webhook(Call& c) {
    if (deps_.stripe_webhook_secrets.empty())
        return c.fail(503, "webhooks_not_configured", "TALLY_STRIPE_WEBHOOK_SECRETS is not set");
    auto header = c.req.headers.find("stripe-signature");
    auto verified = stripe::verify(header == c.req.headers.end() ? "" : header->second, c.req.body,
                                   deps_.stripe_webhook_secrets, deps_.clock_ms() / 1000);
    if (!verified) return c.fail(400, verified.error().code, verified.error().detail, "Stripe-Signature");
    auto event = stripe::parse_event(c.req.body);
    if (!event) return c.fail(400, "invalid_event", event.error().detail, event.error().field);
    const std::string id = event->signal.provider_event_id();
    // An affiliate payout's transfer: its payout account takes it.
    if (!event->affiliate_payout.empty()) {
        affiliate::PayoutSignal signal{event->affiliate_payout,
                                       event->signal.kind() == v1::SIGNAL_TRANSFER_CREATED ? affiliate::PayoutOutcome::paid
                                                                                           : affiliate::PayoutOutcome::returned,
                                       event->signal, ""};
        return c.submit_as({"provider:stripe", "provider", 1},
                           commands::affiliate_payout_message({event->affiliate_id, std::move(signal)}), "stripe:" + id,
                           events::sha256("stripe event\n" + id));
    }
    // Charges and disputes carry no order metadata: their PaymentIntent leads to it. Then:
    // does the order exist (orders are never deleted, so the answer holds)?
    bool intent_in_doubt = false;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        intent_in_doubt = false;
        if (event->order_id.empty() && !event->signal.payment_intent_id().empty()) {
            auto order = provider_calls::order_of_intent(tx, event->signal.payment_intent_id());
            if (order) event->order_id = *order;
            // An intent we do not know may still be ours: one whose creation's answer has
            // not reached us yet (lost on the way, or the worker not done). While any such
            // call is unresolved the message is not recorded as naming no order (that would
            // lose it for good): the provider is asked to send it again.
            else
                intent_in_doubt = provider_calls::intent_creation_unresolved(tx);
        }
        if (event->handled && !event->order_id.empty()) {
            const auto bytes = journal::read_state(tx, order::stream_id(event->order_id));
            event->order_known = bytes.has_value();
            lifecycle::State state;
            if (bytes && state.ParseFromString(*bytes)) event->customer_id = order::owner(state);
        }
    });
    if (!r) return c.storage_unavailable(r.error());
    if (intent_in_doubt)
        return c.fail(503, "intent_not_yet_known",
                      "PaymentIntent " + event->signal.payment_intent_id() +
                          " is not known yet while intents are being created; send this event again",
                      "data.object.payment_intent");
    return c.submit_as({"provider:stripe", "provider", 1}, commands::provider_event(std::move(*event)), "stripe:" + id,
                       events::sha256("stripe event\n" + id));
}

namespace {

std::string json_text(const nlohmann::json& o, std::initializer_list<const char*> path) {
    const nlohmann::json* at = &o;
    for (const char* k : path) {
        if (!at->is_object()) return "";
        auto it = at->find(k);
        if (it == at->end()) return "";
        at = &*it;
    }
    return at->is_string() ? at->get<std::string>() : "";
}

// PayPal's payout event types and what each means to a payout; nullopt: nothing (a
// batch processing or done, whose item's own message settles it; an unclaimed item,
// which PayPal returns by itself after 30 days; a type tally does not act on).
std::optional<affiliate::PayoutOutcome> paypal_outcome(const std::string& type) {
    using affiliate::PayoutOutcome;
    static const std::map<std::string, PayoutOutcome, std::less<>> outcomes{
        {"PAYMENT.PAYOUTSBATCH.DENIED", PayoutOutcome::failed},  {"PAYMENT.PAYOUTS-ITEM.SUCCEEDED", PayoutOutcome::paid},
        {"PAYMENT.PAYOUTS-ITEM.FAILED", PayoutOutcome::failed},  {"PAYMENT.PAYOUTS-ITEM.BLOCKED", PayoutOutcome::failed},
        {"PAYMENT.PAYOUTS-ITEM.DENIED", PayoutOutcome::failed},  {"PAYMENT.PAYOUTS-ITEM.CANCELED", PayoutOutcome::failed},
        {"PAYMENT.PAYOUTS-ITEM.RETURNED", PayoutOutcome::returned},
        {"PAYMENT.PAYOUTS-ITEM.REFUNDED", PayoutOutcome::returned},
        {"PAYMENT.PAYOUTS-ITEM.REVERSED", PayoutOutcome::returned}};
    auto it = outcomes.find(type);
    if (it == outcomes.end()) return std::nullopt;
    return it->second;
}

}  // namespace

// POST /v1/webhooks/paypal: PayPal's payout messages, verified as PayPal specifies (its
// verify-webhook-signature API, with the PAYPAL-* transmission headers, our webhook id
// and the event), deduplicated by event id, 200 only after the commit; 5xx when PayPal
// cannot be asked (it sends again), 400 when it says the signature is not its own.
bool Api::paypal_webhook(Call& c) {
    if (!deps_.paypal) return c.fail(503, "webhooks_not_configured", "TALLY_PAYPAL_CLIENT_ID is not set");
    auto header = [&](const char* name) {
        auto it = c.req.headers.find(name);
        return it == c.req.headers.end() ? std::string() : it->second;
    };
    const std::string transmission_id = header("paypal-transmission-id"), transmission_time = header("paypal-transmission-time"),
                      transmission_sig = header("paypal-transmission-sig"), cert_url = header("paypal-cert-url"),
                      auth_algo = header("paypal-auth-algo");
    for (const auto& [name, value] : {std::pair{"PAYPAL-TRANSMISSION-ID", &transmission_id},
                                      {"PAYPAL-TRANSMISSION-TIME", &transmission_time},
                                      {"PAYPAL-TRANSMISSION-SIG", &transmission_sig},
                                      {"PAYPAL-CERT-URL", &cert_url},
                                      {"PAYPAL-AUTH-ALGO", &auth_algo}})
        if (value->empty() || value->size() > 2000)
            return c.fail(400, "signature_missing", std::string(name) + " is required (1-2000 bytes)", name);
    auto event = nlohmann::json::parse(c.req.body, nullptr, false);
    if (event.is_discarded() || !event.is_object()) return c.fail(400, "invalid_event", "the body is not a JSON object");
    const std::string id = json_text(event, {"id"}), type = json_text(event, {"event_type"});
    if (!valid_id(id)) return c.fail(400, "invalid_event", "id must be 1-64 of [A-Za-z0-9._-]", "id");
    if (type.empty() || type.size() > 200) return c.fail(400, "invalid_event", "event_type is required", "event_type");
    const nlohmann::json verify = {{"auth_algo", auth_algo},           {"cert_url", cert_url},
                                   {"transmission_id", transmission_id}, {"transmission_sig", transmission_sig},
                                   {"transmission_time", transmission_time}, {"webhook_id", deps_.paypal_webhook_id},
                                   {"webhook_event", event}};
    const auto verified = deps_.paypal->post("/v1/notifications/verify-webhook-signature", verify.dump(), "");
    if (verified.status == 0 || verified.status >= 500 || verified.status == 429 || verified.status == 401)
        return c.fail(503, "verification_unavailable", "PayPal could not verify the message now: " + verified.error);
    auto answer = nlohmann::json::parse(verified.body, nullptr, false);
    if (!verified.ok() || !answer.is_object() || json_text(answer, {"verification_status"}) != "SUCCESS")
        return c.fail(400, "signature_mismatch", "PayPal did not verify the message's signature", "PAYPAL-TRANSMISSION-SIG");
    const auto outcome = paypal_outcome(type);
    if (!outcome) return c.reply_json(200, {{"recorded", false}, {"reason", "nothing to do for " + type}});
    // The payout: an item names it by sender_item_id (its key), a batch by sender_batch_id.
    const nlohmann::json resource = event.contains("resource") ? event["resource"] : nlohmann::json::object();
    const bool batch = type.rfind("PAYMENT.PAYOUTSBATCH.", 0) == 0;
    const std::string payout = batch ? json_text(resource, {"batch_header", "sender_batch_header", "sender_batch_id"})
                                     : json_text(resource, {"payout_item", "sender_item_id"});
    const auto affiliate_id = affiliate::affiliate_of_payout(payout);
    if (!affiliate_id)
        return c.fail(400, "invalid_event", "the message names no affiliate payout",
                      batch ? "resource.batch_header.sender_batch_header.sender_batch_id" : "resource.payout_item.sender_item_id");
    affiliate::PayoutSignal signal;
    signal.payout_id = payout;
    signal.outcome = *outcome;
    auto& sig = signal.signal;
    sig.set_provider_event_id(id);
    sig.set_type(type);
    sig.set_kind(*outcome == affiliate::PayoutOutcome::paid     ? v1::SIGNAL_PAYOUT_PAID
                 : *outcome == affiliate::PayoutOutcome::failed ? v1::SIGNAL_PAYOUT_FAILED
                                                                : v1::SIGNAL_PAYOUT_RETURNED);
    sig.set_object_id(batch ? json_text(resource, {"batch_header", "payout_batch_id"}) : json_text(resource, {"payout_batch_id"}));
    if (!batch) {
        const std::string currency = json_text(resource, {"payout_item", "amount", "currency"});
        const auto cur = Currency::parse(currency);
        const auto minor = cur ? parse_decimal_amount(json_text(resource, {"payout_item", "amount", "value"}), *cur) : std::nullopt;
        if (!minor) return c.fail(400, "invalid_event", "the item's amount is not an amount in a known currency",
                                  "resource.payout_item.amount");
        sig.set_amount_minor(*minor);
        sig.set_currency(currency);
        signal.reason = json_text(resource, {"transaction_status"});
        if (const auto err = json_text(resource, {"errors", "name"}); !err.empty()) signal.reason += ": " + err;
    } else {
        signal.reason = "batch denied";
    }
    if (sig.object_id().size() > 200) return c.fail(400, "invalid_event", "the payout batch id is too long", "resource");
    signal.reason = signal.reason.substr(0, 200);
    return c.submit_as({"provider:paypal", "provider", 1},
                       commands::affiliate_payout_message({*affiliate_id, std::move(signal)}), "paypal:" + id,
                       events::sha256("paypal event\n" + id));
}

// The dead letters: provider calls parked after their last attempt or refused by the
// provider (commands/provider_worker.h).
// GET /v1/operator/dead-letters?limit=
bool Api::list_dead_letters(Call& c) {
    auto limit = parse_count(c.query, "limit", 100, 1000);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..1000", "limit");
    nlohmann::json out = {{"dead_letters", nlohmann::json::array()}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        for (const auto& d : provider_calls::dead_letters(tx, *limit))
            out["dead_letters"].push_back({{"id", d.id},
                                           {"key", d.key},
                                           {"kind", d.kind},
                                           {"order_id", d.order_id},
                                           {"vendor_id", d.vendor_id},
                                           {"amount_minor", d.amount_minor},
                                           {"currency", d.currency},
                                           {"attempts", d.attempts},
                                           {"last_error", d.last_error},
                                           {"source_position", d.source_position},
                                           {"operator_retries", d.operator_retries},
                                           {"retried_by", d.retried_by},
                                           {"parked_at_unix_ms", d.parked_at_unix_ms},
                                           {"affiliate_id", d.affiliate_id}});
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, out);
}

// POST /v1/operator/dead-letters/{id}/retry: back to pending, attempts from 0.
bool Api::retry_dead_letter(Call& c) {
    const auto& parts = c.parts;
    auto caller = c.fresh_caller();
    if (!caller) return true;
    const auto& who = caller->principal;
    v1::OperatorActRequest body;
    if (!c.req.body.empty() && !c.parse_message(body)) return true;
    if (body.reason().size() > 500) return c.fail(422, "invalid_value", "reason is at most 500 bytes", "reason");
    int64_t id = 0;
    auto [end, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), id);
    if (ec != std::errc() || end != parts[3].data() + parts[3].size() || id <= 0)
        return c.fail(400, "invalid_path", "the dead letter id is a positive integer", "id");
    std::optional<std::string> status;
    v1::DeadLetterRetried act;
    int64_t retries = 0;
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        auto call = provider_calls::find(tx, id);
        if (!call) return;
        status = call->status;
        act.set_key(call->key);
        act.set_kind(call->kind);
        act.set_last_error(call->last_error);
        retries = call->operator_retries;
    });
    if (!r) return c.storage_unavailable(r.error());
    if (!status) return c.fail(404, "not_found", "no dead letter " + parts[3]);
    // Retrying twice is harmless: the second finds it pending (or done) and says so.
    if (*status != "dead") return c.reply_json(200, {{"id", id}, {"status", *status}, {"retried", false}});
    // An event, like every change: the provider-call planner applies it (back to pending,
    // attempts from zero). Two retries of the same parking share a key: one event.
    act.set_call_id(id);
    act.set_operator_id(who.id);
    act.set_reason(body.reason());
    act.set_at_unix_ms(deps_.clock_ms());
    spdlog::info("dead letter {} sent back to the provider workers by {}", id, who.id);
    const std::string key = "dead-letter-retry-" + std::to_string(id) + "-" + std::to_string(retries);
    return c.submit_as(command_claims(c.claims), commands::retry_dead_letter(std::move(act)),
                       key, events::sha256(key));
}

namespace {

// A payment after a cancellation is refunded by itself, and that refund's charge.refunded
// lands on the cancelled, unpaid order: both are settled. The others (a second payment, an
// amount that does not match, a refund tally did not issue...) need a person.
bool needs_attention(const std::string& reason) {
    return reason != "succeeded_after_cancel" && reason != "order_cancelled_unpaid";
}

}  // namespace

// An operator list (admin, auditor): `key` holds the rows of `query` (whose $1 is the
// limit, ?limit= up to 1000, 100 by default), each rendered by `item`, newest first.
bool Api::operator_list(Call& c, const std::string& key, const std::string& query,
                        const std::function<nlohmann::json(const sql::Row&)>& item) {
    auto limit = parse_count(c.query, "limit", 100, 1000);
    if (!limit) return c.fail(400, "invalid_query", "limit must be 0..1000", "limit");
    nlohmann::json out = {{key, nlohmann::json::array()}};
    auto r = deps_.pool->transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec(query, {std::to_string(*limit)})) out[key].push_back(item(row));
    });
    if (!r) return c.storage_unavailable(r.error());
    return c.reply_json(200, out);
}

// GET /v1/operator/flagged-signals?limit=: provider messages orders could not take, each
// marked needs_attention or not.
bool Api::flagged_signals(Call& c) {
    return operator_list(c, "flagged_signals",
                         "SELECT position, order_id, reason, provider_event_id, provider_type, object_id, amount_minor,"
                         " currency, occurred_at_unix_ms FROM provider_flags"
                         " ORDER BY occurred_at_unix_ms DESC, position DESC LIMIT $1",
                         [](const sql::Row& row) -> nlohmann::json {
                             return {{"position", row.i64(0)}, {"order_id", row.str(1)}, {"reason", row.str(2)},
                                     {"provider_event_id", row.str(3)}, {"provider_type", row.str(4)},
                                     {"object_id", row.str(5)}, {"amount_minor", row.i64(6)}, {"currency", row.str(7)},
                                     {"occurred_at_unix_ms", row.i64(8)}, {"needs_attention", needs_attention(row.str(2))}};
                         });
}

// GET /v1/operator/external-refunds?limit=: refunds made at the provider that tally did
// not issue, booked as ExternalRefundRecorded.
bool Api::external_refunds(Call& c) {
    return operator_list(c, "external_refunds",
                         "SELECT position, order_id, provider_event_id, charge_id, amount_minor, currency,"
                         " occurred_at_unix_ms FROM external_refunds ORDER BY occurred_at_unix_ms DESC, position DESC LIMIT $1",
                         [](const sql::Row& row) -> nlohmann::json {
                             return {{"position", row.i64(0)}, {"order_id", row.str(1)}, {"provider_event_id", row.str(2)},
                                     {"charge_id", row.str(3)}, {"amount_minor", row.i64(4)}, {"currency", row.str(5)},
                                     {"occurred_at_unix_ms", row.i64(6)}};
                         });
}

// Order changes over HTTP (each needs an Idempotency-Key):
//   POST /v1/orders/{id}/fulfilment  {vendor_id?, status, carrier?, tracking?}  vendor (own), staff
//   POST /v1/orders/{id}/cancel      {reason}                                   staff; customer (own, unpaid)
//   POST /v1/orders/{id}/refunds     {amount_minor | lines, vendor_id?, destination, reason}  admin; vendor (own)
//   POST /v1/orders/{id}/payouts     {vendor_id}                                admin
bool Api::order_change(Call& c) {
    const auto& parts = c.parts;
    const std::string& action = parts[3];
    if (!valid_id(parts[2])) return c.fail(400, "invalid_path", "order id must be 1-64 of [A-Za-z0-9._-]", "order_id");
    auto key = c.idempotency_key();
    if (!key) return true;
    commands::OrderChange change;
    change.order_id = parts[2];
    const bool vendor = c.claims.role == "vendor";
    if (action == "fulfilment") {
        v1::FulfilmentRequest body;
        if (!c.parse_message(body)) return true;
        if (body.status() != "in_production" && body.status() != "shipped" && body.status() != "delivered")
            return c.fail(422, "invalid_value", "status must be in_production, shipped or delivered", "status");
        if (body.carrier().size() > 100 || body.tracking().size() > 100)
            return c.fail(422, "invalid_value", "carrier and tracking are at most 100 bytes", "tracking");
        lifecycle::Advance a{vendor && body.vendor_id().empty() ? c.claims.sub : body.vendor_id(), body.status(),
                             body.carrier(), body.tracking(), deps_.clock_ms()};
        if (!valid_id(a.vendor_id)) return c.fail(422, "invalid_value", "vendor_id is required", "vendor_id");
        change.change = a;
    } else if (action == "cancel") {
        v1::CancelRequest body;
        if (!c.parse_message(body)) return true;
        if (body.reason().empty() || body.reason().size() > 500)
            return c.fail(422, "invalid_value", "reason must be 1-500 bytes", "reason");
        change.change = lifecycle::Cancel{body.reason()};
    } else if (action == "refunds") {
        v1::RefundRequest body;
        if (!c.parse_message(body)) return true;
        if (body.destination() != "card" && body.destination() != "credit")
            return c.fail(422, "invalid_value", "destination must be card or credit", "destination");
        if (body.has_amount_minor() == (body.lines_size() > 0))
            return c.fail(422, "invalid_value", "give either amount_minor or lines", "amount_minor");
        if (body.has_amount_minor() && body.amount_minor() <= 0)
            return c.fail(422, "amount_must_be_positive", "amount_minor must be greater than zero", "amount_minor");
        if (body.reason().empty() || body.reason().size() > 500)
            return c.fail(422, "invalid_value", "reason must be 1-500 bytes", "reason");
        lifecycle::Refund r;
        r.destination = body.destination();
        r.amount_minor = body.has_amount_minor() ? body.amount_minor() : 0;
        for (const auto& l : body.lines()) {
            if (!valid_id(l.sku()) || l.quantity() <= 0)
                return c.fail(422, "invalid_value", "each line needs a sku and a positive quantity", "lines");
            r.lines.push_back({l.sku(), l.quantity()});
        }
        r.vendor_id = vendor ? c.claims.sub : body.vendor_id();
        if (vendor && !body.vendor_id().empty() && body.vendor_id() != c.claims.sub)
            return c.fail(403, "forbidden", "vendors refund their own sub-orders only");
        r.reason = body.reason();
        r.shipping_only = body.shipping_only();
        if (body.cap_override_reason().size() > 500)
            return c.fail(422, "invalid_value", "cap_override_reason is at most 500 bytes", "cap_override_reason");
        if (!body.cap_override_reason().empty() && r.destination != "credit")
            return c.fail(422, "invalid_value", "cap_override_reason applies to refunds to credit", "cap_override_reason");
        change.cap_override_reason = body.cap_override_reason();
        if (r.shipping_only && body.lines_size() > 0)
            return c.fail(422, "invalid_value", "a shipping refund is by amount_minor, not by lines", "shipping_only");
        change.change = r;
    } else {
        v1::PayoutRequest body;
        if (!c.parse_message(body)) return true;
        if (!valid_id(body.vendor_id())) return c.fail(422, "invalid_value", "vendor_id is required", "vendor_id");
        change.change = lifecycle::RequestPayout{body.vendor_id(), deps_.clock_ms(), deps_.payout_delay_ms};
    }
    // The order's owner (its customer, or whoever claimed the guest order): read it now so
    // the batch can lock their credit too; the batch refuses if a claim came in between.
    std::map<std::string, std::string> states;
    auto r = deps_.pool->transact(
        [&](sql::Tx& tx) { states = journal::read_states(tx, {order::stream_id(change.order_id)}); });
    if (!r) return c.storage_unavailable(r.error());
    lifecycle::State state;
    if (states.empty() || !state.ParseFromString(states.begin()->second))
        return c.fail(404, "not_found", "no order " + change.order_id);
    change.customer_id = order::owner(state);
    if (action == "cancel") {
        for (const auto& l : state.lines()) change.skus.push_back(l.sku());
        change.coupons.assign(state.coupon_codes().begin(), state.coupon_codes().end());
    }
    return c.submit(commands::change_order(std::move(change)), *key);
}

}  // namespace tally::http
