// tally-replay reconcile against every cache: a mixed workload reconciles clean; a hand
// edit to one row of each cache is named in the drift report (cache, key, field, both
// values, the explaining position); --repair rebuilds the drifting projections and records
// each repair as the operator's act; a drifting snapshot refuses the repair; a repair
// killed at any moment leaves the live tables old or new, and a rerun completes.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "tally/v1/operator.pb.h"
#include "http/client.h"
#include "tests/support/affiliate_shop.h"
#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;
using testing::AffiliateShop;

// The mixed workload: credit granted and spent, referred orders paid, one refunded in part.
struct Workload {
    std::string paid, refunded;
};

Workload run_workload(AffiliateShop& shop) {
    Workload w;
    EXPECT_EQ(shop.send("PUT", "/v1/affiliates/aff-1", shop.affiliate("COFFEE10"), shop.admin).status, 200);
    EXPECT_EQ(shop.send("PUT", "/v1/coupons/SPRING", {{"kind", "FIXED"}, {"fixed_minor", 100}, {"scope", "SITE"}}, shop.admin)
                  .status,
              200);
    EXPECT_EQ(shop.send("POST", "/v1/customers/cus-1/credit-grants",
                        {{"amount_minor", 1500}, {"currency", "USD"}, {"reason", "goodwill"}}, shop.admin)
                  .status,
              201);
    const auto cus1 = testing::token_for(shop.url, "cus-1", "customer");
    const auto cus2 = testing::token_for(shop.url, "cus-2", "customer");
    w.paid = shop.buy(cus1, shop.visit("COFFEE10"), "", 4500);
    shop.pay(w.paid);
    w.refunded = shop.buy(cus2, shop.visit("COFFEE10"));
    shop.pay(w.refunded);
    auto r = shop.send("POST", "/v1/orders/" + w.refunded + "/refunds",
                       {{"amount_minor", 2000}, {"destination", "card"}, {"reason", "chipped"}}, shop.admin);
    EXPECT_EQ(r.status, 200) << r.body;
    // The provider confirms the refund in the background: wait for it, so that nothing
    // lands on the orders after the test has settled.
    EXPECT_TRUE(testing::eventually([&] {
        return shop.number("SELECT count(*) FROM journal WHERE type = 'RefundConfirmed' AND stream_id = 'order-" + w.refunded +
                           "'") == 1;
    }));
    return w;
}

struct Run {
    int status;
    std::string out;
};

Run replay(const std::string& url, const std::vector<std::string>& args) {
    Run r;
    r.status = testing::run_replay(url, args, r.out);
    return r;
}

// The JSON drift report in the tool's output (the line starting with '{').
json drift_report(const std::string& out) {
    size_t at = 0;
    while (at < out.size()) {
        size_t end = out.find('\n', at);
        if (end == std::string::npos) end = out.size();
        if (out[at] == '{') return json::parse(out.substr(at, end - at), nullptr, false);
        at = end + 1;
    }
    return json();
}

// Waits until every projector has caught up and the log reconciles clean.
void settle(AffiliateShop& shop) {
    Run r;
    ASSERT_TRUE(testing::eventually([&] {
        r = replay(shop.url, {"reconcile"});
        return r.status == 0 && r.out.find("pending") == std::string::npos;
    })) << r.out;
}

bool has_drift(const json& report, const std::string& cache, const std::string& key_part, const std::string& field) {
    for (const auto& d : report["drift"])
        if (d["cache"] == cache && d["key"].get<std::string>().find(key_part) != std::string::npos && d["field"] == field &&
            d["position"].get<int64_t>() > 0)
            return true;
    return false;
}

}  // namespace

