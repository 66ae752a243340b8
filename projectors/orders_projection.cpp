#include "projectors/orders_projection.h"

#include <map>

#include "domain/order.h"
#include "events/registry.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::projectors {
namespace {

class OrdersProjection final : public Projection {
public:
    std::string name() const override { return "orders"; }
    std::vector<std::string> tables() const override {
        return {"orders", "sub_orders", "order_payment_intents", "provider_flags", "external_refunds"};
    }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        std::vector<std::string> ids, customers, statuses, currencies, details, zero, renewal;
        std::vector<int64_t> totals, credits, dues, placed, positions;
        std::vector<std::string> so_orders, so_vendors, so_status;
        std::vector<int64_t> so_goods, so_ship, so_comm, so_pay, so_placed;
        std::map<std::string, v1::OrderStatusAfter> latest;  // the last lifecycle status per order
        std::vector<std::string> intent_orders, intent_ids;
        std::vector<int64_t> intent_positions;
        std::vector<std::string> f_orders, f_reasons, f_events, f_types, f_objects, f_currencies;
        std::vector<int64_t> f_positions, f_amounts, f_at;
        std::vector<std::string> ship_orders, ship_vendors, ship_carriers, ship_tracking;
        std::vector<std::string> x_orders, x_events, x_charges, x_currencies;
        std::vector<int64_t> x_positions, x_amounts, x_at;
        std::vector<std::string> claimed_orders, claimed_by;  // guest orders attached to a customer
        for (const auto& e : events) {
            if (e.type() == events::kOrderClaimed) {
                v1::OrderClaimed c;
                if (c.ParseFromString(e.payload())) {
                    claimed_orders.push_back(c.order_id());
                    claimed_by.push_back(c.customer_id());
                }
                continue;
            }
            if (e.type() == events::kExternalRefundRecorded) {
                v1::ExternalRefundRecorded x;
                if (x.ParseFromString(e.payload())) {
                    x_positions.push_back(e.position());
                    x_orders.push_back(x.order_id());
                    x_events.push_back(x.signal().provider_event_id());
                    x_charges.push_back(x.signal().object_id());
                    x_amounts.push_back(x.amount().minor());
                    x_currencies.push_back(x.amount().currency());
                    x_at.push_back(e.occurred_at_unix_ms());
                }
                // It also carries the status: fall through to status_after.
            }
            if (e.type() == events::kProviderSignalFlagged) {
                v1::ProviderSignalFlagged f;
                if (f.ParseFromString(e.payload())) {
                    f_positions.push_back(e.position());
                    f_orders.push_back(f.order_id());
                    f_reasons.push_back(f.reason());
                    f_events.push_back(f.signal().provider_event_id());
                    f_types.push_back(f.signal().type());
                    f_objects.push_back(f.signal().object_id());
                    f_amounts.push_back(f.signal().amount_minor());
                    f_currencies.push_back(f.signal().currency());
                    f_at.push_back(e.occurred_at_unix_ms());
                }
                // It also carries the (unchanged) status: fall through to status_after.
            }
            if (e.type() == events::kProviderRequestCompleted) {
                v1::ProviderRequestCompleted c;
                if (c.ParseFromString(e.payload()) && c.kind() == "payment_intent") {
                    intent_orders.push_back(c.order_id());
                    intent_ids.push_back(c.object_id());
                    intent_positions.push_back(e.position());
                }
                continue;
            }
            if (e.type() == events::kSubOrderAdvanced) {
                v1::SubOrderAdvanced a;
                if (a.ParseFromString(e.payload()) && !a.carrier().empty()) {
                    ship_orders.push_back(a.order_id());
                    ship_vendors.push_back(a.vendor_id());
                    ship_carriers.push_back(a.carrier());
                    ship_tracking.push_back(a.tracking());
                }
            }
            if (auto after = events::status_after(e)) {
                latest[e.stream_id().substr(std::string_view("order-").size())] = std::move(*after);
                continue;
            }
            if (e.type() != events::kOrderPlaced) continue;
            v1::OrderPlaced o;
            if (!o.ParseFromString(e.payload())) continue;
            ids.push_back(o.order_id());
            customers.push_back(o.customer_id());
            statuses.push_back(o.status());
            currencies.push_back(o.pricing().currency());
            totals.push_back(o.pricing().total_minor());
            credits.push_back(o.pricing().credit_applied_minor());
            dues.push_back(o.pricing().amount_due_minor());
            zero.push_back(o.zero_payment() ? "true" : "false");
            renewal.push_back(o.subscription().period() > 0 ? "true" : "false");
            placed.push_back(e.occurred_at_unix_ms());
            positions.push_back(e.position());
            details.push_back(e.payload());
            for (const auto& so : o.sub_orders()) {
                so_orders.push_back(o.order_id());
                so_vendors.push_back(so.vendor_id());
                so_status.push_back(so.status());
                so_goods.push_back(so.goods_net_minor());
                so_ship.push_back(so.shipping_minor());
                so_comm.push_back(so.commission_minor());
                so_pay.push_back(so.payable_minor());
                so_placed.push_back(e.occurred_at_unix_ms());
            }
        }
        if (!ids.empty()) {
            tx.exec("INSERT INTO " + t.at("orders") +
                        " (order_id, customer_id, status, currency, total_minor, credit_applied_minor, amount_due_minor,"
                        " zero_payment, placed_at_unix_ms, position, detail, renewal)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
                        " $7::bigint[], $8::boolean[], $9::bigint[], $10::bigint[], $11::bytea[], $12::boolean[])"
                        " ON CONFLICT DO NOTHING",
                    {sql::text_array(ids), sql::text_array(customers), sql::text_array(statuses), sql::text_array(currencies),
                     sql::int_array(totals), sql::int_array(credits), sql::int_array(dues), sql::text_array(zero),
                     sql::int_array(placed), sql::int_array(positions), sql::bytea_array(details), sql::text_array(renewal)});
            tx.exec("INSERT INTO " + t.at("sub_orders") +
                        " (order_id, vendor_id, status, goods_net_minor, shipping_minor, commission_minor, payable_minor,"
                        " placed_at_unix_ms)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],"
                        " $7::bigint[], $8::bigint[]) ON CONFLICT DO NOTHING",
                    {sql::text_array(so_orders), sql::text_array(so_vendors), sql::text_array(so_status),
                     sql::int_array(so_goods), sql::int_array(so_ship), sql::int_array(so_comm), sql::int_array(so_pay),
                     sql::int_array(so_placed)});
        }
        if (!f_positions.empty())
            tx.exec("INSERT INTO " + t.at("provider_flags") +
                        " (position, order_id, reason, provider_event_id, provider_type, object_id, amount_minor, currency,"
                        " occurred_at_unix_ms) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
                        " $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[]) ON CONFLICT DO NOTHING",
                    {sql::int_array(f_positions), sql::text_array(f_orders), sql::text_array(f_reasons),
                     sql::text_array(f_events), sql::text_array(f_types), sql::text_array(f_objects),
                     sql::int_array(f_amounts), sql::text_array(f_currencies), sql::int_array(f_at)});
        if (!x_positions.empty())
            tx.exec("INSERT INTO " + t.at("external_refunds") +
                        " (position, order_id, provider_event_id, charge_id, amount_minor, currency, occurred_at_unix_ms)"
                        " SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],"
                        " $7::bigint[]) ON CONFLICT DO NOTHING",
                    {sql::int_array(x_positions), sql::text_array(x_orders), sql::text_array(x_events),
                     sql::text_array(x_charges), sql::int_array(x_amounts), sql::text_array(x_currencies),
                     sql::int_array(x_at)});
        if (!intent_orders.empty())
            tx.exec("INSERT INTO " + t.at("order_payment_intents") + " (order_id, payment_intent_id, position)"
                        " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT (order_id) DO UPDATE"
                        " SET payment_intent_id = EXCLUDED.payment_intent_id, position = EXCLUDED.position",
                    {sql::text_array(intent_orders), sql::text_array(intent_ids), sql::int_array(intent_positions)});
        if (!claimed_orders.empty())  // after the inserts: a rebuild may place and claim in one batch
            tx.exec("UPDATE " + t.at("orders") + " o SET customer_id = u.customer_id"
                        " FROM unnest($1::text[], $2::text[]) AS u(order_id, customer_id) WHERE o.order_id = u.order_id"
                        " AND o.order_id = ANY($1::text[])",
                    {sql::text_array(claimed_orders), sql::text_array(claimed_by)});
        if (latest.empty()) return;
        std::vector<std::string> o_ids, o_status, o_fulfilment, s_orders, s_vendors, s_status;
        for (const auto& [order_id, after] : latest) {
            o_ids.push_back(order_id);
            o_status.push_back(after.status());
            std::vector<std::string> subs;
            for (const auto& [vendor, status] : after.sub_orders()) subs.push_back(status);
            o_fulfilment.push_back(order::fulfilment_status(subs));
            for (const auto& [vendor, status] : after.sub_orders()) {
                s_orders.push_back(order_id);
                s_vendors.push_back(vendor);
                s_status.push_back(status);
            }
        }
        tx.exec("UPDATE " + t.at("orders") + " o SET status = u.status, fulfilment_status = u.fulfilment"
                    " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(order_id, status, fulfilment)"
                    " WHERE o.order_id = u.order_id AND o.order_id = ANY($1::text[])",
                {sql::text_array(o_ids), sql::text_array(o_status), sql::text_array(o_fulfilment)});
        tx.exec("UPDATE " + t.at("sub_orders") + " s SET status = u.status"
                    " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(order_id, vendor_id, status)"
                    " WHERE s.order_id = u.order_id AND s.vendor_id = u.vendor_id AND s.order_id = ANY($1::text[])",
                {sql::text_array(s_orders), sql::text_array(s_vendors), sql::text_array(s_status)});
        if (!ship_orders.empty())  // the last shipment's carrier and tracking per sub-order
            tx.exec("UPDATE " + t.at("sub_orders") + " s SET carrier = u.carrier, tracking = u.tracking"
                        " FROM (SELECT DISTINCT ON (order_id, vendor_id) * FROM unnest($1::text[], $2::text[], $3::text[],"
                        " $4::text[]) WITH ORDINALITY AS u(order_id, vendor_id, carrier, tracking, n)"
                        " ORDER BY order_id, vendor_id, n DESC) u"
                        " WHERE s.order_id = u.order_id AND s.vendor_id = u.vendor_id AND s.order_id = ANY($1::text[])",
                    {sql::text_array(ship_orders), sql::text_array(ship_vendors), sql::text_array(ship_carriers),
                     sql::text_array(ship_tracking)});
    }
};

}  // namespace

std::unique_ptr<Projection> orders_projection() { return std::make_unique<OrdersProjection>(); }

}  // namespace tally::projectors
