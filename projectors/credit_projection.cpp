#include "projectors/credit_projection.h"

#include <map>
#include <tuple>

#include "domain/ledger.h"
#include "events/registry.h"
#include "tally/v1/credit.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/payment.pb.h"

namespace tally::projectors {
namespace {

class CreditProjection final : public Projection {
public:
    std::string name() const override { return "credit"; }
    std::vector<std::string> tables() const override { return {"credit_balances", "credit_entries"}; }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        std::vector<std::string> customers, ids, kinds, currencies, reasons, actors;
        std::vector<int64_t> positions, amounts, balances_after, occurred;
        struct Delta {
            std::string currency;
            int64_t amount = 0;
            int64_t count = 0;
            int64_t last_position = 0;
        };
        std::map<std::string, Delta> deltas;
        auto entry = [&](const v1::EventEnvelope& e, const std::string& customer, const char* kind, int64_t signed_minor,
                         const v1::Money& after, const std::string& reason) {
            customers.push_back(customer);
            positions.push_back(e.position());
            ids.push_back(e.event_id());
            kinds.push_back(kind);
            amounts.push_back(signed_minor);
            currencies.push_back(after.currency());
            balances_after.push_back(after.minor());
            reasons.push_back(reason);
            actors.push_back(e.actor());
            occurred.push_back(e.occurred_at_unix_ms());
            auto& d = deltas[customer];
            d.currency = after.currency();
            d.amount += signed_minor;
            d.count += 1;
            d.last_position = std::max(d.last_position, e.position());
        };
        for (const auto& e : events) {
            if (e.type() == events::kCreditGranted) {
                v1::CreditGranted g;
                if (g.ParseFromString(e.payload()))
                    entry(e, g.customer_id(), "grant", g.amount().minor(), g.balance_after(), g.reason());
            } else if (e.type() == events::kCreditSpent) {
                v1::CreditSpent sp;
                if (sp.ParseFromString(e.payload()))
                    entry(e, sp.customer_id(), "spend", -sp.amount().minor(), sp.balance_after(), "order " + sp.order_id());
            } else if (e.type() == events::kCreditReturned) {
                v1::CreditReturned r;
                if (r.ParseFromString(e.payload()))
                    entry(e, r.customer_id(), "return", r.amount().minor(), r.balance_after(), r.reason());
            } else if (e.type() == events::kCreditReversed) {
                v1::CreditReversed r;
                if (r.ParseFromString(e.payload()))
                    entry(e, r.customer_id(), "reversal", -r.amount().minor(), r.balance_after(), r.reason());
            }
        }
        if (customers.empty()) return;
        tx.exec("INSERT INTO " + t.at("credit_entries") +
                    " (customer_id, position, event_id, kind, amount_minor, currency, balance_after_minor,"
                    " reason, actor, occurred_at_unix_ms)"
                    " SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[],"
                    " $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[])"
                    " ON CONFLICT DO NOTHING",
                {sql::text_array(customers), sql::int_array(positions), sql::text_array(ids),
                 sql::text_array(kinds), sql::int_array(amounts), sql::text_array(currencies),
                 sql::int_array(balances_after), sql::text_array(reasons), sql::text_array(actors),
                 sql::int_array(occurred)});
        std::vector<std::string> dc, dcur;
        std::vector<int64_t> damount, dcount, dlast;
        for (const auto& [customer, d] : deltas) {
            dc.push_back(customer);
            dcur.push_back(d.currency);
            damount.push_back(d.amount);
            dcount.push_back(d.count);
            dlast.push_back(d.last_position);
        }
        const std::string& b = t.at("credit_balances");
        tx.exec("INSERT INTO " + b + " AS b (customer_id, currency, balance_minor, entries_count, last_position)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])"
                    " ON CONFLICT (customer_id) DO UPDATE SET"
                    " balance_minor = b.balance_minor + EXCLUDED.balance_minor,"
                    " entries_count = b.entries_count + EXCLUDED.entries_count,"
                    " last_position = GREATEST(b.last_position, EXCLUDED.last_position)",
                {sql::text_array(dc), sql::text_array(dcur), sql::int_array(damount), sql::int_array(dcount),
                 sql::int_array(dlast)});
    }
};

}  // namespace

std::unique_ptr<Projection> credit_projection() { return std::make_unique<CreditProjection>(); }

}  // namespace tally::projectors
