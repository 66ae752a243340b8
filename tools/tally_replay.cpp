// tally-replay: the auditor's tool. Reads the journal (never writes).
//
//   tally-replay verify      every stream's hash chain and the gap-free position sequence
//   tally-replay reconcile   recomputes balances from the ledger postings in the journal and
//                            compares them with the cached copies (read models, snapshots);
//                            orders (statuses, fulfilment, money, owner after claims) and coupon uses likewise;
//                            loyalty tier state (spend, tier, holds, history) from the customers' loyalty events;
//                            passports (stamps, counts, badges) folded from the orders' facts;
//                            affiliate conversions and each affiliate's balance against its payable account
//   tally-replay dump [--after POSITION] [--limit N]   events as JSON lines
//
// Exit status: 0 all good, 1 a discrepancy was found, 2 usage or connection error.
// Reads TALLY_PG_URL (default: the private cluster on TALLY_PG_PORT).

#include <cstdio>
#include <fstream>
#include <sstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "domain/catalog.h"
#include "domain/credit.h"
#include "domain/order.h"
#include "domain/ledger.h"
#include "domain/loyalty.h"
#include "domain/passport.h"
#include "events/checkpoint.h"
#include "events/passport_facts.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/checkpoint.pb.h"
#include "infra/config.h"
#include "infra/journal.h"
#include "infra/sql.h"
#include "tools/replay_audit.h"

namespace {

using namespace tally;
constexpr int64_t kPage = 5000;

// Walks the whole journal in position order, page by page.
bool for_each_event(sql::Pool& pool, const std::function<void(const v1::EventEnvelope&)>& fn) {
    int64_t after = 0;
    while (true) {
        std::vector<v1::EventEnvelope> page;
        auto r = pool.transact([&](sql::Tx& tx) { page = journal::read_after(tx, after, kPage); });
        if (!r) {
            std::cerr << "journal: " << r.error().message << "\n";
            return false;
        }
        for (const auto& e : page) fn(e);
        if (page.size() < static_cast<size_t>(kPage)) return true;
        after = page.back().position();
    }
}

// Every chain checkpoint, by the position it covers (few: one per thousands of events).
std::map<int64_t, v1::ChainCheckpoint> read_checkpoints(sql::Pool& pool, bool& ok) {
    std::map<int64_t, v1::ChainCheckpoint> out;
    ok = static_cast<bool>(pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT payload FROM journal WHERE stream_id = $1 AND type = $2 ORDER BY position",
                                       {std::string(events::kCheckpointStream), std::string(events::kChainCheckpoint)})) {
            v1::ChainCheckpoint c;
            if (c.ParseFromString(row.bytes(0))) out[c.position()] = c;
        }
    }));
    return out;
}