TEST(ReconcileE2E, EveryCachesHandEditIsNamedAndRepairIsRecordedAsTheOperatorsAct) {
    AffiliateShop shop;
    const Workload w = run_workload(shop);
    settle(shop);
    auto clean = replay(shop.url, {"reconcile", "--json"});
    ASSERT_EQ(clean.status, 0) << clean.out;
    const json before = drift_report(clean.out);
    ASSERT_TRUE(before.is_object()) << clean.out;
    EXPECT_EQ(before["clean"], true);
    std::map<std::string, int64_t> checked;
    for (const auto& c : before["caches"]) checked[c["cache"]] = c["checked"];
    for (const char* cache : {"snapshots", "credit_balances", "credit_entries", "ledger_accounts", "vendor_payables", "orders",
                              "sub_orders", "loyalty_standings", "passport_counts", "affiliate_conversions",
                              "affiliate_balances", "catalog_stock", "catalog_coupons"})
        EXPECT_GT(checked[cache], 0) << cache << " was not compared: " << clean.out;

    // One hand edit per cache.
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE credit_balances SET balance_minor = balance_minor + 1 WHERE customer_id = 'cus-1'");
        tx.exec("UPDATE credit_entries SET amount_minor = amount_minor + 7 WHERE customer_id = 'cus-1' AND kind = 'grant'");
        tx.exec("UPDATE ledger_accounts SET debit_minor = debit_minor + 1 WHERE account = 'processor_clearing'");
        tx.exec("UPDATE ledger_accounts SET credit_minor = credit_minor + 3 WHERE account = 'vendor_payable:ana'");
        tx.exec("UPDATE orders SET total_minor = total_minor + 1 WHERE order_id = $1", {w.paid});
        tx.exec("UPDATE sub_orders SET payable_minor = payable_minor - 1 WHERE order_id = $1", {w.paid});
        tx.exec("UPDATE loyalty_standings SET spend_minor = spend_minor + 5 WHERE customer_id = 'cus-2'");
        tx.exec("UPDATE passport_counts SET countries = countries + 4 WHERE customer_id = 'cus-1'");
        tx.exec("UPDATE passport_stamps SET units = units + 2 WHERE customer_id = 'cus-2'");
        tx.exec("INSERT INTO loyalty_history (customer_id, position, event_id, currency, from_tier, to_tier, reason,"
                " spend_minor, program_version, occurred_at_unix_ms) VALUES ('cus-1', 999999, 'forged', 'USD', 'bronze',"
                " 'gold', 'forged', 1, 1, 0)");
        tx.exec("UPDATE affiliate_conversions SET commission_minor = 1 WHERE order_id = $1", {w.refunded});
        tx.exec("UPDATE catalog_stock SET available = available + 9 WHERE sku = 'lamp'");
        tx.exec("UPDATE catalog_coupons SET uses_total = 2 WHERE code = 'SPRING'");
        // Rows the log never wrote: an order nobody placed, a sub-order of a vendor not in it.
        tx.exec("CREATE TEMP TABLE forged ON COMMIT DROP AS SELECT * FROM orders WHERE order_id = $1", {w.paid});
        tx.exec("UPDATE forged SET order_id = 'ord-forged'");
        tx.exec("INSERT INTO orders SELECT * FROM forged");
        tx.exec("CREATE TEMP TABLE forged_sub ON COMMIT DROP AS SELECT * FROM sub_orders WHERE order_id = $1", {w.refunded});
        tx.exec("UPDATE forged_sub SET vendor_id = 'nobody'");
        tx.exec("INSERT INTO sub_orders SELECT * FROM forged_sub");
    }));
    auto drifted = replay(shop.url, {"reconcile", "--json"});
    EXPECT_EQ(drifted.status, 1) << drifted.out;
    const json report = drift_report(drifted.out);
    ASSERT_TRUE(report.is_object()) << drifted.out;
    EXPECT_EQ(report["clean"], false);
    EXPECT_TRUE(has_drift(report, "credit_balances", "cus-1", "balance_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "credit_entries", "cus-1", "entry")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "ledger_accounts", "processor_clearing", "debit_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "vendor_payables", "vendor_payable:ana", "credit_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "orders", w.paid, "total_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "sub_orders", w.paid + "/ana", "payable_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "loyalty_standings", "cus-2", "spend_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "passport_counts", "cus-1", "countries [badges]")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "passport_stamps", "cus-2", "units/orders/first/products")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "affiliate_conversions", w.refunded, "commission_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "affiliate_balances", "aff-1", "payable_minor")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "catalog_stock", "lamp", "available")) << report.dump(1);
    EXPECT_TRUE(has_drift(report, "catalog_coupons", "SPRING", "uses_total")) << report.dump(1);
    bool forged_order = false, forged_sub = false, forged_tier_change = false;
    for (const auto& d : report["drift"]) {
        if (d["cache"] == "loyalty_history" && d["key"] == "cus-1") forged_tier_change = true;
        if (d["cache"] == "orders" && d["key"] == "ord-forged" && d["log"] == "(none)") forged_order = true;
        if (d["cache"] == "sub_orders" && d["key"] == w.refunded + "/nobody" && d["log"] == "(none)") forged_sub = true;
    }
    EXPECT_TRUE(forged_order) << report.dump(1);
    EXPECT_TRUE(forged_sub) << report.dump(1);
    EXPECT_TRUE(forged_tier_change) << report.dump(1);
    // The values: cached and as the log has them; the position is an event that explains it.
    for (const auto& d : report["drift"])
        if (d["cache"] == "orders" && d["key"] == w.paid) {
            EXPECT_EQ(d["cached"], "4501");
            EXPECT_EQ(d["log"], "4500");
            EXPECT_GT(shop.number("SELECT count(*) FROM journal WHERE position = " + std::to_string(d["position"].get<int64_t>()) +
                                  " AND stream_id = 'order-" + w.paid + "'"),
                      0);
        }
    // The human report says the same, with a summary per cache.
    auto text = replay(shop.url, {"reconcile"});
    EXPECT_EQ(text.status, 1);
    EXPECT_NE(text.out.find("orders " + w.paid + " total_minor: cached 4501, log 4500 (position "), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("  orders: 3 checked, 2 DRIFTING"), std::string::npos) << text.out;  // the edit and the forged row

    // Repair: bad invocations first.
    EXPECT_EQ(replay(shop.url, {"reconcile", "--repair"}).status, 2);
    auto unknown = replay(shop.url, {"reconcile", "--repair", "--operator", "nobody"});
    EXPECT_EQ(unknown.status, 2) << unknown.out;
    EXPECT_NE(unknown.out.find("--operator nobody: no such principal"), std::string::npos) << unknown.out;
    auto customer = replay(shop.url, {"reconcile", "--repair", "--operator", "cus-1"});
    EXPECT_EQ(customer.status, 2) << customer.out;
    EXPECT_NE(customer.out.find("--operator cus-1: only admins repair"), std::string::npos) << customer.out;
    // Refused operators repaired nothing: every drift is still there.
    EXPECT_EQ(drift_report(replay(shop.url, {"reconcile", "--json"}).out)["drift"].size(), report["drift"].size());
    const int64_t acts_before = shop.number("SELECT count(*) FROM journal WHERE type = 'ProjectionRebuilt'");
    auto repaired = replay(shop.url, {"reconcile", "--repair", "--operator", "admin-1", "--reason", "night audit"});
    EXPECT_EQ(repaired.status, 0) << repaired.out;
    EXPECT_NE(repaired.out.find("after the repair:"), std::string::npos) << repaired.out;
    // Each drifting projection rebuilt once, recorded as admin-1's act with the drift it fixed.
    std::set<std::string> rebuilt;
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT payload, actor FROM journal WHERE type = 'ProjectionRebuilt' ORDER BY position")) {
            v1::ProjectionRebuilt act;
            ASSERT_TRUE(act.ParseFromString(row.bytes(0)));
            EXPECT_EQ(row.str(1), "admin-1");
            EXPECT_EQ(act.operator_id(), "admin-1");
            EXPECT_EQ(act.reason(), "night audit");
            EXPECT_FALSE(act.drift().empty()) << act.projector();
            EXPECT_GT(act.events_replayed(), 0);
            rebuilt.insert(act.projector());
        }
    }));
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProjectionRebuilt'") - acts_before, 7);
    EXPECT_EQ(rebuilt, (std::set<std::string>{"affiliates", "catalog", "credit", "ledger", "loyalty", "orders", "passport"}));
    // The live projectors carry on after the repair: new work reconciles clean.
    shop.pay(shop.buy(testing::token_for(shop.url, "cus-3", "customer")));
    settle(shop);
    EXPECT_EQ(shop.number("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_rebuild' OR tablename LIKE '%\\_retired'"), 0);
}

