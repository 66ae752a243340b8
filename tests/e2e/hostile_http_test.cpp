// The hostile-input review (issue 9), finding by finding: each test is named after the
// finding it guards, against a real tallyd over real sockets. Raw sockets send what no
// well-behaved client would: broken request lines, invented methods, bytes that are not
// UTF-8, and framings a lenient proxy would read differently.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>

#include "http/auth.h"
#include "infra/sql.h"
#include "tests/support/shop.h"

namespace tally {
namespace {

using nlohmann::json;

// Sends `bytes` on a fresh connection and reads until the server closes it or `quiet`
// passes without a byte. What came back, and whether the server closed.
struct Raw {
    std::string received;
    bool closed = false;
};

Raw raw(int port, const std::string& bytes, std::chrono::milliseconds quiet = std::chrono::milliseconds(1500)) {
    Raw out;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return out;
    }
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
    }
    char buf[65536];
    while (true) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            out.closed = true;
            break;
        }
        out.received.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

std::vector<int> statuses(const std::string& received) {
    std::vector<int> out;
    static const std::regex status_line("HTTP/1\\.1 (\\d{3}) ");
    for (auto it = std::sregex_iterator(received.begin(), received.end(), status_line); it != std::sregex_iterator(); ++it)
        out.push_back(std::stoi((*it)[1]));
    return out;
}

struct Hostile : testing::Shop {
    bool healthy() { return client->request("GET", "/healthz").status == 200; }
    std::string metrics() { return client->request("GET", "/metrics").body; }
};

