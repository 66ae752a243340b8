#include "tests/faults/harness.h"

#include <gtest/gtest.h>

#include <chrono>

#include "commands/pipeline.h"
#include "events/envelope.h"
#include "http/client.h"
#include "infra/journal.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/stock.pb.h"
#include "tests/support/kafka_read.h"

namespace tally::faults {

using nlohmann::json;

namespace {

constexpr const char* kKey = "sk_test_faults";
constexpr const char* kWebhookSecret = "whsec_faults";
constexpr int kPartitions = 3;

// An answer the client may not take as the outcome: the request may or may not have
// happened, so it is sent again with the same key.
bool retryable(int status) { return status == 0 || status == 500 || status == 502 || status == 503 || status == 504; }

json cart(const std::string& sku, int quantity, bool coupon) {
    json c = {{"currency", "USD"}, {"ship_to_country", "US"}, {"lines", json::array({{{"sku", sku}, {"quantity", quantity}}})}};
    if (coupon) c["coupon_codes"] = json::array({"FEW"});
    return c;
}

std::string cart_name(const std::string& sku, int quantity, bool coupon) {
    return sku + "x" + std::to_string(quantity) + (coupon ? "+FEW" : "");
}

}  // namespace

WithFake::WithFake() : fake(kKey, kWebhookSecret) {}

Stack::Stack(StackOptions options) : options_(std::move(options)) {
    url = testing::fresh_database(INT_MAX, options_.pg_admin_url);
    if (options_.broker_in_process) {
        mock = std::make_unique<kafka::MockCluster>(3);
        if (!mock->ok() || !mock->create_topic("tally.events", kPartitions)) throw std::runtime_error("no mock cluster");
        brokers = mock->bootstraps();
    } else {
        broker = std::make_unique<testing::Broker>();
        brokers = broker->bootstraps();
    }
    pool = std::make_unique<sql::Pool>(url, 2);
    std::map<std::string, std::string> env = {{"TALLY_STRIPE_API_BASE", fake.base_url()},
                                              {"TALLY_STRIPE_SECRET_KEY", kKey},
                                              {"TALLY_STRIPE_WEBHOOK_SECRETS", kWebhookSecret},
                                              {"TALLY_KAFKA_SESSION_TIMEOUT_MS", "3000"},
                                              {"TALLY_PROVIDER_RETRY_BASE_MS", "100"},
                                              {"TALLY_PROVIDER_RETRY_MAX_MS", "1000"},
                                              {"TALLY_PAYOUT_DELAY_S", "1"}};
    for (const auto& [k, v] : options_.env) env[k] = v;
    down_.assign(static_cast<size_t>(options_.nodes), false);
    for (int i = 0; i < options_.nodes; ++i) {
        nodes.push_back(std::make_unique<testing::Tallyd>(url, brokers, env));
        nodes.back()->start();
    }
    admin = testing::token_for(url, "admin-1", "admin");
    std::vector<std::string> ids;
    for (int i = 0; i < kCustomers; ++i) ids.push_back("c" + std::to_string(i));
    customer_tokens = testing::tokens_for(url, ids, "customer");
    fake.chaotic_delivery(options_.seed);
    fake.send_webhooks_to(nodes[0]->port());
    setup_catalog();
}

Stack::~Stack() = default;

void Stack::setup_catalog() {
    auto put = [&](const std::string& target, const json& body, int want) {
        auto a = send("admin-1", target.find("stock") != std::string::npos ? "POST" : "PUT", target, body, admin,
                      "setup-" + target);
        ASSERT_EQ(a.status, want) << target << ": " << a.body;
    };
    put("/v1/vendors/ana", {{"currency", "USD"}, {"commission_bps", 1000}, {"shipping", {{"flat_minor", 500}}},
                            {"payout_account", "acct_ana"}}, 200);
    put("/v1/products/lamp", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 4000}}, 200);
    put("/v1/products/rare", {{"vendor_id", "ana"}, {"country_of_origin", "DK"}, {"base_minor", 2500}}, 200);
    put("/v1/products/lamp/stock-adjustments", {{"delta", 100000}, {"reason", "received"}}, 201);
    put("/v1/products/rare/stock-adjustments", {{"delta", kRareStock}, {"reason", "received"}}, 201);
    put("/v1/coupons/FEW", {{"kind", "FIXED"}, {"fixed_minor", 300}, {"scope", "SITE"}, {"uses_max_total", kCouponUses}}, 200);
    for (const std::string sku : {"lamp", "rare"})
        for (int quantity = 1; quantity <= (sku == "lamp" ? kLampQuantities : 1); ++quantity)
            for (bool coupon : {false, true}) {
                http::Client c("127.0.0.1", live_port());
                auto r = c.request("POST", "/v1/quote", cart(sku, quantity, coupon).dump(),
                                   {{"Authorization", "Bearer " + customer_tokens[0]}});
                ASSERT_EQ(r.status, 200) << r.body;
                totals[cart_name(sku, quantity, coupon)] = json::parse(r.body)["total_minor"].get<int64_t>();
            }
}

