#include "projectors/reconcile.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "domain/catalog.h"
#include "domain/credit.h"
#include "domain/ledger.h"
#include "domain/loyalty.h"
#include "domain/order.h"
#include "domain/passport.h"
#include "domain/principal.h"
#include "domain/subscription.h"
#include "events/passport_facts.h"
#include "events/registry.h"
#include "infra/journal.h"
#include "infra/journal_scan.h"
#include "infra/kafka.h"
#include "projectors/snapshot_fold.h"
#include "projectors/subscriptions_projection.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/credit.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/stock.pb.h"

namespace tally::projectors::reconcile {
namespace {

constexpr int64_t kPage = 5000;

// Which events explain a value: the last one's position, and the last one from each
// partition (a projector's checkpoint is per partition: the last event it applied there).
struct Mark {
    // (partition, last position there): usually one, kept inline (a reconciliation holds
    // hundreds of thousands of marks; the rare second and later partitions go to `more`).
    using Part = std::pair<int32_t, int64_t>;
    int64_t position = 0;
    Part first{-1, 0};  // partition -1: none yet
    std::vector<Part> more;

    void add_part(int32_t p, int64_t pos) {
        if (first.first == -1 || first.first == p) {
            first = {p, std::max(first.first == p ? first.second : 0, pos)};
            return;
        }
        auto it = std::find_if(more.begin(), more.end(), [p](const Part& x) { return x.first == p; });
        if (it == more.end()) more.emplace_back(p, pos);
        else it->second = std::max(it->second, pos);
    }
    void add(const Mark& o) {
        position = std::max(position, o.position);
        o.for_each([&](int32_t p, int64_t pos) { add_part(p, pos); });
    }
    template <typename F>
    void for_each(F&& f) const {
        if (first.first == -1) return;
        f(first.first, first.second);
        for (const auto& [p, pos] : more) f(p, pos);
    }
};

// The caches, each with the projector that owns it (empty: snapshots, always at the head).
struct CacheDef {
    const char* cache;
    const char* projection;
};
constexpr CacheDef kCaches[] = {
    {"snapshots", ""},
    {"coupon_uses", ""},
    {"credit_balances", "credit"},
    {"credit_entries", "credit"},
    {"ledger_accounts", "ledger"},
    {"vendor_payables", "ledger"},
    {"orders", "orders"},
    {"sub_orders", "orders"},
    {"loyalty_standings", "loyalty"},
    {"loyalty_holds", "loyalty"},
    {"loyalty_history", "loyalty"},
    {"passport_stamps", "passport"},
    {"passport_counts", "passport"},
    {"affiliate_conversions", "affiliates"},
    {"affiliate_payouts", "affiliates"},
    {"affiliate_balances", "affiliates"},
    {"catalog_stock", "catalog"},
    {"catalog_coupons", "catalog"},
    {"subscriptions", "subscriptions"},
    {"subscription_renewals", "subscriptions"},
    {"principals", ""},
};

size_t cache_rank(const std::string& cache) {
    size_t i = 0;
    for (const auto& c : kCaches) {
        if (cache == c.cache) return i;
        ++i;
    }
    return i;
}

std::string money_text(int64_t v) { return std::to_string(v); }

// A credit entry as the log gives it and as credit_entries caches it, for the digest.
std::string entry_line(int64_t position, const std::string& kind, int64_t amount, const std::string& currency,
                       int64_t balance_after) {
    return std::to_string(position) + ":" + kind + ":" + std::to_string(amount) + ":" + currency + ":" +
           std::to_string(balance_after);
}

uint64_t digest_next(uint64_t h, const std::string& line) {
    // Order-dependent: FNV-1a over the line, then folded into the running value.
    uint64_t x = 1469598103934665603ull;
    for (unsigned char c : line) x = (x ^ c) * 1099511628211ull;
    return (h ^ x) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

struct Account {
    int64_t debit = 0, credit = 0;
    Mark mark;
};
// What an order's placing fixed, as far as the caches show it (not the whole OrderPlaced:
// a million-event journal holds tens of thousands of orders in memory).
struct SubOrderTruth {
    std::string vendor_id, status;
    int64_t goods_net_minor = 0, shipping_minor = 0, commission_minor = 0, payable_minor = 0;
};
struct OrderTruth {
    bool placed = false;
    std::string customer_id, status;
    int64_t total_minor = 0, credit_applied_minor = 0, amount_due_minor = 0;
    std::vector<SubOrderTruth> sub_orders;
    // What the last lifecycle event left: the order's status and each sub-order's (as
    // pairs, not the OrderStatusAfter message: its map costs several times the memory).
    struct After {
        std::string status;
        std::vector<std::pair<std::string, std::string>> sub_orders;  // (vendor, status)
        const std::string* sub_status(const std::string& vendor) const {
            for (const auto& [v, st] : sub_orders)
                if (v == vendor) return &st;
            return nullptr;
        }
    };
    std::optional<After> after;
    std::string claimed_by;
    Mark mark;
};
struct Entries {
    uint64_t digest = 0;
    int64_t count = 0;
    Mark mark;
};
struct Counted {
    int64_t n = 0;
    Mark mark;
};
struct LoyaltyTruth {
    v1::LoyaltyState state;
    std::map<std::string, int64_t> spend_by_delta;
    int64_t tier_changes = 0;
    Mark mark;
};
struct PassportTruth {
    passport::Order order;
    Mark mark;
};
struct ConversionTruth {
    std::string affiliate_id, customer_id, currency;
    int64_t commission_minor = 0, reversed_minor = 0, open_disputes = 0, paid_minor = 0;
    Mark mark;
};
struct SubscriptionTruth {
    v1::SubscriptionState state;
    Mark mark;
};
struct PrincipalTruth {
    v1::PrincipalRecord record;
    int64_t position = 0;  // its last event
};
struct PayoutTruth {
    std::string affiliate_id, currency, status;
    int64_t amount_minor = 0;
    Mark mark;
};

}  // namespace

struct Reconciler::State {
    int partitions = 0;  // fixed at the first pass
    int64_t folded = 0;  // the last position folded
    std::map<std::pair<std::string, std::string>, Account> ledger;  // (account, currency)
    std::map<std::string, OrderTruth> orders;
    std::map<std::string, Counted> coupon_uses;
    std::map<std::string, Counted> stock;  // by SKU: units available after its latest event
    std::map<std::string, Entries> credit_entries;  // by customer
    std::map<std::string, LoyaltyTruth> loyalty;
    std::map<std::string, PassportTruth> passport_orders;
    std::map<std::string, ConversionTruth> conversions;
    std::map<std::string, PayoutTruth> payouts;
    std::map<std::string, SubscriptionTruth> subscriptions;  // by subscription id
    std::map<std::string, PrincipalTruth> principals;  // by principal id
    std::vector<std::string> unbalanced;  // "event E at position P"
    bool first = true;

    Mark mark_of(const v1::EventEnvelope& e) const {
        Mark m;
        m.position = e.position();
        m.add_part(kafka::partition_for(e.stream_id(), partitions), e.position());
        return m;
    }

    void fold(const v1::EventEnvelope& e);