// `public_keys`: the checkpoints' keys by id ("kid:hex" lines); empty: checkpoints unchecked.
int verify(sql::Pool& pool, const std::string& public_keys) {
    std::map<std::string, std::string> keys;
    if (!public_keys.empty()) {
        std::ifstream in(public_keys);
        std::stringstream ss;
        ss << in.rdbuf();
        auto parsed = events::parse_public_keys(ss.str());
        if (!in || !parsed) {
            std::fprintf(stderr, "--public-key %s: %s\n", public_keys.c_str(), parsed ? "cannot read it" : parsed.error().c_str());
            return 2;
        }
        keys = *parsed;
    }
    bool read_ok = false;
    const auto checkpoints = read_checkpoints(pool, read_ok);
    if (!read_ok) return 2;
    std::string running = events::running_hash_start();
    int64_t checked = 0, last_checked = 0;
    struct Tip {
        int64_t version = 0;
        std::string hash = events::genesis_hash();
        bool broken = false;
    };
    std::map<std::string, Tip> streams;
    int64_t expected_position = 1, problems = 0, count = 0;
    auto checkpoint_step = [&](const v1::EventEnvelope& e) {
        // The running hash over the stored event hashes (recomputed ones included: the
        // signature is what an editor cannot make again).
        running = events::running_hash_next(running, e.hash());
        auto c = checkpoints.find(e.position());
        if (c == checkpoints.end() || keys.empty()) return;
        const auto& cp = c->second;
        std::string why;
        auto key = keys.find(cp.key_id());
        if (key == keys.end()) why = "signed by key " + cp.key_id() + ", which --public-key does not hold";
        else if (!events::verify_ed25519(key->second, events::checkpoint_message(cp.position(), cp.running_hash(), cp.key_id()),
                                         cp.signature()))
            why = "the signature does not verify (the checkpoint was altered)";
        else if (cp.running_hash() != running)
            why = "the running hash of the journal up to here differs from the signed one: an event at or before this "
                  "position was changed";
        if (!why.empty()) {
            std::printf("checkpoint at position %lld: %s\n", static_cast<long long>(cp.position()), why.c_str());
            ++problems;
        } else {
            ++checked;
            last_checked = cp.position();
        }
    };
    const bool ok = for_each_event(pool, [&](const v1::EventEnvelope& e) {
        ++count;
        checkpoint_step(e);
        if (e.position() != expected_position) {
            std::printf("position gap: expected %lld, found %lld\n", static_cast<long long>(expected_position),
                        static_cast<long long>(e.position()));
            ++problems;
        }
        expected_position = e.position() + 1;
        auto& tip = streams[e.stream_id()];
        if (tip.broken) return;
        std::string why;
        if (e.stream_version() != tip.version + 1) why = "version gap";
        else if (e.prev_hash() != tip.hash) why = "prev_hash does not match the previous event's hash";
        else if (events::compute_hash(e) != e.hash()) why = "hash does not match the event's content";
        if (!why.empty()) {
            std::printf("stream %s broken at version %lld (position %lld): %s\n", e.stream_id().c_str(),
                        static_cast<long long>(e.stream_version()), static_cast<long long>(e.position()), why.c_str());
            tip.broken = true;
            ++problems;
            return;
        }
        tip.version = e.stream_version();
        tip.hash = e.hash();
    });
    if (!ok) return 2;
    // The snapshots must point at each stream's last event.
    auto r = pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT stream_id, version, last_hash FROM snapshots WHERE version > 0")) {
            const auto& tip = streams[row.str(0)];
            if (!tip.broken && (tip.version != row.i64(1) || tip.hash != row.bytes(2))) {
                std::printf("snapshot of %s is at version %lld, the journal at %lld\n", row.str(0).c_str(),
                            static_cast<long long>(row.i64(1)), static_cast<long long>(tip.version));
                ++problems;
            }
        }
    });
    if (!r) return 2;
    if (keys.empty()) {
        std::printf("%zu signed checkpoints not checked: give --public-key FILE (GET /v1/audit/keys) to check them\n",
                    checkpoints.size());
    } else {
        std::printf("checked %lld of %zu signed checkpoints; the last covers position %lld, %lld events after it are "
                    "not yet covered\n",
                    static_cast<long long>(checked), checkpoints.size(), static_cast<long long>(last_checked),
                    static_cast<long long>(count - last_checked));
        if (checkpoints.empty()) ++problems;  // nothing signed: nothing proves the journal
    }
    std::printf("verified %lld events in %zu streams: %s\n", static_cast<long long>(count), streams.size(),
                problems ? "DISCREPANCIES FOUND" : "all chains intact");
    return problems ? 1 : 0;
}

// What the log says of each order: its placement, and the statuses its last lifecycle
// event left behind.
struct OrderTruth {
    v1::OrderPlaced placed;
    std::optional<v1::OrderStatusAfter> after;
    std::string claimed_by;  // a guest order claimed for a registered customer
};

