// Principals' rules: presets as data, what a record may hold, who may set it, and when a
// change revokes every earlier token.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "domain/principal.h"

namespace tally::principal {
namespace {

v1::PrincipalRecord record(const std::string& id, const std::string& role, std::vector<std::string> permissions = {},
                           bool active = true, int64_t session_version = 1) {
    v1::PrincipalRecord r;
    r.set_principal_id(id);
    r.set_role(role);
    for (auto& p : permissions) r.add_permissions(p);
    r.set_active(active);
    r.set_session_version(session_version);
    return r;
}

TEST(Principal, TheSevenPresetsAreKnownPermissionsAndOperationsHoldsNoFinancialOne) {
    std::set<std::string> names;
    for (const auto& p : presets()) {
        names.insert(std::string(p.name));
        EXPECT_FALSE(p.permissions.empty()) << p.name;
        for (auto perm : p.permissions) EXPECT_TRUE(is_permission(perm)) << p.name << ": " << perm;
        EXPECT_EQ(find_preset(p.key), &p);
    }
    EXPECT_EQ(names, (std::set<std::string>{"Developer", "Marketing", "Accounting", "Social Media", "Customer Support",
                                            "Operations", "Content"}));
    const Preset* ops = find_preset("operations");
    ASSERT_NE(ops, nullptr);
    for (auto perm : ops->permissions) EXPECT_FALSE(is_financial(perm)) << perm;
    // It sees everything else: every .view (or .manage) that is not financial.
    for (auto perm : permissions()) {
        if (is_financial(perm) || !perm.ends_with(".view") || perm == "staff.view") continue;
        std::vector<std::string> held(ops->permissions.begin(), ops->permissions.end());
        EXPECT_TRUE(holds(held, perm)) << "Operations cannot see " << perm;
    }
    // Money settings are Accounting's.
    const Preset* accounting = find_preset("accounting");
    ASSERT_NE(accounting, nullptr);
    std::vector<std::string> held(accounting->permissions.begin(), accounting->permissions.end());
    EXPECT_TRUE(holds(held, "finance.manage"));
    EXPECT_TRUE(holds(held, "payouts.manage"));
}

TEST(Principal, ARecordHoldsOneKnownRoleAndOnlyEmployeesHoldPermissions) {
    EXPECT_FALSE(check_record(record("a", "admin")));
    EXPECT_EQ(check_record(record("a", "root"))->field, "role");
    EXPECT_EQ(check_record(record("a", "system"))->field, "role") << "the system's principals are not set over the API";
    EXPECT_EQ(check_record(record("a", "vendor", {"catalog.manage"}))->field, "permissions");
    EXPECT_EQ(check_record(record("a", "employee", {"catalog.fly"}))->code, "unknown_permission");
    EXPECT_EQ(check_record(record("a", "employee", {"orders.view", "orders.view"}))->field, "permissions");
    auto preset = record("a", "employee", {"catalog.manage"});
    preset.set_preset("content");
    EXPECT_FALSE(check_record(preset));
    preset.add_permissions("orders.view");
    EXPECT_EQ(check_record(preset)->field, "permissions") << "a preset's permissions are its own";
    preset.set_preset("sales");
    EXPECT_EQ(check_record(preset)->code, "unknown_preset");
    auto mail = record("a", "customer");
    mail.set_email("not an address");
    EXPECT_EQ(check_record(mail)->field, "email");
    mail.set_email("ama@example.com");
    mail.set_display_name(std::string("Ama\x01", 4));
    EXPECT_EQ(check_record(mail)->field, "display_name");
}

TEST(Principal, AnEmployeeManagesOnlyWhatItCouldHaveGranted) {
    const std::vector<std::string> hr{"staff.manage", "orders.manage", "customers.view"};
    const auto clerk = record("e1", "employee", {"orders.view"});
    EXPECT_FALSE(may_set("employee", hr, nullptr, clerk));
    EXPECT_FALSE(may_set("employee", hr, nullptr, record("c1", "customer")));
    EXPECT_EQ(may_set("employee", hr, nullptr, record("e2", "employee", {"finance.manage"}))->code, "permission_not_held");
    EXPECT_TRUE(may_set("employee", hr, nullptr, record("a2", "admin"))->forbidden);
    EXPECT_TRUE(may_set("employee", hr, nullptr, record("v2", "vendor"))->forbidden);
    // An admin, or an employee holding more, is out of reach: no disabling them either.
    auto admin = record("a1", "admin");
    auto disabled = admin;
    disabled.set_active(false);
    EXPECT_TRUE(may_set("employee", hr, &admin, disabled)->forbidden);
    EXPECT_TRUE(may_revoke("employee", hr, admin)->forbidden);
    EXPECT_TRUE(may_revoke("employee", hr, record("e3", "employee", {"finance.view"}))->forbidden);
    EXPECT_FALSE(may_revoke("employee", hr, clerk));
    // Without staff.manage, nothing.
    EXPECT_TRUE(may_set("employee", {"orders.manage"}, nullptr, clerk)->forbidden);
    EXPECT_TRUE(may_set("customer", {}, nullptr, clerk)->forbidden);
    EXPECT_FALSE(may_set("admin", {}, &admin, disabled));
    EXPECT_FALSE(may_set("system", {}, nullptr, admin));
}

// Over random holdings: an employee's change is accepted exactly when every permission it
// grants is one it holds (and the change stays within employees and customers).
RC_GTEST_PROP(Principal, AnEmployeeNeverGrantsMoreThanItHolds, ()) {
    const auto& all = permissions();
    auto pick = [&](const std::vector<bool>& take) {
        std::vector<std::string> out;
        for (size_t i = 0; i < all.size(); ++i)
            if (take[i]) out.emplace_back(all[i]);
        return out;
    };
    auto actor = pick(*rc::gen::container<std::vector<bool>>(all.size(), rc::gen::arbitrary<bool>()));
    actor.emplace_back("staff.manage");
    const auto wanted = pick(*rc::gen::container<std::vector<bool>>(all.size(), rc::gen::arbitrary<bool>()));
    const auto target = record("e", "employee", wanted);
    const bool subset = std::all_of(wanted.begin(), wanted.end(), [&](const std::string& p) { return holds(actor, p); });
    RC_ASSERT(!may_set("employee", actor, nullptr, target) == subset);
    // Granting nothing new to someone it reaches is always allowed; reaching is the same rule.
    RC_ASSERT(!may_revoke("employee", actor, target) == subset);
}

TEST(Principal, ANewRoleOrADisableBumpsTheSessionVersionAndNothingElseDoes) {
    bool revoked = true;
    auto fresh = next_record(nullptr, record("e", "employee", {"orders.view", "catalog.view"}, true, 0), 1000, revoked);
    EXPECT_FALSE(revoked);
    EXPECT_EQ(fresh.session_version(), 1);
    EXPECT_EQ(fresh.sessions_since_unix_s(), 0) << "a new principal has revoked nothing";
    EXPECT_EQ(fresh.permissions(0), "catalog.view") << "kept sorted";
    auto same = next_record(&fresh, record("e", "employee", {"orders.manage"}), 2000, revoked);
    EXPECT_FALSE(revoked) << "permissions are re-read on every request; tokens need not go";
    EXPECT_EQ(same.session_version(), 1);
    EXPECT_EQ(same.sessions_since_unix_s(), 0);
    auto promoted = next_record(&same, record("e", "admin"), 3000, revoked);
    EXPECT_TRUE(revoked);
    EXPECT_EQ(promoted.session_version(), 2);
    EXPECT_EQ(promoted.sessions_since_unix_s(), 3001) << "an identity provider's tokens issued up to now go too";
    auto off = next_record(&promoted, record("e", "admin", {}, false), 4000, revoked);
    EXPECT_TRUE(revoked);
    EXPECT_EQ(off.session_version(), 3);
    auto still_off = next_record(&off, record("e", "admin", {}, false), 5000, revoked);
    EXPECT_FALSE(revoked);
    EXPECT_EQ(still_off.session_version(), 3);
    EXPECT_EQ(still_off.sessions_since_unix_s(), 4001) << "kept from the last revocation";
    revoke_sessions(still_off, 6000);
    EXPECT_EQ(still_off.session_version(), 4);
    EXPECT_EQ(still_off.sessions_since_unix_s(), 6001);
}

}  // namespace
}  // namespace tally::principal