    // Each stock event carries what is left after it; a stream's events fold in order.
    template <typename Message>
    void stock_after(const v1::EventEnvelope& e, const Mark& m) {
        Message s;
        if (!s.ParseFromString(e.payload())) return;
        auto& t = stock[s.sku()];
        t.n = s.available_after();
        t.mark.add(m);
    }
};

using events::payload_as;

void Reconciler::State::fold(const v1::EventEnvelope& e) {
    const Mark m = mark_of(e);
    const std::string& type = e.type();
    if (e.stream_id().rfind(subscription::stream_id(""), 0) == 0) {
        auto& t = subscriptions[e.stream_id().substr(subscription::stream_id("").size())];
        if (fold_subscription(t.state, e)) t.mark.add(m);
    } else if (e.stream_id().rfind(principal::kStreamPrefix, 0) == 0) {
        auto& t = principals[e.stream_id().substr(principal::kStreamPrefix.size())];
        if (fold_principal(t.record, e)) t.position = e.position();
    }
    // One decode for what the ledger and the order lifecycle need; the branches below
    // reuse it where it is theirs.
    const auto facts = events::ledger_facts(e);
    auto credit_entry = [&](const auto& x, const char* kind, int64_t amount) {
        if (x.customer_id().empty()) return;
        auto& entries = credit_entries[x.customer_id()];
        entries.digest = digest_next(entries.digest, entry_line(e.position(), kind, amount, x.balance_after().currency(),
                                                                x.balance_after().minor()));
        ++entries.count;
        entries.mark.add(m);
    };
    if (type == events::kCreditGranted) {
        v1::CreditGranted own;
        if (const auto* g = payload_as(facts, e, own)) credit_entry(*g, "grant", g->amount().minor());
    } else if (type == events::kCreditSpent) {
        v1::CreditSpent own;
        if (const auto* x = payload_as(facts, e, own)) credit_entry(*x, "spend", -x->amount().minor());
    } else if (type == events::kCreditReturned) {
        v1::CreditReturned own;
        if (const auto* r = payload_as(facts, e, own)) credit_entry(*r, "return", r->amount().minor());
    } else if (type == events::kCreditReversed) {
        v1::CreditReversed own;
        if (const auto* r = payload_as(facts, e, own)) credit_entry(*r, "reversal", -r->amount().minor());
    } else if (type == events::kAffiliateConversionRecorded) {
        v1::AffiliateConversionRecorded c;
        if (c.ParseFromString(e.payload())) {
            auto& t = conversions[c.order_id()];
            t.affiliate_id = c.affiliate_id();
            t.customer_id = c.customer_id();
            t.currency = c.commission().currency();
            t.commission_minor = c.commission().minor();
            t.mark.add(m);
        }
    } else if (type == events::kAffiliateConversionReversed) {
        v1::AffiliateConversionReversed r;
        if (r.ParseFromString(e.payload())) {
            auto& t = conversions[r.order_id()];
            t.reversed_minor = r.reversed_total_minor();
            t.mark.add(m);
        }
    } else if (type == events::kAffiliateConversionPaidOut) {
        v1::AffiliateConversionPaidOut p;
        if (p.ParseFromString(e.payload())) {
            auto& t = conversions[p.order_id()];
            t.paid_minor = p.paid_total_minor();
            t.mark.add(m);
        }
    } else if (type == events::kAffiliatePayoutRequested) {
        v1::AffiliatePayoutRequested p;
        if (p.ParseFromString(e.payload())) {
            auto& t = payouts[p.payout_id()];
            t.affiliate_id = p.affiliate_id();
            t.currency = p.amount().currency();
            t.status = "requested";
            t.amount_minor = p.amount().minor();
            t.mark.add(m);
        }
    } else if (type == events::kAffiliatePayoutSettled || type == events::kAffiliatePayoutFailed ||
               type == events::kAffiliatePayoutReversed) {
        v1::AffiliatePayoutSettled p;  // the three start with the payout id
        if (p.ParseFromString(e.payload())) {
            auto& t = payouts[p.payout_id()];
            t.status = type == events::kAffiliatePayoutSettled ? "paid"
                       : type == events::kAffiliatePayoutFailed ? "failed"
                                                                : "reversed";
            t.mark.add(m);
        }
    }
    if (type == events::kDisputeOpened || type == events::kDisputeClosed) {
        // Held while a dispute is open (for converted orders only, as the read model counts).
        auto it = conversions.find(e.stream_id().substr(order::stream_id("").size()));
        if (it != conversions.end()) {
            it->second.open_disputes = std::max<int64_t>(0, it->second.open_disputes + (type == events::kDisputeOpened ? 1 : -1));
            it->second.mark.add(m);
        }
    }
    for (auto& [order, fact] : events::passport_facts(e, facts)) {
        auto it = passport_orders.find(order);
        if (it == passport_orders.end() && !std::holds_alternative<passport::Placed>(fact)) continue;
        auto& t = passport_orders[order];
        t.order = passport::evolve(std::move(t.order), fact);
        t.mark.add(m);
    }
    const std::string loyalty_prefix = loyalty::stream_id("");
    if (auto le = loyalty::parse(type, e.payload()); le && e.stream_id().rfind(loyalty_prefix, 0) == 0) {
        auto& t = loyalty[e.stream_id().substr(loyalty_prefix.size())];
        if (const auto* s = std::get_if<v1::SpendRecorded>(&*le)) t.spend_by_delta[s->currency()] += s->delta_minor();
        if (std::holds_alternative<v1::TierChanged>(*le)) ++t.tier_changes;
        t.state = loyalty::evolve(std::move(t.state), *le);
        t.mark.add(m);
        return;
    }
    if (type == events::kOrderPlaced) {
        v1::OrderPlaced own;
        if (const auto* p = payload_as(facts, e, own)) {
            const auto& placed = *p;
            auto& t = orders[placed.order_id()];
            t.placed = true;
            t.customer_id = placed.customer_id();
            t.status = placed.status();
            t.total_minor = placed.pricing().total_minor();
            t.credit_applied_minor = placed.pricing().credit_applied_minor();
            t.amount_due_minor = placed.pricing().amount_due_minor();
            t.sub_orders.clear();
            for (const auto& so : placed.sub_orders())
                t.sub_orders.push_back({so.vendor_id(), so.status(), so.goods_net_minor(), so.shipping_minor(),
                                        so.commission_minor(), so.payable_minor()});
            t.mark.add(m);
        }
    } else if (type == events::kOrderClaimed) {
        v1::OrderClaimed c;
        if (c.ParseFromString(e.payload())) {
            auto& t = orders[c.order_id()];
            t.claimed_by = c.customer_id();
            t.mark.add(m);
        }
    } else if (type == events::kStockAdjusted) {
        stock_after<v1::StockAdjusted>(e, m);
    } else if (type == events::kStockReserved) {
        stock_after<v1::StockReserved>(e, m);
    } else if (type == events::kStockReleased) {
        stock_after<v1::StockReleased>(e, m);
    } else if (type == events::kCouponDefined) {
        // A coupon counts from its definition: none used is a count too (0), explained here.
        v1::CouponDefined d;
        if (d.ParseFromString(e.payload())) coupon_uses[d.coupon().code()].mark.add(m);
    } else if (type == events::kCouponRedeemed || type == events::kCouponReleased) {
        v1::CouponRedeemed c;  // the two share their first fields: code, order, customer
        if (c.ParseFromString(e.payload())) {
            auto& u = coupon_uses[c.code()];
            u.n += type == events::kCouponRedeemed ? 1 : -1;
            u.mark.add(m);
        }
    }
    if (facts.after && type != events::kOrderPlaced && type != events::kOrderClaimed && type != events::kCouponRedeemed &&
        type != events::kCouponReleased) {
        auto& t = orders[e.stream_id().substr(order::stream_id("").size())];
        t.after.emplace();
        t.after->status = facts.after->status();
        for (const auto& [vendor, status] : facts.after->sub_orders()) t.after->sub_orders.emplace_back(vendor, status);
        t.mark.add(m);
    }
    const v1::PostingSet* set = facts.postings;
    if (!set) return;
    if (!ledger::check_balanced(*set))
        unbalanced.push_back("event " + e.event_id() + " at position " + std::to_string(e.position()));
    for (const auto& p : set->postings()) {
        auto& a = ledger[{p.account(), p.amount().currency()}];
        (p.side() == v1::DEBIT ? a.debit : a.credit) += p.amount().minor();
        a.mark.add(m);
    }
}

namespace {

// Collects the comparison: per cache counts, drifts, and whether a value is due.
class Checker {
public:
    Checker(Report& report, std::map<std::string, std::vector<int64_t>> watermarks)
        : report_(report), watermarks_(std::move(watermarks)) {
        for (const auto& c : kCaches) {
            index_[c.cache] = report_.caches.size();
            report_.caches.push_back({c.cache, c.projection, 0, 0, 0});
        }
    }