// The orders read model against the log: payment status, fulfilment status, money
// fields, each sub-order's status; and each coupon's uses against its redemptions less
// its releases. Returns the number of mismatches (printed).
int64_t reconcile_orders(sql::Tx& tx, const std::map<std::string, OrderTruth>& orders,
                         const std::map<std::string, int64_t>& coupon_uses) {
    int64_t mismatches = 0;
    auto report = [&](const std::string& what, const std::string& cached, const std::string& truth) {
        std::printf("%s: cached %s, log %s\n", what.c_str(), cached.c_str(), truth.c_str());
        ++mismatches;
    };
    std::map<std::string, std::tuple<std::string, std::string, int64_t, int64_t, int64_t, std::string>> cached;
    for (const auto& row : tx.exec("SELECT order_id, status, fulfilment_status, total_minor, credit_applied_minor,"
                                   " amount_due_minor, customer_id FROM orders"))
        cached[row.str(0)] = {row.str(1), row.str(2), row.i64(3), row.i64(4), row.i64(5), row.str(6)};
    std::map<std::pair<std::string, std::string>, std::string> cached_subs;
    for (const auto& row : tx.exec("SELECT order_id, vendor_id, status FROM sub_orders"))
        cached_subs[{row.str(0), row.str(1)}] = row.str(2);
    for (const auto& [id, truth] : orders) {
        if (truth.placed.order_id().empty()) continue;  // lifecycle news of an order the log never placed
        auto it = cached.find(id);
        if (it == cached.end()) {
            report("orders " + id, "(missing)", "placed");
            continue;
        }
        const auto& [status, fulfilment, total, credit, due, customer] = it->second;
        const std::string want_customer = truth.claimed_by.empty() ? truth.placed.customer_id() : truth.claimed_by;
        if (customer != want_customer) report("orders " + id + " customer_id", customer, want_customer);
        std::vector<std::string> subs;
        for (const auto& so : truth.placed.sub_orders()) {
            const std::string want = truth.after ? truth.after->sub_orders().at(so.vendor_id()) : so.status();
            subs.push_back(want);
            const auto have = cached_subs.find({id, so.vendor_id()});
            if (have == cached_subs.end() || have->second != want)
                report("sub_orders " + id + "/" + so.vendor_id() + " status",
                       have == cached_subs.end() ? "(missing)" : have->second, want);
        }
        const std::string want_status = truth.after ? truth.after->status() : truth.placed.status();
        if (status != want_status) report("orders " + id + " status", status, want_status);
        const std::string want_fulfilment = order::fulfilment_status(subs);
        if (fulfilment != want_fulfilment) report("orders " + id + " fulfilment_status", fulfilment, want_fulfilment);
        const auto& p = truth.placed.pricing();
        if (total != p.total_minor() || credit != p.credit_applied_minor() || due != p.amount_due_minor())
            report("orders " + id + " money (total/credit/due)",
                   std::to_string(total) + "/" + std::to_string(credit) + "/" + std::to_string(due),
                   std::to_string(p.total_minor()) + "/" + std::to_string(p.credit_applied_minor()) + "/" +
                       std::to_string(p.amount_due_minor()));
    }
    for (const auto& [code, uses] : coupon_uses) {
        auto snap = tx.exec("SELECT state FROM snapshots WHERE stream_id = $1", {catalog::coupon_stream(code)});
        v1::CouponState state;
        if (!snap.empty()) state.ParseFromString(snap[0].bytes(0));
        if (state.uses_total() != uses)
            report("coupon " + code + " uses", std::to_string(state.uses_total()), std::to_string(uses));
    }
    return mismatches;
}

// Tier state as the log has it: each customer's loyalty events replayed, and the spend
// summed from the deltas (which must agree with the running totals the events carry).
struct LoyaltyTruth {
    v1::LoyaltyState state;
    std::map<std::string, int64_t> spend_by_delta;  // currency -> sum of deltas
    int64_t tier_changes = 0;
};