Answer Stack::send(const std::string& principal, const std::string& method, const std::string& target, const json& body,
                   const std::string& token, const std::string& key, std::chrono::seconds patience) {
    Answer a{principal, key, method, target, 0, ""};
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (size_t attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
        const int port = live_port();
        if (port) {
            http::Client c("127.0.0.1", port);
            auto r = c.request(method, target, body.dump(), {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
            if (!retryable(r.status)) {
                a.status = r.status;
                a.body = r.body;
                break;
            }
            std::lock_guard lock(mu_);
            ++transient_[r.status];
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min<size_t>(20 * (attempt + 1), 250)));
    }
    std::lock_guard lock(mu_);
    answers_.push_back(a);
    return a;
}

json Stack::get(const std::string& target) {
    const int port = live_port();
    if (!port) return json();
    http::Client c("127.0.0.1", port);
    auto r = c.request("GET", target, "", {{"Authorization", "Bearer " + admin}});
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
}

void Stack::kill(size_t node) {
    {
        std::lock_guard lock(mu_);
        down_[node] = true;
    }
    nodes[node]->kill9();
    if (const int port = live_port()) fake.send_webhooks_to(port);
    else fake.send_webhooks_to(0);  // held until a node is back, as the provider retries
}

void Stack::restart(size_t node) {
    nodes[node]->start();
    {
        std::lock_guard lock(mu_);
        down_[node] = false;
    }
    fake.send_webhooks_to(live_port());
}

bool Stack::up(size_t node) const {
    std::lock_guard lock(mu_);
    return !down_[node];
}

int Stack::live_port() {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < nodes.size(); ++i)
        if (!down_[i]) return nodes[i]->port();
    return 0;
}

std::vector<Answer> Stack::answers() const {
    std::lock_guard lock(mu_);
    return answers_;
}

std::map<int, int> Stack::transient() const {
    std::lock_guard lock(mu_);
    return transient_;
}

// The first column of the first row, as text ("" for none or null). The harness's own
// connections are cut too when a test terminates backends: it tries again for 10 s.
std::string Stack::text(const std::string& query) {
    std::string s;
    std::string error;
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto r = pool->transact([&](sql::Tx& tx) {
            auto rows = tx.exec(query);
            s = rows.empty() || rows[0].is_null(0) ? "" : rows[0].str(0);
        });
        if (r) return s;
        error = r.error().message;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << query << ": " << error;
    return s;
}

int64_t Stack::number(const std::string& query) {
    const std::string s = text(query);
    return s.empty() ? 0 : std::stoll(s);
}

// ---------------------------------------------------------------------------------------

Load::Load(Stack& stack, uint32_t seed) : s_(stack), seed_(seed) {}

Load::~Load() { stop(); }

void Load::start() {
    stop_ = false;
    for (int t = 0; t < 2; ++t) threads_.emplace_back([this, t] { grants(t); });
    for (int t = 0; t < 2; ++t) threads_.emplace_back([this, t] { checkouts(t); });
    threads_.emplace_back([this] { payments(); });
    threads_.emplace_back([this] { refunds(); });
}

void Load::stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
}