    // True when the cache's projector has applied every event behind `mark` (then it
    // counts as checked), else it counts as pending.
    bool due(const std::string& cache, const Mark& mark) {
        auto& s = summary(cache);
        if (s.projection.empty() || applied(s.projection, mark)) {
            ++s.checked;
            return true;
        }
        ++s.pending;
        return false;
    }

    void drift(const std::string& cache, std::string key, std::string field, std::string cached, std::string log,
               int64_t position) {
        ++summary(cache).drifting;
        report_.drifts.push_back({cache, std::move(key), std::move(field), std::move(cached), std::move(log), position});
    }
    // A cached row the log does not explain (it is compared, whatever the projector's progress).
    void extra(const std::string& cache, std::string key, std::string cached) {
        ++summary(cache).checked;
        drift(cache, std::move(key), "", std::move(cached), "(none)", 0);
    }

private:
    CacheSummary& summary(const std::string& cache) { return report_.caches.at(index_.at(cache)); }

    bool applied(const std::string& projection, const Mark& mark) const {
        auto it = watermarks_.find(projection);
        bool all = true;
        mark.for_each([&](int32_t p, int64_t pos) {
            const int64_t w =
                it == watermarks_.end() || p < 0 || static_cast<size_t>(p) >= it->second.size() ? 0 : it->second[static_cast<size_t>(p)];
            if (w < pos) all = false;
        });
        return all;
    }

