#include "projectors/ledger_projection.h"

#include <map>
#include <tuple>

#include "events/registry.h"

namespace tally::projectors {
namespace {

class LedgerProjection final : public Projection {
public:
    std::string name() const override { return "ledger"; }
    std::vector<std::string> tables() const override { return {"ledger_accounts"}; }

    void apply(sql::Tx& tx, const std::vector<v1::EventEnvelope>& events, const TableMap& t) const override {
        std::map<std::pair<std::string, std::string>, std::tuple<int64_t, int64_t, int64_t>> sums;
        for (const auto& e : events) {
            auto set = events::postings_of(e);
            if (!set) continue;
            for (const auto& p : set->postings()) {
                auto& [debit, credit, count] = sums[{p.account(), p.amount().currency()}];
                (p.side() == v1::DEBIT ? debit : credit) += p.amount().minor();
                count += 1;
            }
        }
        if (sums.empty()) return;
        std::vector<std::string> accounts, currencies;
        std::vector<int64_t> debits, credits, counts;
        for (const auto& [key, v] : sums) {
            accounts.push_back(key.first);
            currencies.push_back(key.second);
            debits.push_back(std::get<0>(v));
            credits.push_back(std::get<1>(v));
            counts.push_back(std::get<2>(v));
        }
        tx.exec("INSERT INTO " + t.at("ledger_accounts") +
                    " AS a (account, currency, debit_minor, credit_minor, postings_count)"
                    " SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])"
                    " ON CONFLICT (account, currency) DO UPDATE SET"
                    " debit_minor = a.debit_minor + EXCLUDED.debit_minor,"
                    " credit_minor = a.credit_minor + EXCLUDED.credit_minor,"
                    " postings_count = a.postings_count + EXCLUDED.postings_count",
                {sql::text_array(accounts), sql::text_array(currencies), sql::int_array(debits),
                 sql::int_array(credits), sql::int_array(counts)});
    }
};

}  // namespace

std::unique_ptr<Projection> ledger_projection() { return std::make_unique<LedgerProjection>(); }

}  // namespace tally::projectors