void Load::grants(int thread) {
    std::mt19937 rng(seed_ * 31 + static_cast<uint32_t>(thread));
    static std::atomic<int> seq{0};
    while (!stop_) {
        const int i = seq++;
        const std::string customer = "c" + std::to_string(rng() % kCustomers);
        auto a = s_.send("admin-1", "POST", "/v1/customers/" + customer + "/credit-grants",
                         {{"amount_minor", 1 + static_cast<int64_t>(rng() % 500)}, {"currency", "USD"}, {"reason", "faults"}},
                         s_.admin, "grant-" + std::to_string(seed_) + "-" + std::to_string(i));
        if (a.status == 201) ++acked_;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void Load::checkouts(int thread) {
    std::mt19937 rng(seed_ * 97 + static_cast<uint32_t>(thread));
    static std::atomic<int> seq{0};
    while (!stop_) {
        const int i = seq++;
        const int customer = static_cast<int>(rng() % kCustomers);
        const std::string sku = rng() % 3 == 0 ? "rare" : "lamp";
        const int quantity = sku == "lamp" ? 1 + static_cast<int>(rng() % kLampQuantities) : 1;
        const bool coupon = rng() % 4 == 0;
        json body = cart(sku, quantity, coupon);
        body["expected_total_minor"] = s_.totals.at(cart_name(sku, quantity, coupon));
        auto a = s_.send("c" + std::to_string(customer), "POST", "/v1/checkout", body,
                         s_.customer_tokens[static_cast<size_t>(customer)], "co-" + std::to_string(seed_) + "-" + std::to_string(i));
        if (a.status == 201) {
            ++acked_;
            std::lock_guard lock(mu_);
            orders_.push_back(json::parse(a.body)["order_id"]);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
}

// The customer pays each acknowledged order once its intent exists at the provider.
void Load::payments() {
    while (!stop_) {
        std::vector<std::string> open;
        {
            std::lock_guard lock(mu_);
            for (const auto& o : orders_)
                if (!paid_.contains(o)) open.push_back(o);
        }
        if (!open.empty()) {
            std::map<std::string, std::string> intent_of;
            for (const auto& pi : s_.fake.objects("pi_"))
                if (pi.value("status", "") != "succeeded") intent_of[pi["metadata"].value("order_id", "")] = pi["id"];
            for (const auto& o : open)
                if (auto it = intent_of.find(o); it != intent_of.end()) {
                    s_.fake.succeed(it->second);
                    std::lock_guard lock(mu_);
                    paid_.insert(o);
                }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// Part of a paid order back to the card, once each (a 409 while the payment's webhook has
// not landed yet is an answer too; a later try uses a new key).
void Load::refunds() {
    std::set<std::string> refunded;
    int attempt = 0;
    while (!stop_) {
        std::vector<std::string> candidates;
        {
            std::lock_guard lock(mu_);
            for (const auto& o : paid_)
                if (!refunded.contains(o)) candidates.push_back(o);
        }
        for (const auto& o : candidates) {
            if (stop_) break;
            auto a = s_.send("admin-1", "POST", "/v1/orders/" + o + "/refunds",
                             {{"amount_minor", 1000}, {"destination", "card"}, {"reason", "faults"}}, s_.admin,
                             "refund-" + o + "-" + std::to_string(++attempt));
            if (a.status == 200 || a.status == 201) {
                ++acked_;
                refunded.insert(o);
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
}

std::map<std::string, int64_t> projected(Stack& s) {
    std::map<std::string, int64_t> out;
    for (const std::string p : {"affiliates", "catalog", "credit", "ledger", "loyalty", "orders", "passport", "provider_calls",
                               "subscriptions"})
        out[p] = s.number("SELECT coalesce(sum(position), 0) FROM projector_checkpoints WHERE projector = '" + p + "'");
    return out;
}

bool all_moved(Stack& s, const std::map<std::string, int64_t>& since) {
    for (const auto& [p, at] : projected(s))
        if (at <= since.at(p)) return false;
    return true;
}

void progress(Stack& s, const Load& load, const std::string& phase) {
    static const auto t0 = std::chrono::steady_clock::now();
    std::printf("[%s] t+%.1f s: relay at %lld; projectors at %s\n", phase.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                static_cast<long long>(s.number("SELECT coalesce(max(position), 0) FROM relay_progress WHERE partition = -1")),
                s.text("SELECT coalesce(string_agg(projector || ' ' || p, ', ' ORDER BY projector), 'none') FROM "
                       "(SELECT projector, string_agg(position::text, '/' ORDER BY partition) p FROM projector_checkpoints "
                       "GROUP BY 1) t").c_str());
    std::printf("[%s] %zu acknowledged; journal head %lld: %lld orders, %lld paid, %lld refunds\n", phase.c_str(),
                load.acknowledged(), static_cast<long long>(s.number("SELECT position FROM journal_head")),
                static_cast<long long>(s.number("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'")),
                static_cast<long long>(s.number("SELECT count(*) FROM journal WHERE type = 'PaymentSucceeded'")),
                static_cast<long long>(s.number("SELECT count(*) FROM journal WHERE type = 'RefundIssued'")));
    std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------

namespace {

bool caught_up(Stack& s) {
    std::map<int32_t, int64_t> last;
    bool behind = false;
    auto r = s.pool->transact([&](sql::Tx& tx) {
        for (const auto& row : tx.exec("SELECT stream_id, max(position) FROM journal GROUP BY stream_id")) {
            auto& m = last[kafka::partition_for(row.str(0), kPartitions)];
            m = std::max(m, row.i64(1));
        }
        for (const auto& row : tx.exec("SELECT partition, position FROM projector_checkpoints")) {
            auto it = last.find(static_cast<int32_t>(row.i64(0)));
            if (it != last.end() && row.i64(1) < it->second) behind = true;
        }
    });
    // Every rebuildable projector and provider_calls has its checkpoints.
    return r && !behind &&
           s.number("SELECT count(DISTINCT projector) FROM projector_checkpoints") ==
               static_cast<int64_t>(testing::projection_tables().size() + 1);
}

std::string fingerprint(Stack& s, const std::string& table) {
    return s.text("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM " + table + " t");
}

template <typename T>
T payload(const v1::EventEnvelope& e) {
    T t;
    EXPECT_TRUE(t.ParseFromString(e.payload())) << e.type() << " at " << e.position();
    return t;
}

}  // namespace

void check_invariants(Stack& s) {
    const auto t0 = std::chrono::steady_clock::now();
    auto step = [&](const char* what) {
        std::printf("invariants: %s at +%.1f s\n", what, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        std::fflush(stdout);
    };
    // Quiet: the provider's calls made and its webhooks in, the projectors at the head.
    std::string waiting;
    ASSERT_TRUE(testing::eventually(
        [&] {
            const bool webhooks = s.fake.webhooks_idle();
            const int64_t open = s.number("SELECT count(*) FROM provider_calls WHERE status NOT IN ('done', 'dead')");
            const bool projected = caught_up(s);
            const std::string now = std::string(webhooks ? "" : " webhooks") + (open ? " provider-calls" : "") +
                                    (projected ? "" : " projectors");
            if (now != waiting) {
                waiting = now;
                step(("waiting for" + (now.empty() ? std::string(" nothing") : now)).c_str());
            }
            return now.empty();
        },
        std::chrono::seconds(180)))
        << "never quiet: " << s.number("SELECT count(*) FROM provider_calls WHERE status NOT IN ('done', 'dead')")
        << " provider calls open";

    step("quiet");
    // 0. The load was mixed: checks over a journal without payments or refunds prove little.
    for (const std::string type : {"CreditGranted", "OrderPlaced", "PaymentSucceeded", "RefundIssued"})
        EXPECT_GT(s.number("SELECT count(*) FROM journal WHERE type = '" + type + "'"), 0)
            << "the load never produced " << type;

    // 1. Acknowledged commands: recorded once, with the answer the client got, in the
    //    journal in one transaction. Unanswered ones: all or nothing.
    std::map<std::pair<std::string, std::string>, std::pair<int, std::string>> stored;
    std::map<std::string, int64_t> transactions_of;  // causation -> distinct transactions
    ASSERT_TRUE(s.pool->transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT principal, key, status, response FROM idempotency"))
            stored[{r.str(0), r.str(1)}] = {static_cast<int>(r.i64(2)), r.str(3)};
        for (const auto& r : tx.exec("SELECT causation_id, count(DISTINCT xmin::text) FROM journal GROUP BY causation_id"))
            transactions_of[r.str(0)] = r.i64(1);
    }));
    size_t acked = 0, unanswered = 0, unanswered_done = 0;
    for (const auto& a : s.answers()) {
        const std::string command = commands::command_id_for(a.principal, a.key);
        auto rec = stored.find({a.principal, a.key});
        auto events = transactions_of.find(command);
        if (a.status == 0) {
            ++unanswered;
            if (rec != stored.end()) ++unanswered_done;
            continue;
        }
        if (a.status < 200 || a.status >= 300) continue;
        ++acked;
        ASSERT_NE(rec, stored.end()) << a.method << " " << a.target << " key " << a.key << " acknowledged but not recorded";
        EXPECT_EQ(rec->second.first, a.status) << a.key;
        EXPECT_EQ(rec->second.second, a.body) << a.key;
        if (a.status == 201) {
            ASSERT_NE(events, transactions_of.end()) << a.key << " acknowledged 201 without an event";
        }
    }
    // Every command's events were written in exactly one transaction, and a command with
    // events has its record (the two are one transaction: nothing half-written).
    std::set<std::string> recorded;
    for (const auto& [pk, _] : stored) recorded.insert(commands::command_id_for(pk.first, pk.second));
    size_t system = 0;
    for (const auto& [causation, n] : transactions_of) {
        EXPECT_EQ(n, 1) << "command " << causation << " written in " << n << " transactions";
        if (!recorded.contains(causation)) ++system;
        EXPECT_TRUE(recorded.contains(causation)) << "command " << causation << " has events but no idempotency record";
    }
    std::printf("invariants: %lld orders placed, %lld paid, %lld refunds\n",
                static_cast<long long>(s.number("SELECT count(*) FROM journal WHERE type = 'OrderPlaced'")),
                static_cast<long long>(s.number("SELECT count(*) FROM journal WHERE type = 'PaymentSucceeded'")),
                static_cast<long long>(s.number("SELECT count(*) FROM journal WHERE type = 'RefundIssued'")));
    std::map<std::string, int> by_status;
    for (const auto& a : s.answers()) {
        const std::string what = a.target.find("/checkout") != std::string::npos  ? "checkout"
                                 : a.target.find("/refunds") != std::string::npos ? "refund"
                                 : a.target.find("credit-grants") != std::string::npos ? "grant"
                                                                                       : "setup";
        std::string code;
        if (a.status >= 400) code = " " + nlohmann::json::parse(a.body, nullptr, false).value("title", "");
        ++by_status[what + " " + std::to_string(a.status) + code];
    }
    for (const auto& [k, n] : by_status) std::printf("invariants: answers %s: %d\n", k.c_str(), n);
    std::printf("invariants: %zu answers, %zu acknowledged, %zu unanswered (%zu of them done), %zu commands without "
                "an idempotency record\n",
                s.answers().size(), acked, unanswered, unanswered_done, system);

    step("answers checked");
    // 2. Chains and positions.
    std::string out;
    EXPECT_EQ(testing::run_replay(s.url, "verify", out), 0) << out;

    step("chains verified");
    // 3. Kafka holds the journal exactly.
    std::map<int64_t, std::string> hash_at;
    ASSERT_TRUE(s.pool->transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT position, hash FROM journal")) hash_at[r.i64(0)] = r.bytes(1);
    }));
    auto messages = testing::read_topic(s.brokers, "tally.events");
    std::map<int64_t, int> seen;
    for (const auto& m : messages) {
        ++seen[m.envelope.position()];
        auto it = hash_at.find(m.envelope.position());
        if (it == hash_at.end()) {
            ADD_FAILURE() << "Kafka holds position " << m.envelope.position() << " the journal does not";
            continue;
        }
        EXPECT_EQ(m.envelope.hash(), it->second) << "position " << m.envelope.position();
    }
    EXPECT_EQ(messages.size(), hash_at.size());
    EXPECT_EQ(seen.size(), hash_at.size());
    for (const auto& [position, n] : seen) EXPECT_EQ(n, 1) << "position " << position << " published " << n << " times";

    step("Kafka compared");
    // 4. Every projection equals a fresh rebuild; reconcile is clean.
    for (const auto& [projector, tables] : testing::projection_tables()) {
        std::map<std::string, std::string> before;
        for (const auto& t : tables) before[t] = fingerprint(s, t);
        http::Client client("127.0.0.1", s.live_port());
        auto r = client.request("POST", "/v1/projections/" + projector + "/rebuild", "{}",
                                {{"Authorization", "Bearer " + s.admin}, {"Idempotency-Key", "invariants-rb-" + projector}});
        ASSERT_EQ(r.status, 200) << r.body;
        for (const auto& t : tables) EXPECT_EQ(fingerprint(s, t), before[t]) << t << " differs from a fresh rebuild";
    }
    EXPECT_EQ(testing::run_replay(s.url, "reconcile", out), 0) << out;

    step("projections rebuilt, reconciled");
    // 5. The ledger balances per currency.
    ASSERT_TRUE(s.pool->transact([&](sql::Tx& tx) {
        for (const auto& r : tx.exec("SELECT currency, sum(debit_minor) - sum(credit_minor) FROM ledger_accounts GROUP BY currency"))
            EXPECT_EQ(r.i64(1), 0) << "the ledger does not balance in " << r.str(0);
    }));

    // 6. Stock and coupons, from their streams.
    ASSERT_TRUE(s.pool->transact([&](sql::Tx& tx) {
        for (const std::string sku : {"rare", "lamp"}) {
            int64_t available = 0;
            std::map<std::string, int> reserved, released;
            for (const auto& e : journal::read_stream(tx, "stock-" + sku, 0, 10'000'000)) {
                if (e.type() == "StockAdjusted") {
                    auto p = payload<v1::StockAdjusted>(e);
                    available += p.delta();
                    EXPECT_EQ(p.available_after(), available);
                } else if (e.type() == "StockReserved") {
                    auto p = payload<v1::StockReserved>(e);
                    available -= p.quantity();
                    EXPECT_EQ(++reserved[p.order_id()], 1) << "order " << p.order_id() << " holds " << sku << " twice";
                    EXPECT_EQ(p.available_after(), available);
                } else if (e.type() == "StockReleased") {
                    auto p = payload<v1::StockReleased>(e);
                    available += p.quantity();
                    EXPECT_EQ(reserved[p.order_id()], 1) << "order " << p.order_id() << " releases what it never held";
                    EXPECT_EQ(++released[p.order_id()], 1) << "order " << p.order_id() << " releases " << sku << " twice";
                    EXPECT_EQ(p.available_after(), available);
                }
                EXPECT_GE(available, 0) << sku << " oversold at position " << e.position();
            }
            v1::StockState state;
            auto rows = tx.exec("SELECT state FROM snapshots WHERE stream_id = $1", {"stock-" + sku});
            ASSERT_EQ(rows.size(), 1u);
            state.ParseFromString(rows.at(0).bytes(0));
            EXPECT_EQ(state.available(), available) << sku;
            if (sku == "rare") std::printf("invariants: rare stock %lld of %lld left\n", static_cast<long long>(available),
                                           static_cast<long long>(kRareStock));
        }
        int64_t uses = 0;
        for (const auto& e : journal::read_stream(tx, "coupon-FEW", 0, 10'000'000)) {
            if (e.type() == "CouponRedeemed") ++uses;
            if (e.type() == "CouponReleased") --uses;
            EXPECT_LE(uses, kCouponUses) << "coupon FEW used beyond its limit at position " << e.position();
        }
        v1::CouponState coupon;
        auto rows = tx.exec("SELECT state FROM snapshots WHERE stream_id = 'coupon-FEW'");
        ASSERT_EQ(rows.size(), 1u);
        coupon.ParseFromString(rows.at(0).bytes(0));
        EXPECT_EQ(coupon.uses_total(), uses);
        std::printf("invariants: coupon FEW used %lld of %lld\n", static_cast<long long>(uses),
                    static_cast<long long>(kCouponUses));
    }));
}

}  // namespace tally::faults