TEST(ReconcileE2E, ADriftingSnapshotIsReportedLoudlyAndRefusesTheRepair) {
    AffiliateShop shop;
    run_workload(shop);
    ASSERT_EQ(shop.send("POST", "/v1/customers/cus-9/credit-grants",
                        {{"amount_minor", 700}, {"currency", "USD"}, {"reason", "goodwill"}}, shop.admin)
                  .status,
              201);
    settle(shop);
    // The snapshot of cus-1's credit takes cus-9's state: the write path would price from it.
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE snapshots SET state = (SELECT state FROM snapshots WHERE stream_id = 'credit-cus-9')"
                " WHERE stream_id = 'credit-cus-1'");
        tx.exec("UPDATE orders SET status = 'cancelled' WHERE customer_id = 'cus-2'");
    }));
    EXPECT_EQ(shop.number("SELECT count(*) FROM orders WHERE status = 'cancelled'"), 1);
    auto r = replay(shop.url, {"reconcile", "--json"});
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_EQ(shop.number("SELECT count(*) FROM orders WHERE status = 'cancelled'"), 1);
    const json report = drift_report(r.out);
    ASSERT_TRUE(report.is_object()) << r.out;
    bool named = false;
    for (const auto& d : report["drift"])
        if (d["cache"] == "snapshots" && d["key"] == "credit-cus-1" && d["field"] == "balance_minor") {
            EXPECT_EQ(d["cached"], "700");
            EXPECT_EQ(d["log"], "0");  // cus-1's 1500 went into the first order
            named = true;
        }
    EXPECT_TRUE(named) << report.dump(1);
    auto refused = replay(shop.url, {"reconcile", "--repair", "--operator", "admin-1"});
    EXPECT_EQ(refused.status, 1) << refused.out;
    EXPECT_NE(refused.out.find("REFUSED: 1 snapshots disagree with their streams"), std::string::npos) << refused.out;
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProjectionRebuilt'"), 0);
    // Nothing was rebuilt: the order edit is still there for the investigation.
    EXPECT_EQ(shop.number("SELECT count(*) FROM orders WHERE status = 'cancelled'"), 1);
}

