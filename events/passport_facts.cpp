#include "events/passport_facts.h"

#include "events/registry.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::events {

std::vector<std::pair<std::string, passport::Fact>> passport_facts(const v1::EventEnvelope& e) {
    std::vector<std::pair<std::string, passport::Fact>> out;
    if (e.type() == kOrderPlaced) {
        v1::OrderPlaced p;
        if (!p.ParseFromString(e.payload())) return out;
        passport::Placed placed{p.order_id(), p.customer_id(), p.pricing().total_minor(), {},
                                p.status() == "paid" ? e.occurred_at_unix_ms() : 0};
        for (const auto& l : p.pricing().lines()) placed.lines.push_back({l.sku(), l.country_of_origin(), l.quantity(), 0});
        out.emplace_back(p.order_id(), std::move(placed));
        return out;
    }
    if (e.type() == kOrderClaimed) {
        v1::OrderClaimed c;
        if (c.ParseFromString(e.payload())) out.emplace_back(c.order_id(), passport::Claimed{c.customer_id()});
        return out;
    }
    if (e.stream_id().rfind("order-", 0) != 0) return out;
    const std::string order = e.stream_id().substr(6);
    if (e.type() == kPaymentSucceeded) {
        out.emplace_back(order, passport::Paid{e.occurred_at_unix_ms()});
    } else if (e.type() == kRefundIssued) {
        v1::RefundIssued r;
        if (r.ParseFromString(e.payload())) {
            passport::GivenBack g{r.amount().minor(), {}};
            for (const auto& l : r.lines()) g.units.emplace_back(l.sku(), l.quantity());
            out.emplace_back(order, std::move(g));
        }
    } else if (e.type() == kExternalRefundRecorded) {
        v1::ExternalRefundRecorded x;
        if (x.ParseFromString(e.payload())) out.emplace_back(order, passport::GivenBack{x.amount().minor(), {}});
    } else if (e.type() == kDisputeClosed) {
        v1::DisputeClosed d;
        if (d.ParseFromString(e.payload()) && d.outcome() == "lost")
            out.emplace_back(order, passport::GivenBack{d.amount().minor(), {}});
    }
    // Given back in full, or cancelled: nothing of the order counts any more.
    if (auto after = status_after(e); after && (after->status() == "refunded" || after->status() == "cancelled"))
        out.emplace_back(order, passport::Voided{});
    return out;
}

}  // namespace tally::events