int64_t reconcile_loyalty(sql::Tx& tx, const std::map<std::string, LoyaltyTruth>& truths) {
    int64_t mismatches = 0;
    auto report = [&](const std::string& what, const std::string& cached, const std::string& truth) {
        std::printf("%s: cached %s, log %s\n", what.c_str(), cached.c_str(), truth.c_str());
        ++mismatches;
    };
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, std::string>> standings;
    for (const auto& row : tx.exec("SELECT customer_id, currency, spend_minor, tier FROM loyalty_standings"))
        standings[{row.str(0), row.str(1)}] = {row.i64(2), row.str(3)};
    std::set<std::pair<std::string, std::string>> holds;
    for (const auto& row : tx.exec("SELECT customer_id, dispute_id FROM loyalty_holds")) holds.insert({row.str(0), row.str(1)});
    std::map<std::string, int64_t> history;
    for (const auto& row : tx.exec("SELECT customer_id, count(*) FROM loyalty_history GROUP BY customer_id"))
        history[row.str(0)] = row.i64(1);
    size_t accounts = 0;
    for (const auto& [customer, truth] : truths) {
        for (const auto& a : truth.state.accounts()) {
            ++accounts;
            const std::string what = "loyalty " + customer + " " + a.currency();
            const auto by_delta = truth.spend_by_delta.find(a.currency());
            if (by_delta != truth.spend_by_delta.end() && by_delta->second != a.spend_minor())
                report(what + " spend (running total vs deltas)", std::to_string(a.spend_minor()), std::to_string(by_delta->second));
            auto it = standings.find({customer, a.currency()});
            if (it == standings.end()) {
                report("loyalty_standings " + customer + " " + a.currency(), "(missing)",
                       std::to_string(a.spend_minor()) + " " + a.tier());
                continue;
            }
            if (it->second.first != a.spend_minor())
                report("loyalty_standings " + customer + " " + a.currency() + " spend_minor", std::to_string(it->second.first),
                       std::to_string(a.spend_minor()));
            if (it->second.second != a.tier())
                report("loyalty_standings " + customer + " " + a.currency() + " tier", it->second.second, a.tier());
            standings.erase(it);
        }
        for (const auto& h : truth.state.holds())
            if (!holds.erase({customer, h.dispute_id()}))
                report("loyalty_holds " + customer + " " + h.dispute_id(), "(missing)", "open");
        if (history[customer] != truth.tier_changes)
            report("loyalty_history " + customer + " entries", std::to_string(history[customer]), std::to_string(truth.tier_changes));
        history.erase(customer);
        // The aggregate's snapshot, which checkout prices from.
        auto snap = tx.exec("SELECT state FROM snapshots WHERE stream_id = $1", {loyalty::stream_id(customer)});
        v1::LoyaltyState cached;
        v1::LoyaltyState want = truth.state;
        want.set_customer_id(customer);
        if (snap.empty() || !cached.ParseFromString(snap[0].bytes(0)) ||
            !google::protobuf::util::MessageDifferencer::Equals(cached, want))
            report("snapshot " + loyalty::stream_id(customer), "(differs)", "the replayed state");
    }
    for (const auto& [key, v] : standings)
        report("loyalty_standings " + key.first + " " + key.second, std::to_string(v.first) + " " + v.second, "(none)");
    for (const auto& [customer, dispute] : holds) report("loyalty_holds " + customer + " " + dispute, "open", "(none)");
    for (const auto& [customer, n] : history)
        if (n) report("loyalty_history " + customer + " entries", std::to_string(n), "0");
    std::printf("reconciled tier state of %zu customers (%zu accounts)\n", truths.size(), accounts);
    return mismatches;
}

// Passports as the log has them: every order's facts folded (domain/passport.h), the
// stamps recomputed per customer, against passport_stamps and passport_counts.
int64_t reconcile_passports(sql::Tx& tx, const std::map<std::string, passport::Order>& orders) {
    int64_t mismatches = 0;
    auto report = [&](const std::string& what, const std::string& cached, const std::string& truth) {
        std::printf("%s: cached %s, log %s\n", what.c_str(), cached.c_str(), truth.c_str());
        ++mismatches;
    };
    std::map<std::string, std::vector<passport::Order>> by_customer;
    for (const auto& [id, o] : orders)
        if (!o.customer_id.empty()) by_customer[o.customer_id].push_back(o);
    // country -> "units/orders" per customer, as cached.
    std::map<std::string, std::map<std::string, std::string>> cached;
    for (const auto& row : tx.exec("SELECT customer_id, country, units, cardinality(orders) FROM passport_stamps"))
        cached[row.str(0)][row.str(1)] = std::to_string(row.i64(2)) + " units/" + std::to_string(row.i64(3)) + " orders";
    std::map<std::string, std::pair<int64_t, std::string>> counts;
    for (const auto& row : tx.exec("SELECT customer_id, countries, array_to_string(badges, ',') FROM passport_counts"))
        counts[row.str(0)] = {row.i64(1), row.str(2)};
    size_t stamped = 0;
    for (const auto& [customer, list] : by_customer) {
        const auto stamps = passport::stamps(list);
        std::map<std::string, std::string> want;
        for (const auto& s : stamps)
            want[s.country] = std::to_string(s.units) + " units/" + std::to_string(s.orders.size()) + " orders";
        auto& have = cached[customer];
        for (const auto& [country, v] : want) {
            auto it = have.find(country);
            if (it == have.end()) report("passport_stamps " + customer + " " + country, "(missing)", v);
            else if (it->second != v) report("passport_stamps " + customer + " " + country, it->second, v);
            if (it != have.end()) have.erase(it);
        }
        for (const auto& [country, v] : have) report("passport_stamps " + customer + " " + country, v, "(no stamp)");
        cached.erase(customer);
        std::string badges;
        for (const auto& b : passport::badges(stamps)) badges += (badges.empty() ? "" : ",") + b;
        const auto c = counts.find(customer);
        const int64_t n = static_cast<int64_t>(stamps.size());
        if (c == counts.end() ? n != 0 : (c->second.first != n || c->second.second != badges))
            report("passport_counts " + customer,
                   c == counts.end() ? "(missing)" : std::to_string(c->second.first) + " [" + c->second.second + "]",
                   std::to_string(n) + " [" + badges + "]");
        stamped += stamps.empty() ? 0 : 1;
    }
    for (const auto& [customer, have] : cached)
        for (const auto& [country, v] : have) report("passport_stamps " + customer + " " + country, v, "(no stamp)");
    std::printf("reconciled passports of %zu customers (%zu with stamps)\n", by_customer.size(), stamped);
    return mismatches;
}