// The principals table authorizes every request: an employee defined, changed and revoked
// through the API reconciles clean; a role granted and a revocation undone by hand are
// named against the fold of the principal's stream, and the repair is refused. So is a
// principal's snapshot edited to match.
TEST(ReconcileE2E, APrincipalEditedBehindTheLogIsNamedAndRefusesTheRepair) {
    testing::Shop shop;
    ASSERT_EQ(shop.send("PUT", "/v1/principals/ops-7", {{"role", "employee"}, {"preset", "content"}, {"email", "o@example.com"}},
                        shop.admin)
                  .status,
              201);
    ASSERT_EQ(shop.send("PUT", "/v1/principals/ops-7", {{"role", "employee"}, {"permissions", json::array({"orders.view"})}},
                        shop.admin)
                  .status,
              200);
    auto revoked = shop.send("POST", "/v1/principals/ops-7/revoke", {{"reason", "laptop lost"}}, shop.admin);
    ASSERT_EQ(revoked.status, 200) << revoked.body;
    ASSERT_EQ(shop.send("PUT", "/v1/principals/cus-8", {{"role", "customer"}}, shop.admin).status, 201);
    auto r = replay(shop.url, {"reconcile", "--json"});
    ASSERT_EQ(r.status, 0) << r.out;
    json report = drift_report(r.out);
    int64_t principals_checked = -1;
    for (const auto& c : report["caches"])
        if (c["cache"] == "principals") principals_checked = c["checked"];
    EXPECT_EQ(principals_checked, 2) << r.out;  // ops-7 and cus-8; not admin-1, which has no stream

    const int64_t version = shop.number("SELECT session_version FROM principals WHERE id = 'ops-7'");
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE principals SET role = 'admin' WHERE id = 'cus-8'");
        tx.exec("UPDATE principals SET session_version = session_version - 1, sessions_since = 0 WHERE id = 'ops-7'");
    }));
    r = replay(shop.url, {"reconcile", "--json"});
    EXPECT_EQ(r.status, 1) << r.out;
    report = drift_report(r.out);
    std::map<std::string, json> named;
    for (const auto& d : report["drift"])
        if (d["cache"] == "principals") named[d["key"].get<std::string>() + " " + d["field"].get<std::string>()] = d;
    ASSERT_TRUE(named.contains("cus-8 role")) << report.dump(1);
    EXPECT_EQ(named["cus-8 role"]["cached"], "admin");
    EXPECT_EQ(named["cus-8 role"]["log"], "customer");
    ASSERT_TRUE(named.contains("ops-7 session_version")) << report.dump(1);
    EXPECT_EQ(named["ops-7 session_version"]["log"], std::to_string(version));
    EXPECT_TRUE(named.contains("ops-7 sessions_since")) << report.dump(1);
    EXPECT_EQ(named.size(), 3u) << report.dump(1);
    auto refused = replay(shop.url, {"reconcile", "--repair", "--operator", "admin-1"});
    EXPECT_EQ(refused.status, 1) << refused.out;
    EXPECT_NE(refused.out.find("REFUSED: 3 principal values disagree with their streams"), std::string::npos) << refused.out;
    EXPECT_EQ(shop.number("SELECT count(*) FROM journal WHERE type = 'ProjectionRebuilt'"), 0);

    // Setting the principals again through the API writes their rows from the record.
    ASSERT_EQ(shop.send("PUT", "/v1/principals/cus-8", {{"role", "customer"}}, shop.admin).status, 200);
    ASSERT_EQ(shop.send("POST", "/v1/principals/ops-7/revoke", {{"reason", "reset"}}, shop.admin).status, 200);
    r = replay(shop.url, {"reconcile"});
    EXPECT_EQ(r.status, 0) << r.out;

    // The snapshot edited to agree with a forged row: the fold of the stream names it.
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE principals SET role = 'admin' WHERE id = 'cus-8'");
        tx.exec("UPDATE snapshots SET state = (SELECT state FROM snapshots WHERE stream_id = 'principal-ops-7')"
                " WHERE stream_id = 'principal-cus-8'");
    }));
    r = replay(shop.url, {"reconcile", "--json"});
    EXPECT_EQ(r.status, 1) << r.out;
    report = drift_report(r.out);
    bool snapshot_named = false;
    for (const auto& d : report["drift"])
        if (d["cache"] == "snapshots" && d["key"] == "principal-cus-8") snapshot_named = true;
    EXPECT_TRUE(snapshot_named) << report.dump(1);
}

