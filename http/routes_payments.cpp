#include "http/api.h"

#include "commands/lifecycle.h"
#include "domain/ids.h"
#include "domain/order.h"
#include "events/envelope.h"
#include "http/call.h"
#include "http/stripe.h"
#include "infra/journal.h"
#include "tally/v1/payment.pb.h"

namespace tally::http {

// POST /v1/webhooks/stripe: verified by signature; deduplicated by event id forever (the
// pipeline's idempotency record under the provider's principal); 200 only after the
// commit, 5xx when anything fails so the provider retries.
bool Api::webhook_routes(Call& c) {
    if (c.path != "/v1/webhooks/stripe") return false;
    if (c.req.method != "POST") return c.fail(405, "method_not_allowed", "use POST");
    if (deps_.stripe_webhook_secrets.empty())
        return c.fail(503, "webhooks_not_configured", "TALLY_STRIPE_WEBHOOK_SECRETS is not set");
    auto header = c.req.headers.find("stripe-signature");
    auto verified = stripe::verify(header == c.req.headers.end() ? "" : header->second, c.req.body,
                                   deps_.stripe_webhook_secrets, deps_.clock_ms() / 1000);
    if (!verified) return c.fail(400, verified.error().code, verified.error().detail, "Stripe-Signature");
    auto event = stripe::parse_event(c.req.body);
    if (!event) return c.fail(400, "invalid_event", event.error());
    const std::string id = event->signal.provider_event_id();
    return c.submit_as({"provider:stripe", "provider", 1}, commands::provider_event(std::move(*event)), "stripe:" + id,
                       events::sha256("stripe event\n" + id));
}

// Order changes over HTTP (each needs an Idempotency-Key):
//   POST /v1/orders/{id}/fulfilment  {vendor_id?, status, carrier?, tracking?}  vendor (own), staff
//   POST /v1/orders/{id}/cancel      {reason}                                   staff; customer (own, unpaid)
//   POST /v1/orders/{id}/refunds     {amount_minor | lines, vendor_id?, destination, reason}  admin; vendor (own)
//   POST /v1/orders/{id}/payouts     {vendor_id}                                admin
bool Api::payment_routes(Call& c) {
    const auto& parts = c.parts;
    if (parts.size() != 4 || parts[1] != "orders") return false;
    const std::string& action = parts[3];
    if (action != "fulfilment" && action != "cancel" && action != "refunds" && action != "payouts") return false;
    if (c.req.method != "POST") return c.fail(405, "method_not_allowed", "use POST");
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
        change.change = r;
    } else {
        v1::PayoutRequest body;
        if (!c.parse_message(body)) return true;
        if (!valid_id(body.vendor_id())) return c.fail(422, "invalid_value", "vendor_id is required", "vendor_id");
        change.change = lifecycle::RequestPayout{body.vendor_id(), deps_.clock_ms(), deps_.payout_delay_ms};
    }
    // The order's customer never changes: read it now so the batch can lock their credit too.
    std::map<std::string, std::string> states;
    auto r = deps_.pool->transact(
        [&](sql::Tx& tx) { states = journal::read_states(tx, {order::stream_id(change.order_id)}); });
    if (!r) return c.fail(503, "storage_unavailable", r.error().message);
    lifecycle::State state;
    if (states.empty() || !state.ParseFromString(states.begin()->second))
        return c.fail(404, "not_found", "no order " + change.order_id);
    change.customer_id = state.customer_id();
    return c.submit(commands::change_order(std::move(change)), *key);
}

}  // namespace tally::http