// Affiliate conversions as the log has them, by order.
struct ConversionTruth {
    std::string affiliate_id, customer_id, currency;
    int64_t commission_minor = 0, reversed_minor = 0;
    int64_t open_disputes = 0;
    int64_t paid_minor = 0;
};

// Affiliate payouts as the log has them, by payout id.
struct PayoutTruth {
    std::string affiliate_id, currency, status;
    int64_t amount_minor = 0;
};

// Each conversion row against the log, and each affiliate's balance (what its conversions
// earned less what was taken back) against its payable account on the ledger.
int64_t reconcile_affiliates(sql::Tx& tx, const std::map<std::string, ConversionTruth>& truths,
                             const std::map<std::string, PayoutTruth>& payouts,
                             const std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>>& ledger) {
    int64_t mismatches = 0;
    auto report = [&](const std::string& what, const std::string& cached, const std::string& truth) {
        std::printf("%s: cached %s, log %s\n", what.c_str(), cached.c_str(), truth.c_str());
        ++mismatches;
    };
    std::map<std::string, ConversionTruth> cached;
    for (const auto& row : tx.exec("SELECT order_id, affiliate_id, customer_id, currency, commission_minor, reversed_minor,"
                                   " open_disputes, paid_minor FROM affiliate_conversions"))
        cached[row.str(0)] = {row.str(1), row.str(2), row.str(3), row.i64(4), row.i64(5), row.i64(6), row.i64(7)};
    std::map<std::pair<std::string, std::string>, int64_t> balances;  // (affiliate, currency) -> from the read model's rows
    for (const auto& [order, c] : cached) balances[{c.affiliate_id, c.currency}] += c.commission_minor - c.reversed_minor;
    // Payouts: each row against the log; the settled ones left the payable.
    std::map<std::string, PayoutTruth> cached_payouts;
    for (const auto& row : tx.exec("SELECT payout_id, affiliate_id, currency, status, amount_minor FROM affiliate_payouts"))
        cached_payouts[row.str(0)] = {row.str(1), row.str(2), row.str(3), row.i64(4)};
    for (const auto& [id, p] : cached_payouts) {
        if (p.status == "paid") balances[{p.affiliate_id, p.currency}] -= p.amount_minor;
        auto it = payouts.find(id);
        if (it == payouts.end()) report("affiliate_payouts " + id, p.status, "(no payout)");
        else if (it->second.status != p.status || it->second.amount_minor != p.amount_minor)
            report("affiliate_payouts " + id, p.status + " " + std::to_string(p.amount_minor),
                   it->second.status + " " + std::to_string(it->second.amount_minor));
    }
    for (const auto& [id, p] : payouts)
        if (!cached_payouts.contains(id)) report("affiliate_payouts " + id, "(missing)", p.status + " " + std::to_string(p.amount_minor));
    for (const auto& [order, t] : truths) {
        auto it = cached.find(order);
        if (it == cached.end()) {
            report("affiliate_conversions " + order, "(missing)", t.affiliate_id + " " + std::to_string(t.commission_minor));
            continue;
        }
        const auto& c = it->second;
        if (c.affiliate_id != t.affiliate_id) report("affiliate_conversions " + order + " affiliate", c.affiliate_id, t.affiliate_id);
        if (c.commission_minor != t.commission_minor)
            report("affiliate_conversions " + order + " commission", std::to_string(c.commission_minor),
                   std::to_string(t.commission_minor));
        if (c.reversed_minor != t.reversed_minor)
            report("affiliate_conversions " + order + " reversed", std::to_string(c.reversed_minor), std::to_string(t.reversed_minor));
        if (c.open_disputes != t.open_disputes)
            report("affiliate_conversions " + order + " open disputes", std::to_string(c.open_disputes),
                   std::to_string(t.open_disputes));
        if (c.paid_minor != t.paid_minor)
            report("affiliate_conversions " + order + " paid out", std::to_string(c.paid_minor), std::to_string(t.paid_minor));
    }
    for (const auto& [order, c] : cached)
        if (!truths.contains(order)) report("affiliate_conversions " + order, c.affiliate_id, "(no conversion)");
    // The ledger's payable per affiliate (credit less debit: a liability).
    const std::string prefix = "affiliate_payable:";
    std::map<std::pair<std::string, std::string>, int64_t> payable;
    for (const auto& [key, dc] : ledger)
        if (key.first.rfind(prefix, 0) == 0) payable[{key.first.substr(prefix.size()), key.second}] = dc.second - dc.first;
    for (const auto& [key, owed] : payable) {
        const int64_t listed = balances.contains(key) ? balances.at(key) : 0;
        if (listed != owed)
            report("affiliate balance " + key.first + " " + key.second, std::to_string(listed), std::to_string(owed) + " (ledger)");
    }
    for (const auto& [key, listed] : balances)
        if (!payable.contains(key) && listed != 0)
            report("affiliate balance " + key.first + " " + key.second, std::to_string(listed), "0 (ledger)");
    std::printf("reconciled %zu affiliate conversions, %zu payouts and %zu affiliate balances\n", truths.size(),
                payouts.size(), payable.size());
    return mismatches;
}