// SIGKILL at a range of moments during --repair: each time the live tables are the old ones
// (the drift still there, exactly) or the new ones (clean), never half, and no swap is left
// behind; a rerun completes.
TEST(ReconcileE2E, ARepairKilledAtAnyMomentLeavesTheLiveTablesOldOrNewAndARerunCompletes) {
    AffiliateShop shop;
    run_workload(shop);
    // A longer journal, so that the kills land inside the replay as well.
    // Each thread on its own connection (the shop's client is not shared across threads).
    const auto grants = [&](int from, int n) {
        http::Client client("127.0.0.1", shop.tallyd.port());
        for (int i = from; i < from + n; ++i)
            ASSERT_EQ(client
                          .request("POST", "/v1/customers/bulk-" + std::to_string(i % 50) + "/credit-grants",
                                   json{{"amount_minor", 100}, {"currency", "USD"}, {"reason", "bulk"}}.dump(),
                                   {{"Authorization", "Bearer " + shop.admin}, {"Idempotency-Key", "bulk-" + std::to_string(i)}})
                          .status,
                      201);
    };
    std::thread t1(grants, 0, 750), t2(grants, 750, 750);
    t1.join();
    t2.join();
    settle(shop);
    int old_tables = 0, new_tables = 0;
    for (int delay_ms : {0, 20, 60, 120, 250, 400, 700}) {
        ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
            tx.exec("UPDATE credit_balances SET balance_minor = balance_minor + 1 WHERE customer_id = 'bulk-7'");
        }));
        char tmpl[] = "/tmp/tally-repair-XXXXXX";
        const std::string dir = ::mkdtemp(tmpl);
        testing::Process p;
        p.start(testing::binary_dir() + "/tools/tally-replay", {"reconcile", "--repair", "--operator", "admin-1"},
                {{"TALLY_PG_URL", shop.url}}, dir + "/out.log");
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        p.signal(SIGKILL);
        p.wait();
        auto after = replay(shop.url, {"reconcile", "--json"});
        const json report = drift_report(after.out);
        ASSERT_TRUE(report.is_object()) << after.out;
        if (after.status == 0) {
            ++new_tables;
        } else {
            ASSERT_EQ(after.status, 1) << after.out;
            ASSERT_EQ(report["drift"].size(), 1u) << report.dump(1);
            EXPECT_EQ(report["drift"][0]["cache"], "credit_balances");
            EXPECT_EQ(report["drift"][0]["key"], "bulk-7");
            ++old_tables;
            // The rerun completes and repairs it.
            auto rerun = replay(shop.url, {"reconcile", "--repair", "--operator", "admin-1"});
            ASSERT_EQ(rerun.status, 0) << rerun.out;
        }
        EXPECT_EQ(shop.number("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_retired'"), 0);
        EXPECT_EQ(shop.number("SELECT count(*) FROM credit_entries"), shop.number("SELECT count(*) FROM journal WHERE type IN"
                                                                                 " ('CreditGranted', 'CreditSpent', 'CreditReturned')"));
    }
    std::printf("killed repairs: %d left the old tables, %d the new\n", old_tables, new_tables);
    EXPECT_GT(old_tables, 0);
    settle(shop);
}

}  // namespace tally