    Report& report_;
    std::map<std::string, size_t> index_;
    std::map<std::string, std::vector<int64_t>> watermarks_;
};

using Ledger = std::map<std::pair<std::string, std::string>, Account>;

void check_ledger(sql::Tx& tx, const Ledger& ledger, Checker& c) {
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> cached;
    for (const auto& row : tx.exec("SELECT account, currency, debit_minor, credit_minor FROM ledger_accounts"))
        cached[{row.str(0), row.str(1)}] = {row.i64(2), row.i64(3)};
    const std::string vendor_prefix = ledger::vendor_payable("");
    for (const auto& [key, a] : ledger) {
        const bool vendor = key.first.rfind(vendor_prefix, 0) == 0;
        const std::string cache = vendor ? "vendor_payables" : "ledger_accounts";
        auto it = cached.find(key);
        if (!c.due(cache, a.mark)) {
            if (it != cached.end()) cached.erase(it);
            continue;
        }
        const std::string name = key.first + " " + key.second;
        if (it == cached.end()) {
            c.drift(cache, name, "", "(missing)", money_text(a.debit) + "/" + money_text(a.credit), a.mark.position);
            continue;
        }
        if (it->second.first != a.debit)
            c.drift(cache, name, "debit_minor", money_text(it->second.first), money_text(a.debit), a.mark.position);
        if (it->second.second != a.credit)
            c.drift(cache, name, "credit_minor", money_text(it->second.second), money_text(a.credit), a.mark.position);
        cached.erase(it);
    }
    for (const auto& [key, dc] : cached)
        c.extra(key.first.rfind(vendor_prefix, 0) == 0 ? "vendor_payables" : "ledger_accounts",
                key.first + " " + key.second, money_text(dc.first) + "/" + money_text(dc.second));
}

void check_credit(sql::Tx& tx, const Ledger& ledger, const std::map<std::string, Entries>& entries, Checker& c) {
    // Balances: each customer's store-credit liability on the ledger (credit less debit).
    std::map<std::string, int64_t> cached;
    for (const auto& row : tx.exec("SELECT customer_id, balance_minor FROM credit_balances")) cached[row.str(0)] = row.i64(1);
    const std::string prefix = ledger::store_credit_liability("");
    std::set<std::string> with_account;
    for (const auto& [key, a] : ledger) {
        if (key.first.rfind(prefix, 0) != 0) continue;
        const std::string customer = key.first.substr(prefix.size());
        with_account.insert(customer);
        auto it = cached.find(customer);
        if (!c.due("credit_balances", a.mark)) continue;
        const int64_t balance = a.credit - a.debit;
        const int64_t have = it == cached.end() ? 0 : it->second;
        if (have != balance)
            c.drift("credit_balances", customer, "balance_minor", it == cached.end() ? "(missing)" : money_text(have),
                    money_text(balance), a.mark.position);
    }
    for (const auto& [customer, v] : cached)
        if (!with_account.contains(customer) && v != 0) c.extra("credit_balances", customer, money_text(v));
    // Entries: a digest per customer of what the log says each entry is.
    std::map<std::string, Entries> have;
    std::string after_customer;
    int64_t after_position = 0;
    while (true) {
        auto rows = tx.exec("SELECT customer_id, position, kind, amount_minor, currency, balance_after_minor"
                            " FROM credit_entries WHERE (customer_id, position) > ($1, $2)"
                            " ORDER BY customer_id, position LIMIT $3",
                            {after_customer, std::to_string(after_position), std::to_string(kPage)});
        for (const auto& r : rows) {
            auto& x = have[r.str(0)];
            x.digest = digest_next(x.digest, entry_line(r.i64(1), r.str(2), r.i64(3), r.str(4), r.i64(5)));
            ++x.count;
        }
        if (rows.size() < static_cast<size_t>(kPage)) break;
        after_customer = rows.back().str(0);
        after_position = rows.back().i64(1);
    }
    for (const auto& [customer, want] : entries) {
        auto it = have.find(customer);
        if (!c.due("credit_entries", want.mark)) {
            if (it != have.end()) have.erase(it);
            continue;
        }
        const Entries got = it == have.end() ? Entries{} : it->second;
        if (it != have.end()) have.erase(it);
        if (got.count == want.count && got.digest == want.digest) continue;
        // Name the entries that differ: the customer's credit stream against its rows.
        std::map<int64_t, std::string> log_lines, cached_lines;
        for (const auto& e : journal::read_stream(tx, credit::stream_id(customer), 0, 1000000)) {
            v1::CreditGranted g;
            v1::CreditSpent s;
            v1::CreditReturned r;
            if (e.type() == events::kCreditGranted && g.ParseFromString(e.payload()))
                log_lines[e.position()] = entry_line(e.position(), "grant", g.amount().minor(), g.balance_after().currency(),
                                                     g.balance_after().minor());
            else if (e.type() == events::kCreditSpent && s.ParseFromString(e.payload()))
                log_lines[e.position()] = entry_line(e.position(), "spend", -s.amount().minor(), s.balance_after().currency(),
                                                     s.balance_after().minor());
            else if (e.type() == events::kCreditReturned && r.ParseFromString(e.payload()))
                log_lines[e.position()] = entry_line(e.position(), "return", r.amount().minor(),
                                                     r.balance_after().currency(), r.balance_after().minor());
            else if (v1::CreditReversed v; e.type() == events::kCreditReversed && v.ParseFromString(e.payload()))
                log_lines[e.position()] = entry_line(e.position(), "reversal", -v.amount().minor(),
                                                     v.balance_after().currency(), v.balance_after().minor());
        }
        for (const auto& row : tx.exec("SELECT position, kind, amount_minor, currency, balance_after_minor FROM credit_entries"
                                       " WHERE customer_id = $1",
                                       {customer}))
            cached_lines[row.i64(0)] = entry_line(row.i64(0), row.str(1), row.i64(2), row.str(3), row.i64(4));
        bool named = false;
        for (const auto& [pos, line] : log_lines) {
            auto h = cached_lines.find(pos);
            if (h == cached_lines.end()) c.drift("credit_entries", customer + " " + std::to_string(pos), "", "(missing)", line, pos);
            else if (h->second != line) c.drift("credit_entries", customer + " " + std::to_string(pos), "entry", h->second, line, pos);
            else {
                cached_lines.erase(h);
                continue;
            }
            named = true;
            if (h != cached_lines.end()) cached_lines.erase(h);
        }
        for (const auto& [pos, line] : cached_lines) {
            c.drift("credit_entries", customer + " " + std::to_string(pos), "", line, "(none)", 0);
            named = true;
        }
        if (!named)
            c.drift("credit_entries", customer, "entries", std::to_string(got.count) + " entries",
                    std::to_string(want.count) + " entries", want.mark.position);
    }
    for (const auto& [customer, got] : have) c.extra("credit_entries", customer, std::to_string(got.count) + " entries");
}

void check_orders(sql::Tx& tx, const std::map<std::string, OrderTruth>& orders, Checker& c) {
    struct Row {
        std::string status, fulfilment, customer;
        int64_t total, credit, due;
    };
    struct SubRow {
        std::string status;
        int64_t goods, shipping, commission, payable;
    };
    // Chunk by chunk (the cached rows of one chunk of orders in memory at a time): the
    // truths in id order, their rows looked up by id.
    constexpr size_t kOrdersChunk = 5000;
    auto truth = orders.begin();
    while (truth != orders.end()) {
        std::vector<std::string> ids;
        auto chunk_end = truth;
        for (; chunk_end != orders.end() && ids.size() < kOrdersChunk; ++chunk_end)
            if (chunk_end->second.placed) ids.push_back(chunk_end->first);
        std::map<std::string, Row> cached;
        for (const auto& row : tx.exec("SELECT order_id, status, fulfilment_status, total_minor, credit_applied_minor,"
                                       " amount_due_minor, customer_id FROM orders WHERE order_id = ANY($1::text[])",
                                       {sql::text_array(ids)}))
            cached[row.str(0)] = {row.str(1), row.str(2), row.str(6), row.i64(3), row.i64(4), row.i64(5)};
        std::map<std::pair<std::string, std::string>, SubRow> subs_cached;
        for (const auto& row : tx.exec("SELECT order_id, vendor_id, status, goods_net_minor, shipping_minor, commission_minor,"
                                       " payable_minor FROM sub_orders WHERE order_id = ANY($1::text[])",
                                       {sql::text_array(ids)}))
            subs_cached[{row.str(0), row.str(1)}] = {row.str(2), row.i64(3), row.i64(4), row.i64(5), row.i64(6)};
        for (; truth != chunk_end; ++truth) {
            const auto& id = truth->first;
            const auto& t = truth->second;
            if (!t.placed) continue;  // lifecycle news of an order the log never placed
            auto it = cached.find(id);
            const int64_t pos = t.mark.position;
            if (!c.due("orders", t.mark)) {
                if (it != cached.end()) cached.erase(it);
                for (const auto& so : t.sub_orders) subs_cached.erase({id, so.vendor_id});
                continue;
            }
            std::vector<std::string> statuses;
            for (const auto& so : t.sub_orders) {
                const std::string* after = t.after ? t.after->sub_status(so.vendor_id) : nullptr;
                const std::string want = after ? *after : t.after ? "(none)" : so.status;
                statuses.push_back(want);
                const std::string key = id + "/" + so.vendor_id;
                c.due("sub_orders", t.mark);
                auto have = subs_cached.find({id, so.vendor_id});
                if (have == subs_cached.end()) {
                    c.drift("sub_orders", key, "", "(missing)", want, pos);
                    continue;
                }
                const auto& h = have->second;
                if (h.status != want) c.drift("sub_orders", key, "status", h.status, want, pos);
                if (h.goods != so.goods_net_minor)
                    c.drift("sub_orders", key, "goods_net_minor", money_text(h.goods), money_text(so.goods_net_minor), pos);
                if (h.shipping != so.shipping_minor)
                    c.drift("sub_orders", key, "shipping_minor", money_text(h.shipping), money_text(so.shipping_minor), pos);
                if (h.commission != so.commission_minor)
                    c.drift("sub_orders", key, "commission_minor", money_text(h.commission), money_text(so.commission_minor),
                            pos);
                if (h.payable != so.payable_minor)
                    c.drift("sub_orders", key, "payable_minor", money_text(h.payable), money_text(so.payable_minor), pos);
                subs_cached.erase(have);
            }
            if (it == cached.end()) {
                c.drift("orders", id, "", "(missing)", "placed", pos);
                continue;
            }
            const auto& h = it->second;
            const std::string want_customer = t.claimed_by.empty() ? t.customer_id : t.claimed_by;
            if (h.customer != want_customer) c.drift("orders", id, "customer_id", h.customer, want_customer, pos);
            const std::string want_status = t.after ? t.after->status : t.status;
            if (h.status != want_status) c.drift("orders", id, "status", h.status, want_status, pos);
            const std::string want_fulfilment = order::fulfilment_status(statuses);
            if (h.fulfilment != want_fulfilment) c.drift("orders", id, "fulfilment_status", h.fulfilment, want_fulfilment, pos);
            if (h.total != t.total_minor) c.drift("orders", id, "total_minor", money_text(h.total), money_text(t.total_minor), pos);
            if (h.credit != t.credit_applied_minor)
                c.drift("orders", id, "credit_applied_minor", money_text(h.credit), money_text(t.credit_applied_minor), pos);
            if (h.due != t.amount_due_minor)
                c.drift("orders", id, "amount_due_minor", money_text(h.due), money_text(t.amount_due_minor), pos);
            cached.erase(it);
        }
        for (const auto& [id, h] : cached) c.extra("orders", id, h.status);  // an order the log never placed
        for (const auto& [key, h] : subs_cached) c.extra("sub_orders", key.first + "/" + key.second, h.status);
    }
    // Rows of orders the log does not know: a keyset walk over the tables' ids.
    auto known = [&](const std::string& id) {
        auto it = orders.find(id);
        return it != orders.end() && it->second.placed;
    };
    std::string after;
    while (true) {
        auto rows = tx.exec("SELECT order_id, status FROM orders WHERE order_id > $1 ORDER BY order_id LIMIT $2",
                            {after, std::to_string(kOrdersChunk)});
        for (const auto& row : rows)
            if (!known(row.str(0))) c.extra("orders", row.str(0), row.str(1));
        if (rows.size() < kOrdersChunk) break;
        after = rows.back().str(0);
    }
    std::string after_order, after_vendor;
    while (true) {
        auto rows = tx.exec("SELECT order_id, vendor_id, status FROM sub_orders WHERE (order_id, vendor_id) > ($1, $2)"
                            " ORDER BY order_id, vendor_id LIMIT $3",
                            {after_order, after_vendor, std::to_string(kOrdersChunk)});
        for (const auto& row : rows)
            if (!known(row.str(0))) c.extra("sub_orders", row.str(0) + "/" + row.str(1), row.str(2));
        if (rows.size() < kOrdersChunk) break;
        after_order = rows.back().str(0);
        after_vendor = rows.back().str(1);
    }
}

void check_coupons(sql::Tx& tx, const std::map<std::string, Counted>& uses, Checker& c) {
    std::vector<std::string> streams;
    for (const auto& [code, u] : uses) streams.push_back(catalog::coupon_stream(code));
    const auto states = journal::read_states(tx, streams);  // one query for every coupon
    for (const auto& [code, u] : uses) {
        c.due("coupon_uses", u.mark);
        v1::CouponState state;
        if (auto it = states.find(catalog::coupon_stream(code)); it != states.end()) state.ParseFromString(it->second);
        if (state.uses_total() != u.n)
            c.drift("coupon_uses", code, "uses_total", std::to_string(state.uses_total()), std::to_string(u.n), u.mark.position);
    }
}

// The catalog projection's counts: units available per SKU, and each coupon's uses.
void check_catalog(sql::Tx& tx, const std::map<std::string, Counted>& stock, const std::map<std::string, Counted>& uses,
                   Checker& c) {
    std::map<std::string, int64_t> available;
    for (const auto& row : tx.exec("SELECT sku, available FROM catalog_stock")) available[row.str(0)] = row.i64(1);
    for (const auto& [sku, t] : stock) {
        auto it = available.find(sku);
        const bool due = c.due("catalog_stock", t.mark);
        if (due && it == available.end())
            c.drift("catalog_stock", sku, "available", "(missing)", std::to_string(t.n), t.mark.position);
        else if (due && it->second != t.n)
            c.drift("catalog_stock", sku, "available", std::to_string(it->second), std::to_string(t.n), t.mark.position);
        if (it != available.end()) available.erase(it);
    }
    for (const auto& [sku, n] : available) c.extra("catalog_stock", sku, std::to_string(n));
    std::map<std::string, int64_t> cached;
    for (const auto& row : tx.exec("SELECT code, uses_total FROM catalog_coupons")) cached[row.str(0)] = row.i64(1);
    for (const auto& [code, u] : uses) {
        auto it = cached.find(code);
        const bool due = c.due("catalog_coupons", u.mark);
        const int64_t have = it == cached.end() ? 0 : it->second;
        if (due && have != u.n)
            c.drift("catalog_coupons", code, "uses_total", it == cached.end() ? "(missing)" : std::to_string(have),
                    std::to_string(u.n), u.mark.position);
        if (it != cached.end()) cached.erase(it);
    }
    for (const auto& [code, n] : cached) c.extra("catalog_coupons", code, std::to_string(n));
}

// The subscriptions projection: each subscription's row (its status, when it next falls
// due, its whole state) and the rows of the periods its state still keeps.
void check_subscriptions(sql::Tx& tx, const std::map<std::string, SubscriptionTruth>& truths, Checker& c) {
    struct Row {
        std::string status, state;
        int64_t next_due = 0;
    };
    std::map<std::string, Row> cached;
    for (const auto& row : tx.exec("SELECT subscription_id, status, next_due_unix_ms, state FROM subscriptions"))
        cached[row.str(0)] = {row.str(1), row.bytes(3), row.i64(2)};
    std::map<std::pair<std::string, int64_t>, std::pair<std::string, std::string>> periods;  // -> (order, status)
    for (const auto& row : tx.exec("SELECT subscription_id, period, order_id, status FROM subscription_renewals"))
        periods[{row.str(0), row.i64(1)}] = {row.str(2), row.str(3)};
    for (const auto& [id, t] : truths) {
        if (t.state.subscription_id().empty()) continue;  // a stream without its start: not a subscription
        auto it = cached.find(id);
        if (c.due("subscriptions", t.mark)) {
            if (it == cached.end()) {
                c.drift("subscriptions", id, "", "(missing)", t.state.status(), t.mark.position);
            } else {
                const auto& h = it->second;
                if (h.status != t.state.status()) c.drift("subscriptions", id, "status", h.status, t.state.status(), t.mark.position);
                const int64_t due = subscription::next_due_ms(t.state);
                if (h.next_due != due)
                    c.drift("subscriptions", id, "next_due_unix_ms", std::to_string(h.next_due), std::to_string(due),
                            t.mark.position);
                if (h.state != t.state.SerializeAsString())
                    c.drift("subscriptions", id, "state", "(differs)", "(the fold of the log)", t.mark.position);
            }
        }
        if (it != cached.end()) cached.erase(it);
        for (const auto& r : t.state.renewals()) {
            if (!c.due("subscription_renewals", t.mark)) continue;
            const std::string key = id + "/" + std::to_string(r.period());
            auto p = periods.find({id, r.period()});
            if (p == periods.end()) {
                c.drift("subscription_renewals", key, "", "(missing)", r.status(), t.mark.position);
                continue;
            }
            if (p->second.first != r.order_id())
                c.drift("subscription_renewals", key, "order_id", p->second.first, r.order_id(), t.mark.position);
            if (p->second.second != r.status())
                c.drift("subscription_renewals", key, "status", p->second.second, r.status(), t.mark.position);
        }
    }
    for (const auto& [id, h] : cached) c.extra("subscriptions", id, h.status);  // a subscription the log never started
    for (const auto& [key, row] : periods)
        if (!truths.contains(key.first)) c.extra("subscription_renewals", key.first + "/" + std::to_string(key.second), row.second);
}

// The principals table, which every request reads to authorize: written from the record in
// the same transaction as its events, so a difference is a bug or a hand edit (a role or
// a permission granted behind the log's back), never lag. Rows with no stream (the
// system's own principals, seeded by migrations) have nothing in the log to compare with.
void check_principals(sql::Tx& tx, const std::map<std::string, PrincipalTruth>& truths, Checker& c) {
    struct Row {
        std::string role, permissions, display_name, email, preset;
        int64_t session_version = 0, sessions_since = 0;
        bool active = false;
    };
    std::map<std::string, Row> rows;
    for (const auto& r : tx.exec("SELECT id, role, permissions, session_version, active, display_name, email, preset,"
                                 " sessions_since FROM principals"))
        rows[r.str(0)] = {r.str(1), r.str(2), r.str(5), r.str(6), r.str(7), r.i64(3), r.i64(8), r.boolean(4)};
    for (const auto& [id, t] : truths) {
        if (t.record.principal_id().empty()) continue;  // a stream without its definition
        c.due("principals", {});
        auto it = rows.find(id);
        if (it == rows.end()) {
            c.drift("principals", id, "", "(missing)", t.record.role(), t.position);
            continue;
        }
        const auto& row = it->second;
        const auto& r = t.record;
        std::string permissions;
        for (const auto& p : r.permissions()) permissions += (permissions.empty() ? "" : ",") + p;
        auto field = [&](const char* name, const std::string& cached, const std::string& log) {
            if (cached != log) c.drift("principals", id, name, cached, log, t.position);
        };
        field("role", row.role, r.role());
        field("permissions", row.permissions, permissions);
        field("active", row.active ? "true" : "false", r.active() ? "true" : "false");
        field("session_version", std::to_string(row.session_version), std::to_string(r.session_version()));
        field("sessions_since", std::to_string(row.sessions_since), std::to_string(r.sessions_since_unix_s()));
        field("display_name", row.display_name, r.display_name());
        field("email", row.email, r.email());
        field("preset", row.preset, r.preset());
    }
}

void check_loyalty(sql::Tx& tx, const std::map<std::string, LoyaltyTruth>& truths, Checker& c) {
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, std::string>> standings;
    for (const auto& row : tx.exec("SELECT customer_id, currency, spend_minor, tier FROM loyalty_standings"))
        standings[{row.str(0), row.str(1)}] = {row.i64(2), row.str(3)};
    std::set<std::pair<std::string, std::string>> holds;
    for (const auto& row : tx.exec("SELECT customer_id, dispute_id FROM loyalty_holds")) holds.insert({row.str(0), row.str(1)});
    std::map<std::string, int64_t> history;
    for (const auto& row : tx.exec("SELECT customer_id, count(*) FROM loyalty_history GROUP BY customer_id"))
        history[row.str(0)] = row.i64(1);
    for (const auto& [customer, t] : truths) {
        const int64_t pos = t.mark.position;
        const bool due = c.due("loyalty_standings", t.mark);
        for (const auto& a : t.state.accounts()) {
            const std::string key = customer + " " + a.currency();
            auto it = standings.find({customer, a.currency()});
            if (!due) {
                if (it != standings.end()) standings.erase(it);
                continue;
            }
            const auto by_delta = t.spend_by_delta.find(a.currency());
            if (by_delta != t.spend_by_delta.end() && by_delta->second != a.spend_minor())
                c.drift("loyalty_standings", key, "spend_minor (running total against the deltas)",
                        money_text(a.spend_minor()), money_text(by_delta->second), pos);
            if (it == standings.end()) {
                c.drift("loyalty_standings", key, "", "(missing)", money_text(a.spend_minor()) + " " + a.tier(), pos);
                continue;
            }
            if (it->second.first != a.spend_minor())
                c.drift("loyalty_standings", key, "spend_minor", money_text(it->second.first), money_text(a.spend_minor()), pos);
            if (it->second.second != a.tier()) c.drift("loyalty_standings", key, "tier", it->second.second, a.tier(), pos);
            standings.erase(it);
        }
        if (!c.due("loyalty_holds", t.mark)) {
            std::erase_if(holds, [&](const auto& h) { return h.first == customer; });
        } else {
            for (const auto& h : t.state.holds())
                if (!holds.erase({customer, h.dispute_id()}))
                    c.drift("loyalty_holds", customer + " " + h.dispute_id(), "", "(missing)", "open", pos);
        }
        const auto hi = history.find(customer);
        const int64_t n = hi == history.end() ? 0 : hi->second;
        if (hi != history.end()) history.erase(hi);
        if (c.due("loyalty_history", t.mark) && n != t.tier_changes)
            c.drift("loyalty_history", customer, "entries", std::to_string(n), std::to_string(t.tier_changes), pos);
    }
    for (const auto& [key, v] : standings)
        c.extra("loyalty_standings", key.first + " " + key.second, money_text(v.first) + " " + v.second);
    for (const auto& [customer, dispute] : holds) c.extra("loyalty_holds", customer + " " + dispute, "open");
    for (const auto& [customer, n] : history)
        if (n) c.extra("loyalty_history", customer, std::to_string(n) + " entries");
}

void check_passports(sql::Tx& tx, const std::map<std::string, PassportTruth>& orders, Checker& c) {
    std::map<std::string, std::pair<std::vector<passport::Order>, Mark>> by_customer;
    for (const auto& [id, t] : orders) {
        if (t.order.customer_id.empty()) continue;
        auto& [list, mark] = by_customer[t.order.customer_id];
        list.push_back(t.order);
        mark.add(t.mark);
    }
    // A stamp as text, cached or from the log: units, supporting orders, first purchase, products.
    auto stamp_text = [](int64_t units, int64_t orders, int64_t first, const std::string& products) {
        return std::to_string(units) + " units/" + std::to_string(orders) + " orders/first " + std::to_string(first) + "/" +
               products;
    };
    std::map<std::string, std::map<std::string, std::string>> cached;  // customer -> country -> stamp_text
    for (const auto& row : tx.exec("SELECT customer_id, country, units, (SELECT count(*) FROM passport_stamp_orders o"
                                   " WHERE o.customer_id = s.customer_id AND o.country = s.country), first_purchase_unix_ms,"
                                   " (SELECT coalesce(string_agg(sku, ',' ORDER BY sku COLLATE \"C\"), '')"
                                   " FROM passport_stamp_products p WHERE p.customer_id = s.customer_id"
                                   " AND p.country = s.country AND p.purchases > 0) FROM passport_stamps s"))
        cached[row.str(0)][row.str(1)] = stamp_text(row.i64(2), row.i64(3), row.i64(4), row.str(5));
    std::map<std::string, std::pair<int64_t, std::string>> counts;
    for (const auto& row : tx.exec("SELECT customer_id, countries, array_to_string(badges, ',') FROM passport_counts"))
        counts[row.str(0)] = {row.i64(1), row.str(2)};
    for (const auto& [customer, entry] : by_customer) {
        const auto& [list, mark] = entry;
        const bool due = c.due("passport_stamps", mark);
        c.due("passport_counts", mark);
        auto have = std::move(cached[customer]);
        cached.erase(customer);
        const auto ci = counts.find(customer);
        const std::optional<std::pair<int64_t, std::string>> count =
            ci == counts.end() ? std::nullopt : std::optional(ci->second);
        if (ci != counts.end()) counts.erase(ci);
        if (!due) continue;
        const auto stamps = passport::stamps(list);
        for (const auto& s : stamps) {
            std::string products;
            for (const auto& p : s.products) products += (products.empty() ? "" : ",") + p;
            const std::string want =
                stamp_text(s.units, static_cast<int64_t>(s.orders.size()), s.first_purchase_unix_ms, products);
            auto it = have.find(s.country);
            if (it == have.end()) c.drift("passport_stamps", customer + " " + s.country, "", "(missing)", want, mark.position);
            else if (it->second != want)
                c.drift("passport_stamps", customer + " " + s.country, "units/orders/first/products", it->second, want,
                        mark.position);
            if (it != have.end()) have.erase(it);
        }
        for (const auto& [country, v] : have) c.drift("passport_stamps", customer + " " + country, "", v, "(no stamp)", 0);
        std::string badges;
        for (const auto& b : passport::badges(stamps)) badges += (badges.empty() ? "" : ",") + b;
        const int64_t n = static_cast<int64_t>(stamps.size());
        if (count ? (count->first != n || count->second != badges) : n != 0)
            c.drift("passport_counts", customer, "countries [badges]",
                    count ? std::to_string(count->first) + " [" + count->second + "]" : "(missing)",
                    std::to_string(n) + " [" + badges + "]", mark.position);
    }
    for (const auto& [customer, have] : cached)
        for (const auto& [country, v] : have) c.extra("passport_stamps", customer + " " + country, v);
    for (const auto& [customer, v] : counts)
        if (v.first != 0) c.extra("passport_counts", customer, std::to_string(v.first));
}

void check_affiliates(sql::Tx& tx, const std::map<std::string, ConversionTruth>& truths,
                      const std::map<std::string, PayoutTruth>& payouts, const Ledger& ledger, Checker& c) {
    std::map<std::string, ConversionTruth> cached;
    for (const auto& row : tx.exec("SELECT order_id, affiliate_id, customer_id, currency, commission_minor, reversed_minor,"
                                   " open_disputes, paid_minor FROM affiliate_conversions"))
        cached[row.str(0)] = {row.str(1), row.str(2), row.str(3), row.i64(4), row.i64(5), row.i64(6), row.i64(7), {}};
    // Each affiliate's balance from the read model's rows: earned less taken back, less paid.
    std::map<std::pair<std::string, std::string>, int64_t> balances;
    for (const auto& [order, x] : cached) balances[{x.affiliate_id, x.currency}] += x.commission_minor - x.reversed_minor;
    std::map<std::string, PayoutTruth> cached_payouts;
    for (const auto& row : tx.exec("SELECT payout_id, affiliate_id, currency, status, amount_minor FROM affiliate_payouts"))
        cached_payouts[row.str(0)] = {row.str(1), row.str(2), row.str(3), row.i64(4), {}};
    for (const auto& [id, p] : cached_payouts)
        if (p.status == "paid") balances[{p.affiliate_id, p.currency}] -= p.amount_minor;
    for (const auto& [id, t] : payouts) {
        auto it = cached_payouts.find(id);
        if (!c.due("affiliate_payouts", t.mark)) {
            if (it != cached_payouts.end()) cached_payouts.erase(it);
            continue;
        }
        const std::string want = t.status + " " + money_text(t.amount_minor);
        if (it == cached_payouts.end()) c.drift("affiliate_payouts", id, "", "(missing)", want, t.mark.position);
        else if (it->second.status != t.status || it->second.amount_minor != t.amount_minor)
            c.drift("affiliate_payouts", id, "status amount", it->second.status + " " + money_text(it->second.amount_minor),
                    want, t.mark.position);
        if (it != cached_payouts.end()) cached_payouts.erase(it);
    }
    for (const auto& [id, p] : cached_payouts) c.extra("affiliate_payouts", id, p.status + " " + money_text(p.amount_minor));
    for (const auto& [order, t] : truths) {
        auto it = cached.find(order);
        if (!c.due("affiliate_conversions", t.mark)) {
            if (it != cached.end()) cached.erase(it);
            continue;
        }
        const int64_t pos = t.mark.position;
        if (it == cached.end()) {
            c.drift("affiliate_conversions", order, "", "(missing)", t.affiliate_id + " " + money_text(t.commission_minor), pos);
            continue;
        }
        const auto& h = it->second;
        if (h.affiliate_id != t.affiliate_id) c.drift("affiliate_conversions", order, "affiliate_id", h.affiliate_id, t.affiliate_id, pos);
        if (h.commission_minor != t.commission_minor)
            c.drift("affiliate_conversions", order, "commission_minor", money_text(h.commission_minor),
                    money_text(t.commission_minor), pos);
        if (h.reversed_minor != t.reversed_minor)
            c.drift("affiliate_conversions", order, "reversed_minor", money_text(h.reversed_minor), money_text(t.reversed_minor), pos);
        if (h.open_disputes != t.open_disputes)
            c.drift("affiliate_conversions", order, "open_disputes", std::to_string(h.open_disputes),
                    std::to_string(t.open_disputes), pos);
        if (h.paid_minor != t.paid_minor)
            c.drift("affiliate_conversions", order, "paid_minor", money_text(h.paid_minor), money_text(t.paid_minor), pos);
        cached.erase(it);
    }
    for (const auto& [order, h] : cached) c.extra("affiliate_conversions", order, h.affiliate_id);
    // The balance against the affiliate's payable account (a liability: credit less debit).
    const std::string prefix = ledger::affiliate_payable("");
    std::set<std::pair<std::string, std::string>> owed_keys;
    for (const auto& [key, a] : ledger) {
        if (key.first.rfind(prefix, 0) != 0) continue;
        const std::pair<std::string, std::string> k{key.first.substr(prefix.size()), key.second};
        owed_keys.insert(k);
        if (!c.due("affiliate_balances", a.mark)) continue;
        const int64_t listed = balances.contains(k) ? balances.at(k) : 0;
        const int64_t owed = a.credit - a.debit;
        if (listed != owed)
            c.drift("affiliate_balances", k.first + " " + k.second, "payable_minor", money_text(listed),
                    money_text(owed), a.mark.position);
    }
    for (const auto& [k, listed] : balances)
        if (!owed_keys.contains(k) && listed != 0) c.extra("affiliate_balances", k.first + " " + k.second, money_text(listed));
}

}  // namespace

std::vector<std::string> cache_names() {
    std::vector<std::string> out;
    for (const auto& c : kCaches) out.push_back(c.cache);
    return out;
}

int64_t Report::drift_count(const std::string& cache) const {
    for (const auto& c : caches)
        if (c.cache == cache) return c.drifting;
    return 0;
}

void Report::merge(const Report& other) {
    for (const auto& o : other.caches) {
        auto it = std::find_if(caches.begin(), caches.end(), [&](const CacheSummary& c) { return c.cache == o.cache; });
        if (it == caches.end()) {
            caches.push_back(o);
            continue;
        }
        it->checked += o.checked;
        it->pending += o.pending;
        it->drifting += o.drifting;
    }
    drifts.insert(drifts.end(), other.drifts.begin(), other.drifts.end());
    events_folded += other.events_folded;
    streams_folded += other.streams_folded;
    unfolded_streams += other.unfolded_streams;
}

std::vector<std::string> Report::drifting_projections() const {
    std::set<std::string> out;
    for (const auto& c : caches)
        if (c.drifting > 0 && !c.projection.empty()) out.insert(c.projection);
    return {out.begin(), out.end()};
}

Reconciler::Reconciler(Progress progress) : state_(std::make_unique<State>()), progress_(std::move(progress)) {}
Reconciler::~Reconciler() = default;

int64_t Reconciler::folded_position() const { return state_->folded; }

namespace {

using SnapshotRows = std::map<std::string, std::tuple<int64_t, std::string, std::string>>;  // version, last hash, state

SnapshotRows read_snapshots(sql::Tx& tx, const std::vector<std::string>& ids) {
    SnapshotRows out;
    if (ids.empty()) return out;
    for (const auto& row : tx.exec("SELECT stream_id, version, last_hash, state FROM snapshots WHERE stream_id = ANY($1::text[])",
                                   {sql::text_array(ids)}))
        out[row.str(0)] = {row.i64(1), row.bytes(2), row.bytes(3)};
    return out;
}

// A stream's snapshot check, counted and its differences reported as drifts.
void record(const std::string& stream, int64_t last_position, const SnapshotCheck& result, Checker& c, Report& report) {
    c.due("snapshots", Mark{});
    ++(result.folded ? report.streams_folded : report.unfolded_streams);
    for (const auto& d : result.diffs) c.drift("snapshots", stream, d.field, d.cached, d.log, last_position);
}

// One stream's snapshot row (if any) against the fold of its events.
void check_stream(const std::string& stream, std::span<const v1::EventEnvelope> events, const SnapshotRows& snaps,
                  Checker& c, Report& report) {
    auto it = snaps.find(stream);
    static const SnapshotRows::mapped_type none;  // no row: version 0
    const auto& row = it == snaps.end() ? none : it->second;
    const auto& [version, last_hash, state] = row;
    record(stream, events.empty() ? 0 : events.back().position(), check_snapshot(stream, events, version, last_hash, state),
           c, report);
}

// The snapshots of the streams given (an incremental pass: those with new events).
void check_snapshots(sql::Tx& tx, const std::set<std::string>& streams, Checker& c, Report& report, const Progress& progress) {
    int64_t done = 0;
    for (const auto& s : streams) {
        auto events = journal::read_stream(tx, s, 0, 100000000);
        check_stream(s, events, read_snapshots(tx, {s}), c, report);
        if (progress && ++done % 1000 == 0) progress("snapshots", done, static_cast<int64_t>(streams.size()), s);
    }
}

// Every snapshot, fed the journal page by page in stream order: each stream is folded
// event by event (StreamFold), so a long stream is never held whole, and compared with its
// snapshot row once its last event has gone by.
class SnapshotWalk {
public:
    SnapshotWalk(sql::Tx& tx, Checker& c, Report& report) : tx_(tx), c_(c), report_(report) {}