int reconcile(sql::Pool& pool) {
    // The truth: sums of the postings the journal records, and what it says of orders.
    std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> ledger;  // (account, cur) -> (dr, cr)
    std::map<std::string, OrderTruth> orders;
    std::map<std::string, int64_t> coupon_uses;
    std::map<std::string, LoyaltyTruth> loyalty_truths;
    std::map<std::string, passport::Order> passport_orders;
    std::map<std::string, ConversionTruth> conversions;
    std::map<std::string, PayoutTruth> payouts;
    int64_t unbalanced = 0;
    const bool ok = for_each_event(pool, [&](const v1::EventEnvelope& e) {
        if (e.type() == events::kAffiliateConversionRecorded) {
            v1::AffiliateConversionRecorded c;
            if (c.ParseFromString(e.payload()))
                conversions[c.order_id()] = {c.affiliate_id(), c.customer_id(), c.commission().currency(),
                                             c.commission().minor(), 0};
        } else if (e.type() == events::kAffiliateConversionReversed) {
            v1::AffiliateConversionReversed r;
            if (r.ParseFromString(e.payload())) conversions[r.order_id()].reversed_minor = r.reversed_total_minor();
        } else if (e.type() == events::kAffiliateConversionPaidOut) {
            v1::AffiliateConversionPaidOut p;
            if (p.ParseFromString(e.payload())) conversions[p.order_id()].paid_minor = p.paid_total_minor();
        } else if (e.type() == events::kAffiliatePayoutRequested) {
            v1::AffiliatePayoutRequested p;
            if (p.ParseFromString(e.payload()))
                payouts[p.payout_id()] = {p.affiliate_id(), p.amount().currency(), "requested", p.amount().minor()};
        } else if (e.type() == events::kAffiliatePayoutSettled) {
            v1::AffiliatePayoutSettled p;
            if (p.ParseFromString(e.payload())) payouts[p.payout_id()].status = "paid";
        } else if (e.type() == events::kAffiliatePayoutFailed) {
            v1::AffiliatePayoutFailed p;
            if (p.ParseFromString(e.payload())) payouts[p.payout_id()].status = "failed";
        } else if (e.type() == events::kAffiliatePayoutReversed) {
            v1::AffiliatePayoutReversed p;
            if (p.ParseFromString(e.payload())) payouts[p.payout_id()].status = "reversed";
        } else if (e.type() == events::kDisputeOpened || e.type() == events::kDisputeClosed) {
            // Held while a dispute is open (counted for converted orders only, as the read model does).
            auto it = conversions.find(e.stream_id().substr(std::string_view("order-").size()));
            if (it != conversions.end())
                it->second.open_disputes = std::max<int64_t>(0, it->second.open_disputes + (e.type() == events::kDisputeOpened ? 1 : -1));
        }
        for (auto& [order, fact] : events::passport_facts(e)) {
            auto it = passport_orders.find(order);
            if (it == passport_orders.end() && !std::holds_alternative<passport::Placed>(fact)) continue;
            passport_orders[order] = passport::evolve(std::move(passport_orders[order]), fact);
        }
        if (auto le = loyalty::parse(e.type(), e.payload()); le && e.stream_id().rfind("loyalty-", 0) == 0) {
            auto& t = loyalty_truths[e.stream_id().substr(std::string_view("loyalty-").size())];
            if (const auto* s = std::get_if<v1::SpendRecorded>(&*le)) t.spend_by_delta[s->currency()] += s->delta_minor();
            if (std::holds_alternative<v1::TierChanged>(*le)) ++t.tier_changes;
            t.state = loyalty::evolve(std::move(t.state), *le);
            return;
        }
        if (e.type() == events::kOrderPlaced) {
            v1::OrderPlaced placed;
            if (placed.ParseFromString(e.payload())) orders[placed.order_id()].placed = std::move(placed);
        } else if (e.type() == events::kOrderClaimed) {
            v1::OrderClaimed c;
            if (c.ParseFromString(e.payload())) orders[c.order_id()].claimed_by = c.customer_id();
        } else if (e.type() == events::kCouponRedeemed || e.type() == events::kCouponReleased) {
            v1::CouponRedeemed c;  // the two share their first fields: code, order, customer
            if (c.ParseFromString(e.payload())) coupon_uses[c.code()] += e.type() == events::kCouponRedeemed ? 1 : -1;
        } else if (auto after = events::status_after(e)) {
            orders[e.stream_id().substr(std::string_view("order-").size())].after = std::move(*after);
        }
        auto set = events::postings_of(e);
        if (!set) return;
        if (!ledger::check_balanced(*set)) {
            std::printf("event %s (position %lld) records an unbalanced posting set\n", e.event_id().c_str(),
                        static_cast<long long>(e.position()));
            ++unbalanced;
        }
        for (const auto& p : set->postings()) {
            auto& [dr, cr] = ledger[{p.account(), p.amount().currency()}];
            (p.side() == v1::DEBIT ? dr : cr) += p.amount().minor();
        }
    });
    if (!ok) return 2;
    int64_t mismatches = unbalanced;
    const std::string prefix = "store_credit_liability:";
    auto r = pool.transact([&](sql::Tx& tx) {
        // Cached ledger accounts.
        std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> cached;
        for (const auto& row : tx.exec("SELECT account, currency, debit_minor, credit_minor FROM ledger_accounts"))
            cached[{row.str(0), row.str(1)}] = {row.i64(2), row.i64(3)};
        for (const auto& [key, truth] : ledger)
            if (cached[key] != truth) {
                std::printf("ledger_accounts %s %s: cached %lld/%lld, ledger %lld/%lld (debit/credit)\n",
                            key.first.c_str(), key.second.c_str(), static_cast<long long>(cached[key].first),
                            static_cast<long long>(cached[key].second), static_cast<long long>(truth.first),
                            static_cast<long long>(truth.second));
                ++mismatches;
            }
        // Customers' store-credit balances: the read model and the aggregate snapshots.
        for (const auto& [key, truth] : ledger) {
            if (key.first.rfind(prefix, 0) != 0) continue;
            const std::string customer = key.first.substr(prefix.size());
            const int64_t balance = truth.second - truth.first;  // a liability grows by credits
            auto row = tx.exec("SELECT balance_minor FROM credit_balances WHERE customer_id = $1", {customer});
            const int64_t projected = row.empty() ? 0 : row[0].i64(0);
            if (projected != balance) {
                std::printf("credit_balances %s: cached %lld, ledger %lld\n", customer.c_str(),
                            static_cast<long long>(projected), static_cast<long long>(balance));
                ++mismatches;
            }
            auto snap = tx.exec("SELECT state FROM snapshots WHERE stream_id = $1", {credit::stream_id(customer)});
            const int64_t in_snapshot = snap.empty() ? 0 : credit::from_snapshot(customer, snap[0].bytes(0)).balance_minor;
            if (in_snapshot != balance) {
                std::printf("snapshot credit-%s: cached %lld, ledger %lld\n", customer.c_str(),
                            static_cast<long long>(in_snapshot), static_cast<long long>(balance));
                ++mismatches;
            }
        }
    });
    if (!r) return 2;
    auto o = pool.transact([&](sql::Tx& tx) {
        mismatches += reconcile_orders(tx, orders, coupon_uses);
        mismatches += reconcile_loyalty(tx, loyalty_truths);
        mismatches += reconcile_passports(tx, passport_orders);
        mismatches += reconcile_affiliates(tx, conversions, payouts, ledger);
    });
    if (!o) return 2;
    std::printf("reconciled %zu orders and %zu coupons\n", orders.size(), coupon_uses.size());
    std::printf("reconciled %zu ledger accounts: %s\n", ledger.size(),
                mismatches ? "DISCREPANCIES FOUND (the ledger wins)" : "every cache agrees with the ledger");
    return mismatches ? 1 : 0;
}