size_t lines_of(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

// Finding 1: a header or path byte that is not UTF-8 ended in the problem document and
// aborted the process (type_error.316), with no token needed.
TEST(HostileInput, Finding1_InvalidUtf8InHeadersAndPathsIsRefusedAndTheServerKeepsServing) {
    Hostile s;
    const int port = s.tallyd.port();
    for (const std::string& request : {
             std::string("GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"),
             std::string("GET /v1/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n"),
             std::string("GET /v1/nothing HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\xff\r\n\r\n"),
             std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: \xed\xa0\x80\r\n\r\n"),
             std::string("POST /v1/quote HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xfe\r\nContent-Length: 0\r\n\r\n"),
             std::string("GET /v1/orders HTTP/1.1\r\nHost: x\r\nX-Other: \x01\r\n\r\n"),
         }) {
        auto r = raw(port, request);
        auto got = statuses(r.received);
        ASSERT_EQ(got.size(), 1u) << request << "\n" << r.received;
        EXPECT_EQ(got[0], 400) << request;
        EXPECT_NE(r.received.find("application/problem+json"), std::string::npos);
        ASSERT_TRUE(s.healthy()) << "tallyd stopped answering after " << request;
    }
}

// Finding 1, second half: after such a crash the private PostgreSQL was left running, and
// a restarted tallyd reused it without ever stopping it.
TEST(HostileInput, Finding1_APrivatePostgresLeftByACrashIsTakenOverAndStoppedOnExit) {
    testing::Broker broker;
    const int pg_port = testing::free_port();
    const std::string pg_url = "postgresql://tally@127.0.0.1:" + std::to_string(pg_port) + "/postgres";
    testing::Tallyd tallyd("", broker.bootstraps(), {{"TALLY_PG_PORT", std::to_string(pg_port)}});
    tallyd.start();
    ASSERT_TRUE(sql::wait_until_ready(pg_url, std::chrono::milliseconds(0)));
    tallyd.kill9();  // as an abort would: no destructor runs
    ASSERT_TRUE(sql::wait_until_ready(pg_url, std::chrono::milliseconds(0))) << "the crash took PostgreSQL along";
    tallyd.start();
    EXPECT_NE(tallyd.log().find("taking over the private PostgreSQL"), std::string::npos) << tallyd.log();
    EXPECT_EQ(tallyd.stop(), 0) << tallyd.log();
    EXPECT_TRUE(testing::eventually([&] { return !sql::wait_until_ready(pg_url, std::chrono::milliseconds(0)); },
                                    std::chrono::seconds(30)))
        << "the taken-over PostgreSQL outlived tallyd";
    // A clean start after a clean stop starts its own cluster again, and stops it.
    tallyd.start();
    EXPECT_EQ(tallyd.log().find("taking over"), std::string::npos);
    EXPECT_EQ(tallyd.stop(), 0) << tallyd.log();
    EXPECT_TRUE(testing::eventually([&] { return !sql::wait_until_ready(pg_url, std::chrono::milliseconds(0)); },
                                    std::chrono::seconds(30)))
        << tallyd.log();
}

// Finding 2: every invented method token became a metrics label (8 MB after 2,000 requests).
TEST(HostileInput, Finding2_MetricsStayFlatUnderTenThousandRandomMethodsAndPaths) {
    Hostile s;
    const int port = s.tallyd.port();
    std::mt19937_64 rng(20261202);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    auto token = [&](size_t max) {
        std::string t;
        const size_t n = 1 + pick(max);
        for (size_t i = 0; i < n; ++i) t += static_cast<char>('A' + pick(26));
        return t;
    };
    const std::vector<std::string> known = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
    auto one = [&] {
        const bool invented = pick(2) == 0;
        const std::string method = invented ? token(pick(10) == 0 ? 4096 : 12) : known[pick(known.size())];
        std::string path;
        switch (pick(5)) {
            case 0: path = "/v1/" + token(20) + "/" + token(20); break;
            case 1: path = "/v1/orders/" + token(30); break;
            case 2: path = "/v1/customers/" + token(30) + "/credit?limit=" + token(5); break;
            case 3: path = "/" + token(40); break;
            default: path = "/v1/products/" + token(10) + "/" + token(10); break;
        }
        auto r = raw(port, method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     std::chrono::milliseconds(5000));
        return statuses(r.received);
    };
    (void)s.metrics();  // so that the scrape's own series exist before the comparison
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(one().size(), 1u);
    const std::string before = s.metrics();
    for (int i = 0; i < 8000; ++i) ASSERT_EQ(one().size(), 1u);
    const std::string after = s.metrics();
    EXPECT_EQ(lines_of(after), lines_of(before)) << "new series appeared:\n" << after;
    EXPECT_LE(after.size(), before.size() + 2048) << "metrics grew from " << before.size() << " to " << after.size();
    EXPECT_LT(after.size(), 256u * 1024);
    EXPECT_NE(after.find("method=\"other\""), std::string::npos);
    std::cout << "[metrics] after 10,000 random requests: " << lines_of(after) << " lines, " << after.size()
              << " bytes (was " << before.size() << " after the first 2,000)\n";
    EXPECT_TRUE(s.healthy());
}

// Finding 8: lenient Transfer-Encoding let the leftover bytes be parsed as a second request.
TEST(HostileInput, Finding8_LenientTransferEncodingsAreRefusedAndNothingIsSmuggled) {
    Hostile s;
    const int port = s.tallyd.port();
    const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (const std::string& te : std::vector<std::string>{"chunked, identity", "xchunked", "identity", "gzip", "gzip, chunked", "chunked;q=1",
                                 "CHUNKED\r\nTransfer-Encoding: chunked", "chunked\r\nContent-Length: 5"}) {
        auto r = raw(port, "POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: " +
                               te + "\r\n\r\n0\r\n\r\n" + smuggled);
        auto got = statuses(r.received);
        ASSERT_EQ(got.size(), 1u) << te << ": the smuggled request was answered\n" << r.received;
        EXPECT_EQ(got[0], 400) << te;
        EXPECT_TRUE(r.closed) << te << ": the connection stayed open";
    }
    // Plain chunked framing is fine: the request is read and answered (401: no token).
    auto chunked = raw(port, "POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled);
    EXPECT_EQ(statuses(chunked.received), (std::vector<int>{401, 200}));
    EXPECT_TRUE(s.healthy());
}

// Findings 1, 2 and 8 at the wire: malformed request lines and headers are a 400 (or a
// closed connection), never a crash.
TEST(HostileInput, MalformedRequestLinesAndHeadersAreRefused) {
    Hostile s;
    const int port = s.tallyd.port();
    const std::vector<std::string> requests = {
        "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", std::string("\x00\x01\x02\r\n\r\n", 7), "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
        "POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "G\xc3\xa9T / HTTP/1.1\r\nHost: x\r\n\r\n",
        std::string("GET / HTTP/1.1\r\nHost: x\r\nX-Nul: a\0b\r\n\r\n", 39),
        "GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (const auto& request : requests) {
        auto r = raw(port, request);
        auto got = statuses(r.received);
        EXPECT_LE(got.size(), 1u) << request.substr(0, 80);
        if (got.empty())
            EXPECT_TRUE(r.closed) << request.substr(0, 80) << ": neither answered nor closed";
        else
            EXPECT_TRUE(got[0] == 400 || got[0] == 413 || got[0] == 431 || got[0] == 501) << request.substr(0, 80) << ": " << got[0];
        ASSERT_TRUE(s.healthy()) << "tallyd stopped answering after " << request.substr(0, 80);
    }
    // An invented method is 501 under the fixed label; a known one on a route that does
    // not take it is 405 with Allow.
    auto invented = raw(port, "BREW /v1/quote HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(statuses(invented.received), std::vector<int>{501});
    auto r = s.client->request("DELETE", "/v1/quote", "", {{"Authorization", "Bearer " + s.admin}});
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.headers["allow"], "POST");
}

// Finding 3: an employee with orders.manage could ask for a vendor payout.
TEST(HostileInput, Finding3_OnlyAdminsRequestPayouts) {
    Hostile s;
    const std::string body = R"({"vendor_id":"ven-1"})";
    for (const auto& [id, role, perms] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"emp-ops", "employee", "orders.manage"}, {"emp-all", "employee", "orders.manage,credit.manage,catalog.manage"},
             {"ven-1", "vendor", ""}, {"cus-1", "customer", ""}, {"aud-1", "auditor", ""}}) {
        auto r = s.send("POST", "/v1/orders/ord-1/payouts", json::parse(body), testing::token_for(s.url, id, role, perms));
        EXPECT_EQ(r.status, 403) << id << ": " << r.body;
    }
    // An admin gets past authorisation to the order itself (there is none).
    auto admin = s.send("POST", "/v1/orders/ord-1/payouts", json::parse(body), s.admin);
    EXPECT_EQ(admin.status, 404) << admin.body;
}