    void page(const std::vector<v1::EventEnvelope>& page) {
        std::vector<std::string> ids;  // the streams this page starts
        for (const auto& e : page)
            if ((ids.empty() || ids.back() != e.stream_id()) && (!fold_ || e.stream_id() != fold_->stream()))
                ids.push_back(e.stream_id());
        auto snaps = read_snapshots(tx_, ids);
        for (const auto& e : page) {
            if (!fold_ || fold_->stream() != e.stream_id()) {
                finish();
                fold_.emplace(e.stream_id());
                auto it = snaps.find(e.stream_id());
                row_ = it == snaps.end() ? Row{} : std::move(it->second);
            }
            fold_->add(e);
        }
    }

    // Compares the stream at hand (after the last page: the journal's last stream).
    void finish() {
        if (!fold_) return;
        const auto& [version, last_hash, state] = row_;
        record(fold_->stream(), fold_->last_position(), fold_->finish(version, last_hash, state), c_, report_);
        fold_.reset();
    }

private:
    using Row = SnapshotRows::mapped_type;
    sql::Tx& tx_;
    Checker& c_;
    Report& report_;
    std::optional<StreamFold> fold_;
    Row row_;
};

// Runs a job on a thread of its own for each page given, one page at a time.
class PageWorker {
public:
    explicit PageWorker(std::function<void(const std::vector<v1::EventEnvelope>&)> job)
        : job_(std::move(job)), thread_([this] { loop(); }) {}
    ~PageWorker() {
        {
            std::lock_guard lock(mu_);
            quit_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    void give(const std::vector<v1::EventEnvelope>& page) {
        std::lock_guard lock(mu_);
        page_ = &page;
        cv_.notify_all();
    }
    // Waits until the page given is done; rethrows what the job threw.
    void wait() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return page_ == nullptr; });
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    }

private:
    void loop() {
        std::unique_lock lock(mu_);
        while (true) {
            cv_.wait(lock, [&] { return page_ != nullptr || quit_; });
            if (quit_) return;
            lock.unlock();
            try {
                job_(*page_);
            } catch (...) {
                lock.lock();
                error_ = std::current_exception();
                page_ = nullptr;
                cv_.notify_all();
                continue;
            }
            lock.lock();
            page_ = nullptr;
            cv_.notify_all();
        }
    }