int dump(sql::Pool& pool, int64_t after, int64_t limit) {
    std::vector<v1::EventEnvelope> page;
    auto r = pool.transact([&](sql::Tx& tx) { page = journal::read_after(tx, after, limit); });
    if (!r) return 2;
    for (const auto& e : page) std::printf("%s\n", events::envelope_to_json(e).c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: tally-replay verify [--public-key FILE] | reconcile | dump [--after POSITION] [--limit N]"
                     " | audit --brokers B [--topic T] [--pg URL]\n";
        return 2;
    }
    Config cfg;
    try {
        cfg = config_from_env();
    } catch (const std::exception& e) {
        std::cerr << e.what() << "\n";
        return 2;
    }
    const std::string verb = argv[1];
    if (verb == "audit") {  // from Kafka; the database only when asked
        replay::AuditOptions o;
        for (int i = 2; i < argc; ++i) {
            const std::string k = argv[i];
            if (i + 1 >= argc) {
                std::cerr << k << " needs a value\n";
                return 2;
            }
            if (k == "--brokers") o.brokers = argv[++i];
            else if (k == "--topic") o.topic = argv[++i];
            else if (k == "--pg") o.pg_url = argv[++i];
            else {
                std::cerr << "unknown option " << k << " (audit --brokers B [--topic T] [--pg URL])\n";
                return 2;
            }
        }
        if (o.brokers.empty()) {
            std::cerr << "audit needs --brokers\n";
            return 2;
        }
        return replay::audit(o);
    }
    if (cfg.pg_url.empty()) cfg.pg_url = "postgresql://tally@127.0.0.1:" + std::to_string(cfg.pg_port) + "/postgres";
    sql::Pool pool(cfg.pg_url, 2);
    if (verb == "verify") {
        std::string public_keys;
        for (int i = 2; i + 1 < argc; i += 2)
            if (std::string(argv[i]) == "--public-key") public_keys = argv[i + 1];
        return verify(pool, public_keys);
    }
    if (verb == "reconcile") return reconcile(pool);
    if (verb == "dump") {
        int64_t after = 0, limit = 1000;
        for (int i = 2; i + 1 < argc; i += 2) {
            const std::string k = argv[i];
            if (k == "--after") after = std::stoll(argv[i + 1]);
            else if (k == "--limit") limit = std::stoll(argv[i + 1]);
        }
        return dump(pool, after, limit);
    }
    std::cerr << "unknown verb " << verb << "\n";
    return 2;
}