namespace tally {
namespace {

// The value of one metric line ("name{labels} value") in a /metrics page; -1 when absent.
double metric(const std::string& page, const std::string& series) {
    const size_t at = page.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(page.substr(at + series.size() + 2));
}

}  // namespace

// tallyd reconciles on its own every TALLY_RECONCILE_INTERVAL_S, incrementally, in one
// process at a time: the last report is served to auditors and admins, drift shows in the
// metrics, and when the owner dies the other process takes the job over.
TEST(ReconcileE2E, TallydReconcilesOnScheduleInOneProcessAndServesTheLastReport) {
    const std::map<std::string, std::string> env = {{"TALLY_RECONCILE_INTERVAL_S", "1"}};
    testing::Shop shop(env);
    testing::Tallyd second(shop.url, shop.broker.bootstraps(), env);
    second.start();
    const auto auditor = testing::token_for(shop.url, "aud-1", "auditor");
    const auto customer = testing::token_for(shop.url, "cus-1", "customer");
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(shop.send("POST", "/v1/customers/cus-" + std::to_string(i % 4) + "/credit-grants",
                            {{"amount_minor", 250}, {"currency", "USD"}, {"reason", "welcome"}}, shop.admin)
                      .status,
                  201);
    const int64_t head = shop.number("SELECT max(position) FROM journal");

    // Clean, up to the head, once the projectors have caught up.
    json last;
    ASSERT_TRUE(testing::eventually([&] {
        auto r = shop.get("/v1/reconcile/last", auditor);
        if (r.status != 200) return false;
        last = json::parse(r.body);
        return last["clean"] == true && last["position"].get<int64_t>() >= head &&
               std::all_of(last["caches"].begin(), last["caches"].end(), [](const json& c) { return c["pending"] == 0; });
    })) << last.dump(1);
    EXPECT_EQ(last["drifting"], 0);
    EXPECT_TRUE(last["drift"].empty());
    EXPECT_GT(last["finished_at_unix_ms"].get<int64_t>(), 0);
    for (const auto& c : last["caches"]) {
        if (c["cache"] == "credit_balances") {
            EXPECT_EQ(c["checked"], 4);
        }
    }
    EXPECT_EQ(shop.get("/v1/reconcile/last", shop.admin).status, 200);
    auto forbidden = shop.get("/v1/reconcile/last", customer);
    EXPECT_EQ(forbidden.status, 403) << forbidden.body;
    EXPECT_NE(forbidden.body.find("forbidden"), std::string::npos);
    EXPECT_EQ(shop.get("/v1/reconcile/last", "not-a-token").status, 401);

    // Incremental: later passes fold only what is new.
    const int64_t runs = shop.number("SELECT count(*) FROM reconcile_runs");
    ASSERT_TRUE(testing::eventually([&] { return shop.number("SELECT count(*) FROM reconcile_runs") > runs + 1; }));
    EXPECT_EQ(shop.number("SELECT events_folded FROM reconcile_runs ORDER BY id DESC LIMIT 1"), 0);
    EXPECT_GT(shop.number("SELECT max(events_folded) FROM reconcile_runs"), 0);

    // One process reconciles.
    EXPECT_EQ(shop.number("SELECT count(DISTINCT owner) FROM reconcile_runs"), 1);

    // A hand edit: named in the next report and in the metrics of the process that owns the job.
    ASSERT_TRUE(shop.pool.transact([&](sql::Tx& tx) {
        tx.exec("UPDATE credit_balances SET balance_minor = balance_minor + 9 WHERE customer_id = 'cus-2'");
    }));
    ASSERT_TRUE(testing::eventually([&] {
        auto r = shop.get("/v1/reconcile/last", auditor);
        if (r.status != 200) return false;
        last = json::parse(r.body);
        return last["clean"] == false;
    })) << last.dump(1);
    EXPECT_EQ(last["drifting"], 1);
    ASSERT_EQ(last["drift"].size(), 1u) << last.dump(1);
    EXPECT_EQ(last["drift"][0]["cache"], "credit_balances");
    EXPECT_NE(last["drift"][0]["key"].get<std::string>().find("cus-2"), std::string::npos);
    EXPECT_EQ(last["drift"][0]["cached"], "1259");
    EXPECT_EQ(last["drift"][0]["log"], "1250");
    double owner_drift = -1, other_drift = -1, owner_success = -1;
    ASSERT_TRUE(testing::eventually([&] {
        http::Client a("127.0.0.1", shop.tallyd.port()), b("127.0.0.1", second.port());
        const auto pa = a.request("GET", "/metrics", "", {}).body, pb = b.request("GET", "/metrics", "", {}).body;
        const double da = metric(pa, "tally_reconcile_drift{cache=\"credit_balances\"}");
        const double db = metric(pb, "tally_reconcile_drift{cache=\"credit_balances\"}");
        owner_drift = std::max(da, db);
        other_drift = std::min(da, db);
        owner_success = std::max(metric(pa, "tally_reconcile_last_success_timestamp_seconds"),
                                 metric(pb, "tally_reconcile_last_success_timestamp_seconds"));
        return owner_drift == 1;
    })) << owner_drift;
    EXPECT_EQ(other_drift, 0);  // the other process has not reconciled
    EXPECT_GT(owner_success, 1.7e9);

    // The owner dies: the other process takes the job over, starting from the beginning.
    const std::string owner = last["owner"];
    bool first_owns = false;
    {
        http::Client a("127.0.0.1", shop.tallyd.port());
        first_owns = metric(a.request("GET", "/metrics", "", {}).body, "tally_reconcile_drift{cache=\"credit_balances\"}") == 1;
    }
    if (first_owns)
        shop.tallyd.kill9();
    else
        second.kill9();
    ASSERT_TRUE(testing::eventually([&] {
        return shop.number("SELECT count(*) FROM reconcile_runs WHERE owner <> $1 AND drifting = 1 AND events_folded >= $2",
                           {owner, std::to_string(head)}) > 0;
    })) << "no takeover";
}

}  // namespace tally