// Finding 4: a staff quote for a customer revealed their credit balance and wholesale
// standing to an employee without credit.view.
TEST(HostileInput, Finding4_AStaffQuoteForACustomerNeedsCreditView) {
    Hostile s;
    ASSERT_EQ(s.send("PUT", "/v1/vendors/ven-1", {{"currency", "USD"}, {"shipping", {{"flat_minor", 0}}}}, s.admin).status, 200);
    ASSERT_EQ(s.send("PUT", "/v1/products/sku-1", {{"vendor_id", "ven-1"}, {"country_of_origin", "DE"}, {"base_minor", 2000}},
                     s.admin).status, 200);
    ASSERT_EQ(s.send("POST", "/v1/customers/cus-1/credit-grants",
                     {{"amount_minor", 700}, {"currency", "USD"}, {"reason", "goodwill"}}, s.admin).status, 201);
    const json cart = {{"currency", "USD"}, {"ship_to_country", "DE"}, {"lines", {{{"sku", "sku-1"}, {"quantity", 1}}}}};
    auto quote = [&](const std::string& token, const std::string& query) {
        return s.client->request("POST", "/v1/quote" + query, cart.dump(), {{"Authorization", "Bearer " + token}});
    };
    const auto nobody = testing::token_for(s.url, "emp-none", "employee");
    const auto merchandiser = testing::token_for(s.url, "emp-catalog", "employee", "catalog.view");
    const auto support = testing::token_for(s.url, "emp-support", "employee", "credit.view");
    // An employee without permissions quotes nothing (the route table's first check).
    EXPECT_EQ(quote(nobody, "").status, 403);
    auto refused = quote(merchandiser, "?customer_id=cus-1");
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_EQ(refused.body.find("credit_applied"), std::string::npos);
    auto anonymous = quote(merchandiser, "");
    ASSERT_EQ(anonymous.status, 200) << anonymous.body;
    EXPECT_EQ(json::parse(anonymous.body)["credit_applied_minor"], 0);
    ASSERT_TRUE(testing::eventually([&] {
        auto r = quote(support, "?customer_id=cus-1");
        return r.status == 200 && json::parse(r.body)["credit_applied_minor"] == 700;
    })) << quote(support, "?customer_id=cus-1").body;
    auto admin = quote(s.admin, "?customer_id=cus-1");
    EXPECT_EQ(admin.status, 200);
}

