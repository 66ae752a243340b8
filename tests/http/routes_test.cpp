// The route table: its shape, its matching, and README.md kept equal to it.

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "domain/principal.h"
#include "http/api.h"
#include "http/routes.h"

namespace tally::http {
namespace {

std::vector<std::string> parts_of(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream in(path.substr(1));
    for (std::string seg; std::getline(in, seg, '/');) parts.push_back(seg);
    if (!path.empty() && path.back() == '/') parts.emplace_back();
    return parts;
}

std::string readme() {
    std::ifstream in(std::string(TALLY_SOURCE_DIR) + "/README.md");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string normal(std::string pattern) { return std::regex_replace(pattern, std::regex("\\{[^}]*\\}"), "{}"); }

TEST(Routes, EachRouteIsWellFormedAndUnique) {
    std::set<std::string> seen;
    for (const auto& r : Api::routes()) {
        const std::string name = std::string(r.method) + " " + std::string(r.pattern);
        EXPECT_TRUE(seen.insert(std::string(r.method) + " " + normal(std::string(r.pattern))).second) << name;
        EXPECT_NE(r.handler, nullptr) << name;
        EXPECT_TRUE(r.pattern.starts_with("/")) << name;
        for (auto role : r.roles) {
            EXPECT_TRUE(principal::is_role(role)) << name << ": " << role;
            if (r.roles != token_roles()) {
                EXPECT_NE(role, "employee") << name << ": employees pass by permission";
            }
        }
        for (auto p : r.permissions) EXPECT_TRUE(principal::is_permission(p)) << name << ": " << p;
        if (r.gate == Gate::open || r.gate == Gate::signature) {
            EXPECT_TRUE(r.roles.empty() && r.permissions.empty()) << name << ": nobody's role is checked";
        } else {
            EXPECT_FALSE(r.roles.empty() && r.permissions.empty()) << name << ": nobody could call it";
        }
    }
}

TEST(Routes, TheMostSpecificPatternWinsAndAWrongMethodListsTheRightOnes) {
    const auto& table = Api::routes();
    std::string allowed;
    const Route* r = find_route(table, "PUT", parts_of("/v1/affiliates/payout-schedule"), &allowed);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->pattern, "/v1/affiliates/payout-schedule");
    r = find_route(table, "GET", parts_of("/v1/affiliates/aff-1"), &allowed);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->pattern, "/v1/affiliates/{affiliate}");
    // The literal segment shadows the parameter: no POST there, and the Allow header says
    // what there is.
    EXPECT_EQ(find_route(table, "POST", parts_of("/v1/affiliates/payout-schedule"), &allowed), nullptr);
    EXPECT_EQ(allowed, "PUT, GET");
    EXPECT_EQ(find_route(table, "DELETE", parts_of("/v1/customers/c1/credit"), &allowed), nullptr);
    EXPECT_EQ(allowed, "GET");
    EXPECT_EQ(find_route(table, "GET", parts_of("/v1/customers//credit"), &allowed), nullptr);
    EXPECT_EQ(allowed, "") << "an empty segment is no id";
    EXPECT_EQ(find_route(table, "GET", parts_of("/v1/customers/c1/credit/extra"), &allowed), nullptr);
    EXPECT_EQ(allowed, "");
    EXPECT_EQ(route_pattern("GET", "/v1/customers/c1/credit?limit=3"), "/v1/customers/{customer}/credit");
    EXPECT_EQ(route_pattern("PATCH", "/v1/customers/c1/credit"), "/v1/customers/{customer}/credit");
    EXPECT_EQ(route_pattern("GET", "/v1/nothing/here"), "other");
    ASSERT_NE(match_route("GET", "/v1/customers/c1/credit?limit=3"), nullptr);
    EXPECT_EQ(match_route("GET", "/v1/customers/c1/credit?limit=3")->pattern, "/v1/customers/{customer}/credit");
    EXPECT_EQ(match_route("PATCH", "/v1/customers/c1/credit"), nullptr);
}

TEST(Routes, TheFirstCheckAdmitsRolesAndEmployeesByPermission) {
    const auto& table = Api::routes();
    std::string allowed;
    const Route* grants = find_route(table, "GET", parts_of("/v1/customers/c1/credit"), &allowed);
    ASSERT_NE(grants, nullptr);
    EXPECT_TRUE(passes_first_check(*grants, "customer", {}));
    EXPECT_FALSE(passes_first_check(*grants, "vendor", {}));
    EXPECT_FALSE(passes_first_check(*grants, "employee", {}));
    EXPECT_TRUE(passes_first_check(*grants, "employee", {"credit.view"}));
    EXPECT_TRUE(passes_first_check(*grants, "employee", {"credit.manage"})) << ".manage implies .view";
    EXPECT_FALSE(passes_first_check(*grants, "employee", {"credits.view", "credit.viewer"}));
    // A vendor's token does not pass by permissions it cannot hold.
    EXPECT_FALSE(passes_first_check(*grants, "vendor", {"credit.view"}));
}

// README.md's access table is the generated one, and its route descriptions name every
// route and nothing else.
TEST(Routes, TheReadmeHoldsTheGeneratedTableAndDescribesEveryRoute) {
    const std::string text = readme();
    const auto begin = text.find("<!-- routes:begin -->\n"), end = text.find("<!-- routes:end -->");
    ASSERT_NE(begin, std::string::npos);
    ASSERT_NE(end, std::string::npos);
    const std::string block = text.substr(begin + 22, end - begin - 22);
    EXPECT_EQ(block, access_table_markdown()) << "regenerate it: build/tools/tallyd --routes";

    const auto described_at = text.find("### What each route does");
    ASSERT_NE(described_at, std::string::npos);
    std::string rows;  // the description table's first column
    std::stringstream in(text.substr(described_at));
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("| `", 0) != 0) {
            if (!rows.empty() && line.empty()) break;
            continue;
        }
        rows += line.substr(0, line.find(" | ", 2)) + "\n";
    }
    const std::string described = normal(rows);
    for (const auto& r : Api::routes())
        EXPECT_NE(described.find(normal(std::string(r.pattern))), std::string::npos)
            << r.method << " " << r.pattern << " is not described in README.md";
    const std::regex path("/(v1/[A-Za-z0-9/{}_.-]*|healthz|readyz|metrics)");
    for (auto it = std::sregex_iterator(rows.begin(), rows.end(), path); it != std::sregex_iterator(); ++it) {
        std::string p = normal(it->str());
        while (p.size() > 1 && p.back() == '/') p.pop_back();
        bool known = false;
        for (const auto& r : Api::routes()) known = known || normal(std::string(r.pattern)) == p;
        EXPECT_TRUE(known) << "README.md describes " << it->str() << ", which no route serves";
    }
}

// README.md lists each department preset as the code holds it.
TEST(Routes, TheReadmeListsEachPresetAsTheCodeHoldsIt) {
    const std::string text = readme();
    for (const auto& p : principal::presets()) {
        std::string row = "| " + std::string(p.name) + " | `" + std::string(p.key) + "` | ";
        for (size_t i = 0; i < p.permissions.size(); ++i) row += (i ? ", `" : "`") + std::string(p.permissions[i]) + "`";
        EXPECT_NE(text.find(row + " |\n"), std::string::npos) << "README.md lacks: " << row;
    }
}

}  // namespace
}  // namespace tally::http