    std::function<void(const std::vector<v1::EventEnvelope>&)> job_;
    std::mutex mu_;
    std::condition_variable cv_;
    const std::vector<v1::EventEnvelope>* page_ = nullptr;
    std::exception_ptr error_;
    bool quit_ = false;
    std::thread thread_;
};

}  // namespace

std::expected<Report, std::string> Reconciler::pass(sql::Pool& pool) {
    Report report;
    State& s = *state_;
    std::string failure;
    auto r = pool.snapshot([&](sql::Tx& tx) {
        std::map<std::string, std::vector<int64_t>> watermarks;
        int max_partition = -1;
        for (const auto& row : tx.exec("SELECT projector, partition, position FROM projector_checkpoints")) {
            auto& w = watermarks[row.str(0)];
            const auto p = static_cast<size_t>(row.i64(1));
            if (w.size() <= p) w.resize(p + 1, 0);
            w[p] = row.i64(2);
            max_partition = std::max(max_partition, static_cast<int>(p));
        }
        for (const auto& row : tx.exec("SELECT coalesce(max(partition), -1) FROM relay_progress"))
            max_partition = std::max(max_partition, static_cast<int>(row.i64(0)));
        // The topic's partitions, as the relay and the projectors have seen them (events go to
        // partition_for(stream, N), as the relay sends them).
        if (s.partitions == 0) s.partitions = std::max(1, max_partition + 1);
        report.head = journal::head_position(tx);
        const std::string db_snapshot = tx.exec("SELECT pg_export_snapshot()").at(0).str(0);
        // Every cache but the snapshots against the fold: independent comparisons, each in
        // a transaction that sees this database snapshot.
        using Comparison = std::function<void(sql::Tx&, Checker&)>;
        const std::vector<Comparison> comparisons = {
            [&s](sql::Tx& tx, Checker& c) { check_orders(tx, s.orders, c); },
            [&s](sql::Tx& tx, Checker& c) { check_credit(tx, s.ledger, s.credit_entries, c); },
            [&s](sql::Tx& tx, Checker& c) {
                for (const auto& u : s.unbalanced) c.drift("ledger_accounts", u, "postings", "(unbalanced)", "balanced", 0);
                check_ledger(tx, s.ledger, c);
            },
            [&s](sql::Tx& tx, Checker& c) { check_passports(tx, s.passport_orders, c); },
            [&s](sql::Tx& tx, Checker& c) { check_loyalty(tx, s.loyalty, c); },
            [&s](sql::Tx& tx, Checker& c) { check_affiliates(tx, s.conversions, s.payouts, s.ledger, c); },
            [&s](sql::Tx& tx, Checker& c) { check_coupons(tx, s.coupon_uses, c); },
            [&s](sql::Tx& tx, Checker& c) { check_catalog(tx, s.stock, s.coupon_uses, c); },
            [&s](sql::Tx& tx, Checker& c) { check_subscriptions(tx, s.subscriptions, c); },
            [&s](sql::Tx& tx, Checker& c) { check_principals(tx, s.principals, c); },
        };
        std::atomic<size_t> next_comparison{0};
        auto compare_some = [&](sql::Tx& tx, Checker& c) {
            for (size_t i; (i = next_comparison++) < comparisons.size();) comparisons[i](tx, c);
        };
        Checker c(report, watermarks);
        int64_t folded_events = 0;
        if (s.first) {
            // The first pass reads the journal once, in stream order, from the same database
            // snapshot as `tx`: each page is folded (on a worker thread) while its streams are
            // checked against their snapshots (on this one). Stream order folds to the same
            // values as position order: what the fold keeps per key comes from one stream
            // (an order's facts from its stream, a customer's credit entries from theirs),
            // and what it adds up across streams (ledger postings, coupon uses) does not
            // depend on the order.
            SnapshotWalk walk(tx, c, report);
            {
                PageWorker folder([&](const std::vector<v1::EventEnvelope>& page) {
                    for (const auto& e : page) s.fold(e);
                });
                journal::ScanOptions all;
                all.by_stream = true;
                all.snapshot = db_snapshot;
                all.up_to_position = report.head;
                auto scanned = journal::scan(pool.url(), all, [&](const std::vector<v1::EventEnvelope>& page) {
                    folder.give(page);
                    walk.page(page);
                    folder.wait();
                    folded_events += static_cast<int64_t>(page.size());
                    if (progress_) progress_("journal", folded_events, report.head, page.back().stream_id());
                    return true;
                });
                if (!scanned) throw std::runtime_error(scanned.error());
            }
            walk.finish();
            s.folded = report.head;
            // A snapshot that has seen events the journal does not hold.
            for (const auto& row : tx.exec("SELECT s.stream_id, s.version FROM snapshots s WHERE s.version > 0 AND NOT EXISTS"
                                           " (SELECT 1 FROM journal j WHERE j.stream_id = s.stream_id)"))
                c.drift("snapshots", row.str(0), "version", std::to_string(row.i64(1)), "0", 0);
            // The comparisons on two threads: this one in `tx`, another in a transaction of
            // its own in the same snapshot (when the pool has a second connection to give).
            Report second_report;
            std::string second_error;
            std::optional<std::thread> second;
            if (pool.size() >= 2)
                second.emplace([&] {
                    auto checked = pool.snapshot_of(db_snapshot, [&](sql::Tx& own) {
                        Checker cc(second_report, watermarks);
                        compare_some(own, cc);
                    });
                    if (!checked) {
                        second_error = checked.error().message;
                        next_comparison = comparisons.size();  // this thread stops too
                    }
                });
            try {
                compare_some(tx, c);
            } catch (...) {
                next_comparison = comparisons.size();
                if (second) second->join();
                throw;
            }
            if (second) second->join();
            if (!second_error.empty()) throw std::runtime_error(second_error);
            report.merge(second_report);
            // Drifts in the order of the caches, whichever thread found them.
            std::stable_sort(report.drifts.begin(), report.drifts.end(),
                             [](const Drift& a, const Drift& b) { return cache_rank(a.cache) < cache_rank(b.cache); });
        } else if (s.folded < report.head) {
            // Later passes fold what is new in position order, then check the snapshots of
            // the streams it touched.
            std::set<std::string> dirty;
            journal::ScanOptions fold;
            fold.after_position = s.folded;
            fold.up_to_position = report.head;
            fold.snapshot = db_snapshot;
            auto scanned = journal::scan(pool.url(), fold, [&](const std::vector<v1::EventEnvelope>& page) {
                for (const auto& e : page) {
                    s.fold(e);
                    dirty.insert(e.stream_id());
                }
                s.folded = page.back().position();
                folded_events += static_cast<int64_t>(page.size());
                if (progress_) progress_("journal", s.folded, report.head, page.back().stream_id());
                return true;
            });
            if (!scanned) throw std::runtime_error(scanned.error());
            check_snapshots(tx, dirty, c, report, progress_);
            compare_some(tx, c);
        } else {
            compare_some(tx, c);
        }
        report.events_folded += folded_events;
    });
    if (!r) {
        failure = r.error().message;
        return std::unexpected(failure);
    }
    s.first = false;
    return report;
}

std::string to_text(const Report& report) {
    std::string out;
    for (const auto& d : report.drifts) {
        out += d.cache + " " + d.key + (d.field.empty() ? "" : " " + d.field) + ": cached " + d.cached + ", log " + d.log;
        if (d.position > 0) out += " (position " + std::to_string(d.position) + ")";
        out += "\n";
    }
    for (const auto& c : report.caches) {
        out += "  " + c.cache + ": " + std::to_string(c.checked) + " checked";
        if (c.pending) out += ", " + std::to_string(c.pending) + " pending (projector " + c.projection + " not there yet)";
        out += c.drifting ? ", " + std::to_string(c.drifting) + " DRIFTING" : ", clean";
        if (c.cache == "snapshots")
            out += " (" + std::to_string(report.streams_folded) + " folded from their streams, " +
                   std::to_string(report.unfolded_streams) + " of other kinds compared by version and hash)";
        out += "\n";
    }
    out += "reconciled up to position " + std::to_string(report.head) + ": " +
           (report.clean() ? "every cache agrees with the log"
                           : std::to_string(report.drifts.size()) + " DRIFTING VALUES (the ledger wins)") +
           "\n";
    return out;
}

std::string to_json(const Report& report) {
    nlohmann::json caches = nlohmann::json::array(), drift = nlohmann::json::array();
    for (const auto& c : report.caches)
        caches.push_back({{"cache", c.cache},
                          {"projection", c.projection},
                          {"checked", c.checked},
                          {"pending", c.pending},
                          {"drifting", c.drifting}});
    for (const auto& d : report.drifts)
        drift.push_back({{"cache", d.cache},
                         {"key", d.key},
                         {"field", d.field},
                         {"cached", d.cached},
                         {"log", d.log},
                         {"position", d.position}});
    return nlohmann::json{{"head", report.head}, {"clean", report.clean()}, {"caches", caches}, {"drift", drift}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace tally::projectors::reconcile
