#include "events/passport_facts.h"

#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::events {

std::vector<std::pair<std::string, passport::Fact>> passport_facts(const v1::EventEnvelope& e) {
    // Only an order's events say anything; the others are not decoded.
    const bool order_news = e.type() == kOrderPlaced || e.stream_id().rfind("order-", 0) == 0;
    return passport_facts(e, order_news ? ledger_facts(e) : LedgerFacts{});
}

std::vector<std::pair<std::string, passport::Fact>> passport_facts(const v1::EventEnvelope& e, const LedgerFacts& facts) {
    std::vector<std::pair<std::string, passport::Fact>> out;
    if (e.type() == kOrderPlaced) {
        v1::OrderPlaced own;
        const auto* decoded = payload_as(facts, e, own);
        if (!decoded) return out;
        const auto& p = *decoded;
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
        v1::RefundIssued own;
        if (const auto* r = payload_as(facts, e, own)) {
            passport::GivenBack g{r->amount().minor(), {}};
            for (const auto& l : r->lines()) g.units.emplace_back(l.sku(), l.quantity());
            out.emplace_back(order, std::move(g));
        }
    } else if (e.type() == kExternalRefundRecorded) {
        v1::ExternalRefundRecorded own;
        if (const auto* x = payload_as(facts, e, own)) out.emplace_back(order, passport::GivenBack{x->amount().minor(), {}});
    } else if (e.type() == kDisputeClosed) {
        v1::DisputeClosed own;
        if (const auto* d = payload_as(facts, e, own); d && d->outcome() == "lost")
            out.emplace_back(order, passport::GivenBack{d->amount().minor(), {}});
    }
    // Given back in full, or cancelled: nothing of the order counts any more.
    if (const auto* after = facts.after; after && (after->status() == "refunded" || after->status() == "cancelled"))
        out.emplace_back(order, passport::Voided{});
    return out;
}

}  // namespace tally::events