// Finding 5: PostgreSQL's error text (quoting the request) reached the client.
TEST(HostileInput, Finding5_DatabaseErrorTextStaysInTheLog) {
    Hostile s;
    // Invalid UTF-8 no longer reaches SQL at all: the edge refuses it.
    auto r = raw(s.tallyd.port(), "GET /v1/customers/cus-1/credit?limit=\xff HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(statuses(r.received), std::vector<int>{400});
    // A database that fails answers 503 in our words; its own stay in the log.
    ASSERT_TRUE(s.pool.transact([](sql::Tx& tx) { tx.exec("ALTER TABLE credit_balances RENAME TO credit_balances_away"); }));
    auto failed = s.get("/v1/customers/cus-1/credit", s.admin);
    ASSERT_TRUE(s.pool.transact([](sql::Tx& tx) { tx.exec("ALTER TABLE credit_balances_away RENAME TO credit_balances"); }));
    EXPECT_EQ(failed.status, 503) << failed.body;
    EXPECT_EQ(json::parse(failed.body)["title"], "storage_unavailable");
    for (const char* leak : {"credit_balances", "relation", "does not exist", "ERROR", "SQLSTATE"})
        EXPECT_EQ(failed.body.find(leak), std::string::npos) << failed.body;
    EXPECT_TRUE(testing::eventually([&] { return s.tallyd.log().find("credit_balances") != std::string::npos; }));
    EXPECT_EQ(s.get("/v1/customers/cus-1/credit", s.admin).status, 200);
}

// Finding 6: an Idempotency-Key with a byte that is not UTF-8 was a 500.
TEST(HostileInput, Finding6_BadIdempotencyKeysAre400) {
    Hostile s;
    const json grant = {{"amount_minor", 100}, {"currency", "USD"}, {"reason", "goodwill"}};
    for (const auto& [key, code] : std::vector<std::pair<std::string, std::string>>{
             {"k\xff", "invalid_header"}, {std::string(256, 'k'), "invalid_idempotency_key"},
             {"caf\xc3\xa9", "invalid_idempotency_key"}, {"a\tb", "invalid_idempotency_key"}}) {
        auto r = s.send("POST", "/v1/customers/cus-1/credit-grants", grant, s.admin, key);
        EXPECT_EQ(r.status, 400) << r.body;
        EXPECT_EQ(json::parse(r.body)["title"], code);
        EXPECT_EQ(json::parse(r.body)["field"], "Idempotency-Key");
    }
    EXPECT_EQ(s.number("SELECT count(*) FROM journal"), 0);
}

// Finding 7: a revoked principal could still replay its stored answers.
TEST(HostileInput, Finding7_ARevokedOrDisabledPrincipalCannotReplayStoredAnswers) {
    Hostile s;
    const json grant = {{"amount_minor", 100}, {"currency", "USD"}, {"reason", "goodwill"}};
    const auto admin2 = testing::token_for(s.url, "admin-2", "admin");
    auto first = s.send("POST", "/v1/customers/cus-1/credit-grants", grant, admin2, "grant-1");
    ASSERT_EQ(first.status, 201) << first.body;
    auto replay = s.send("POST", "/v1/customers/cus-1/credit-grants", grant, admin2, "grant-1");
    ASSERT_EQ(replay.status, 201);
    EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
    ASSERT_TRUE(s.pool.transact([](sql::Tx& tx) {
        tx.exec("UPDATE principals SET session_version = session_version + 1 WHERE id = 'admin-2'");
    }));
    auto revoked = s.send("POST", "/v1/customers/cus-1/credit-grants", grant, admin2, "grant-1");
    EXPECT_EQ(revoked.status, 401) << revoked.body;
    EXPECT_EQ(json::parse(revoked.body)["title"], "token_revoked");
    EXPECT_EQ(revoked.headers.count("idempotent-replayed"), 0u);
    EXPECT_EQ(revoked.body.find("balance_minor"), std::string::npos);
    const auto fresh = testing::token_for(s.url, "admin-2", "admin");  // signed in again
    EXPECT_EQ(s.send("POST", "/v1/customers/cus-1/credit-grants", grant, fresh, "grant-1").status, 201);
    ASSERT_TRUE(s.pool.transact([](sql::Tx& tx) { tx.exec("UPDATE principals SET active = false WHERE id = 'admin-2'"); }));
    EXPECT_EQ(s.send("POST", "/v1/customers/cus-1/credit-grants", grant, fresh, "grant-1").status, 401);
}

// Finding 9: input looser than the README promised, and answers without their headers.
TEST(HostileInput, Finding9_StrictNumbersDotIdsContentTypeAndFieldNames) {
    Hostile s;
    for (const auto& [body, field] : std::vector<std::pair<std::string, std::string>>{
             {R"({"vendor_id":"v","base_minor":"100"})", "base_minor"}, {R"({"vendor_id":"v","base_minor":1.0})", "base_minor"},
             {R"({"vendor_id":"v","base_minor":1e2})", "base_minor"}}) {
        auto r = s.client->request("PUT", "/v1/products/p1", body,
                                   {{"Authorization", "Bearer " + s.admin}, {"Idempotency-Key", "p-" + body}});
        EXPECT_EQ(r.status, 400) << body;
        EXPECT_EQ(json::parse(r.body)["field"], field);
    }
    auto yes = s.send("PUT", "/v1/customers/cus-1/profile", {{"wholesale_eligible", "yes"}}, s.admin);
    EXPECT_EQ(yes.status, 400);
    EXPECT_EQ(json::parse(yes.body)["field"], "wholesale_eligible");
    for (const char* id : {".", ".."}) {
        EXPECT_EQ(s.send("PUT", std::string("/v1/vendors/") + id, {{"currency", "USD"}}, s.admin).status, 400) << id;
        EXPECT_EQ(s.send("PUT", std::string("/v1/coupons/") + id, {{"kind", "PERCENT"}}, s.admin).status, 400) << id;
    }
    // Rules decided in the batch name their field too.
    auto currency = s.send("PUT", "/v1/vendors/v-x", {{"currency", "XYZ"}}, s.admin);
    EXPECT_EQ(currency.status, 422);
    EXPECT_EQ(json::parse(currency.body)["title"], "currency_unknown");
    EXPECT_EQ(json::parse(currency.body)["field"], "currency");
    auto country = s.send("PUT", "/v1/products/p-x", {{"vendor_id", "v-x"}, {"country_of_origin", "Narnia"}, {"base_minor", 5}},
                          s.admin);
    EXPECT_EQ(country.status, 422);
    EXPECT_FALSE(json::parse(country.body).value("field", "").empty()) << country.body;
    auto form = s.client->request("POST", "/v1/customers/cus-1/credit-grants", "amount_minor=100",
                                  {{"Authorization", "Bearer " + s.admin}, {"Idempotency-Key", "form-1"},
                                   {"Content-Type", "application/x-www-form-urlencoded"}});
    EXPECT_EQ(form.status, 415);
    EXPECT_EQ(json::parse(form.body)["field"], "Content-Type");
    EXPECT_EQ(s.number("SELECT count(*) FROM journal"), 0);
}

TEST(HostileInput, Finding9_TokensFromTheFutureAreRefused) {
    Hostile s;
    testing::token_for(s.url, "admin-9", "admin");
    auto keys = http::KeyRing::parse(testing::kTestJwtKeys);
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    const auto future_iat = keys->mint({"admin-9", "admin", 1, now + 3600, now + 7200, 0});
    const auto future_nbf = keys->mint({"admin-9", "admin", 1, now, now + 7200, now + 3600});
    const auto fine = keys->mint({"admin-9", "admin", 1, now, now + 7200, now});
    EXPECT_EQ(s.get("/v1/ledger/accounts", future_iat).status, 401);
    EXPECT_EQ(s.get("/v1/ledger/accounts", future_nbf).status, 401);
    EXPECT_EQ(s.get("/v1/ledger/accounts", fine).status, 200);
}

TEST(HostileInput, Finding9_AnswersCarryNoStoreNosniffAllowAndWwwAuthenticate) {
    Hostile s;
    const auto customer = testing::token_for(s.url, "cus-1", "customer");
    auto credit = s.get("/v1/customers/cus-1/credit", customer);
    ASSERT_EQ(credit.status, 200);
    EXPECT_EQ(credit.headers["cache-control"], "no-store");
    EXPECT_EQ(credit.headers["x-content-type-options"], "nosniff");
    auto missing = s.client->request("GET", "/v1/ledger/accounts");
    EXPECT_EQ(missing.status, 401);
    EXPECT_EQ(missing.headers["www-authenticate"], "Bearer realm=\"tally\"");
    EXPECT_EQ(missing.headers["cache-control"], "no-store");
    auto bad = s.get("/v1/ledger/accounts", "not.a.token");
    EXPECT_EQ(bad.status, 401);
    EXPECT_EQ(bad.headers["www-authenticate"], "Bearer realm=\"tally\", error=\"invalid_token\"");
    auto wrong_method = s.client->request("PUT", "/v1/customers/cus-1/credit", "{}", {{"Authorization", "Bearer " + s.admin}});
    EXPECT_EQ(wrong_method.status, 405);
    EXPECT_EQ(wrong_method.headers["allow"], "GET");
}

}  // namespace tally
