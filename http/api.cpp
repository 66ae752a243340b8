#include "http/api.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands/catalog.h"
#include "commands/checkout.h"
#include "commands/credit.h"
#include "commands/pricing_view.h"
#include "domain/ids.h"
#include "domain/pricing.h"
#include "events/envelope.h"
#include "events/registry.h"
#include "tally/v1/order.pb.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/customer.pb.h"
#include "domain/catalog.h"
#include "http/json_input.h"
#include "infra/journal.h"
#include "infra/metrics.h"

namespace tally::http {
namespace {

using nlohmann::json;

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= path.size()) {
        size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        parts.emplace_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
    std::map<std::string, std::string> out;
    size_t start = 0;
    while (start < q.size()) {
        size_t amp = q.find('&', start);
        if (amp == std::string_view::npos) amp = q.size();
        auto item = q.substr(start, amp - start);
        auto eq = item.find('=');
        if (eq != std::string_view::npos) out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
        start = amp + 1;
    }
    return out;
}

std::optional<int64_t> parse_count(const std::map<std::string, std::string>& q, const std::string& name,
                                   int64_t fallback, int64_t max) {
    auto it = q.find(name);
    if (it == q.end()) return fallback;
    int64_t v = 0;
    auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || v < 0 || v > max) return std::nullopt;
    return v;
}

int status_of(commands::RejectionKind k) {
    switch (k) {
        case commands::RejectionKind::fix_request: return 422;
        case commands::RejectionKind::state_forbids: return 409;
        case commands::RejectionKind::retry_later: return 503;
        case commands::RejectionKind::unauthenticated: return 401;
        case commands::RejectionKind::forbidden: return 403;
        case commands::RejectionKind::internal: return 500;
    }
    return 500;
}

Response json_response(int status, const json& body) { return Response{status, "application/json", body.dump(), {}}; }

struct Caller {
    TokenClaims claims;
    journal::Principal principal;  // fresh; only loaded for reads
};

}  // namespace

Response problem(int status, const std::string& code, const std::string& detail, const std::string& field,
                 const std::string& request_id, const std::string& extension_json) {
    json body = {{"type", "https://tally.dev/problems/" + code}, {"title", code}, {"status", status}, {"detail", detail}};
    if (!extension_json.empty()) {
        auto ext = json::parse(extension_json, nullptr, false);
        if (ext.is_object())
            for (auto& [k, v] : ext.items()) body[k] = v;
    }
    if (!field.empty()) body["field"] = field;
    if (!request_id.empty()) body["request_id"] = request_id;
    return Response{status, "application/problem+json", body.dump(), {}};
}

Api::Api(ApiDeps deps) : deps_(std::move(deps)) {}

Api::~Api() {
    std::lock_guard lock(rebuilds_mu_);
    for (auto& r : rebuilds_) r.thread.join();
}

bool Api::ready() {
    bool ok = false;
    auto r = deps_.pool->autocommit([&](sql::Tx& tx) { ok = !tx.exec("SELECT 1").empty(); });
    return r && ok;
}

void Api::handle(Request req, Respond respond) {
    const std::string rid = req.request_id;
    const auto qpos = req.target.find('?');
    const std::string path = req.target.substr(0, qpos);
    const auto query = parse_query(qpos == std::string::npos ? "" : std::string_view(req.target).substr(qpos + 1));
    const auto parts = split_path(path);
    auto fail = [&](int status, const std::string& code, const std::string& detail, const std::string& field = "") {
        respond(problem(status, code, detail, field, rid));
    };

    // Unauthenticated operational endpoints.
    if (req.method == "GET" && path == "/healthz") return respond(Response{200, "text/plain", "ok\n", {}});
    if (req.method == "GET" && path == "/readyz")
        return ready() ? respond(Response{200, "text/plain", "ready\n", {}})
                       : fail(503, "not_ready", "the database does not answer");
    if (req.method == "GET" && path == "/metrics")
        return respond(Response{200, "text/plain; version=0.0.4", metrics::global().render(), {}});

    // Everything under /v1 needs a valid bearer token.
    if (parts.empty() || parts[0] != "v1") return fail(404, "not_found", "no route for " + path);
    auto auth = req.headers.find("authorization");
    if (auth == req.headers.end() || auth->second.rfind("Bearer ", 0) != 0)
        return fail(401, "unauthenticated", "an Authorization: Bearer token is required");
    auto claims = deps_.keys->verify(std::string_view(auth->second).substr(7), deps_.clock_ms() / 1000);
    if (!claims) return fail(401, "unauthenticated", claims.error());

    // Reads re-check the principal record now; commands re-check it inside their batch.
    auto fresh_caller = [&]() -> std::optional<Caller> {
        std::optional<journal::Principal> p;
        auto r = deps_.pool->transact([&](sql::Tx& tx) { p = journal::load_principal(tx, claims->sub); });
        if (!r) {
            fail(503, "storage_unavailable", "cannot check the principal: " + r.error().message);
            return std::nullopt;
        }
        const commands::Claims token{claims->sub, claims->role, claims->session_version};
        if (auto problem = commands::check_principal(token, p ? &*p : nullptr)) {
            fail(status_of(problem->kind), problem->code, problem->detail);
            return std::nullopt;
        }
        return Caller{*claims, *p};
    };

    // Commands: an Idempotency-Key is required; the answer comes after the batch commits.
    auto idempotency_key = [&]() -> std::optional<std::string> {
        auto key = req.headers.find("idempotency-key");
        if (key == req.headers.end() || key->second.empty()) {
            fail(400, "idempotency_key_required", "commands need an Idempotency-Key header", "Idempotency-Key");
            return std::nullopt;
        }
        if (key->second.size() > 255) {
            fail(400, "invalid_idempotency_key", "Idempotency-Key is at most 255 bytes", "Idempotency-Key");
            return std::nullopt;
        }
        return key->second;
    };
    auto submit = [&](std::unique_ptr<commands::Command> command, const std::string& key) {
        commands::Submission s;
        s.claims = {claims->sub, claims->role, claims->session_version};
        s.idempotency_key = key;
        s.body_hash = events::sha256(req.method + " " + path + "\n" + req.body);
        s.correlation_id = rid;
        s.command = std::move(command);
        s.done = [respond, rid](commands::Outcome outcome) {
            if (auto* reply = std::get_if<commands::Reply>(&outcome)) {
                Response r{reply->status, "application/json", reply->body, {}};
                if (reply->replayed) r.headers.emplace_back("Idempotent-Replayed", "true");
                return respond(std::move(r));
            }
            const auto& rej = std::get<commands::Rejection>(outcome);
            respond(problem(status_of(rej.kind), rej.code, rej.detail, "", rid, rej.extension_json));
        };
        if (!deps_.pipeline->submit(std::move(s)))
            fail(503, "overloaded", "the command queue is full or the server is stopping; retry");
    };
    // Nested bodies map onto a protobuf message; unknown fields and wrong types are refused.
    auto parse_message = [&](google::protobuf::Message& msg) -> bool {
        if (auto err = parse_json_message(req.body, msg)) {
            fail(err->status, err->code, err->detail, err->field);
            return false;
        }
        return true;
    };
    auto role_in = [&](std::initializer_list<const char*> roles) {
        for (const char* r : roles)
            if (claims->role == r) return true;
        return false;
    };

    // PUT /v1/vendors/{id}  (admin; employee with catalog.manage)
    if (parts.size() == 3 && parts[1] == "vendors") {
        if (req.method != "PUT") return fail(405, "method_not_allowed", "use PUT");
        if (!role_in({"admin", "employee"})) return fail(403, "forbidden", "only staff define vendors");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "vendor id must be 1-64 of [A-Za-z0-9._-]", "vendor_id");
        auto key = idempotency_key();
        if (!key) return;
        v1::VendorDefinition def;
        if (!parse_message(def)) return;
        if (!def.vendor_id().empty() && def.vendor_id() != parts[2])
            return fail(422, "invalid_value", "vendor_id in the body must match the path", "vendor_id");
        def.set_vendor_id(parts[2]);
        return submit(commands::define_vendor(std::move(def)), *key);
    }

    // PUT /v1/products/{sku}  (admin; employee with catalog.manage; the product's vendor)
    if (parts.size() == 3 && parts[1] == "products") {
        if (req.method != "PUT") return fail(405, "method_not_allowed", "use PUT");
        if (!role_in({"admin", "employee", "vendor"})) return fail(403, "forbidden", "only staff and vendors define products");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "sku must be 1-64 of [A-Za-z0-9._-]", "sku");
        auto key = idempotency_key();
        if (!key) return;
        v1::ProductDefinition def;
        if (!parse_message(def)) return;
        if (!def.sku().empty() && def.sku() != parts[2])
            return fail(422, "invalid_value", "sku in the body must match the path", "sku");
        def.set_sku(parts[2]);
        if (def.vendor_id().empty() && claims->role == "vendor") def.set_vendor_id(claims->sub);
        return submit(commands::define_product(std::move(def)), *key);
    }

    // POST /v1/products/{sku}/stock-adjustments  (admin; employee with catalog.manage; the product's vendor)
    if (parts.size() == 4 && parts[1] == "products" && parts[3] == "stock-adjustments") {
        if (req.method != "POST") return fail(405, "method_not_allowed", "use POST");
        if (!role_in({"admin", "employee", "vendor"})) return fail(403, "forbidden", "only staff and vendors adjust stock");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "sku must be 1-64 of [A-Za-z0-9._-]", "sku");
        auto key = idempotency_key();
        if (!key) return;
        ObjectReader in(req.body);
        auto delta = in.int64("delta");
        auto reason = in.string("reason", 1, 500);
        if (auto err = in.finish()) return fail(err->status, err->code, err->detail, err->field);
        return submit(commands::adjust_stock(parts[2], *delta, *reason), *key);
    }

    // PUT /v1/catalog/settings  (admin; employee with catalog.manage)
    if (path == "/v1/catalog/settings") {
        if (req.method != "PUT") return fail(405, "method_not_allowed", "use PUT");
        if (!role_in({"admin", "employee"})) return fail(403, "forbidden", "only staff change catalog settings");
        auto key = idempotency_key();
        if (!key) return;
        v1::CatalogSettings settings;
        if (!parse_message(settings)) return;
        return submit(commands::define_settings(std::move(settings)), *key);
    }

    // PUT /v1/coupons/{code}  (admin; employee with catalog.manage)
    if (parts.size() == 3 && parts[1] == "coupons") {
        if (req.method != "PUT") return fail(405, "method_not_allowed", "use PUT");
        if (!role_in({"admin", "employee"})) return fail(403, "forbidden", "only staff define coupons");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "coupon code must be 1-64 of [A-Za-z0-9._-]", "code");
        auto key = idempotency_key();
        if (!key) return;
        v1::CouponDefinition def;
        if (!parse_message(def)) return;
        if (!def.code().empty() && def.code() != parts[2])
            return fail(422, "invalid_value", "code in the body must match the path", "code");
        def.set_code(parts[2]);
        return submit(commands::define_coupon(std::move(def)), *key);
    }

    // POST /v1/quote  (customers for themselves; staff for anyone with ?customer_id=): no side effects.
    if (path == "/v1/quote") {
        if (req.method != "POST") return fail(405, "method_not_allowed", "use POST");
        auto caller = fresh_caller();
        if (!caller) return;
        std::string customer_id = caller->principal.role == "customer" ? caller->principal.id : "";
        if (caller->principal.role != "customer") {
            if (!role_in({"admin", "employee"})) return fail(403, "forbidden", "customers and staff request quotes");
            if (auto q = query.find("customer_id"); q != query.end()) customer_id = q->second;
            if (!customer_id.empty() && !valid_id(customer_id))
                return fail(400, "invalid_query", "customer_id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
        }
        v1::CartRequest body;
        if (!parse_message(body)) return;
        auto cart = commands::cart_from(body);
        if (!cart) return fail(422, cart.error().code, cart.error().detail, cart.error().field);
        std::map<std::string, std::string> states;
        auto r = deps_.pool->transact([&](sql::Tx& tx) {
            states = journal::read_states(tx, commands::first_streams(*cart, customer_id.empty() ? "-" : customer_id));
            for (auto& [id, bytes] : journal::read_states(tx, commands::vendor_streams(*cart, commands::state_of(states))))
                states[id] = bytes;
        });
        if (!r) return fail(503, "storage_unavailable", r.error().message);
        const auto inputs = commands::assemble(*cart, customer_id.empty() ? "-" : customer_id, commands::state_of(states));
        auto priced = pricing::price(*cart, inputs.catalog, inputs.customer, deps_.clock_ms());
        if (!priced) {
            const auto code = std::string(pricing::to_string(priced.error().code));
            const auto& subject = priced.error().subject;
            return fail(422, code, subject.empty() ? code : code + ": " + subject,
                        subject.empty() ? "" : (code.rfind("coupon", 0) == 0 || code == "unknown_coupon" ? "coupon_codes" : "lines"));
        }
        return respond(json_response(200, commands::breakdown_json(*priced)));
    }

    // PUT /v1/customers/{id}/profile  (admin; employee with customers.manage)
    if (parts.size() == 4 && parts[1] == "customers" && parts[3] == "profile") {
        if (req.method != "PUT") return fail(405, "method_not_allowed", "use PUT");
        if (!role_in({"admin", "employee"})) return fail(403, "forbidden", "only staff change customer profiles");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
        auto key = idempotency_key();
        if (!key) return;
        v1::CustomerProfile profile;
        if (!parse_message(profile)) return;
        if (!profile.customer_id().empty() && profile.customer_id() != parts[2])
            return fail(422, "invalid_value", "customer_id in the body must match the path", "customer_id");
        return submit(commands::set_customer_profile(parts[2], profile.wholesale_eligible()), *key);
    }

    // POST /v1/checkout  (customer; Idempotency-Key; expected_total_minor required)
    if (path == "/v1/checkout") {
        if (req.method != "POST") return fail(405, "method_not_allowed", "use POST");
        if (claims->role != "customer") return fail(403, "forbidden", "only customers check out");
        auto key = idempotency_key();
        if (!key) return;
        v1::CartRequest body;
        if (!parse_message(body)) return;
        if (!body.has_expected_total_minor())
            return fail(400, "missing_field", "expected_total_minor (the total the customer saw) is required",
                        "expected_total_minor");
        auto cart = commands::cart_from(body);
        if (!cart) return fail(422, cart.error().code, cart.error().detail, cart.error().field);
        // Resolve the products' vendors so the batch can lock them too: from the cache,
        // or one read for the SKUs it does not know yet.
        std::vector<std::string> vendors, missing;
        {
            std::lock_guard lock(vendor_of_mu_);
            for (const auto& l : cart->lines) {
                auto it = vendor_of_.find(l.sku);
                if (it != vendor_of_.end()) vendors.push_back(it->second);
                else missing.push_back(catalog::product_stream(l.sku));
            }
        }
        if (!missing.empty()) {
            std::map<std::string, std::string> found;
            auto r = deps_.pool->transact([&](sql::Tx& tx) { found = journal::read_states(tx, missing); });
            if (!r) return fail(503, "storage_unavailable", r.error().message);
            std::lock_guard lock(vendor_of_mu_);
            if (vendor_of_.size() > kVendorOfMax) vendor_of_.clear();
            for (const auto& [stream, bytes] : found) {
                v1::ProductDefinition p;
                if (!p.ParseFromString(bytes)) continue;
                vendor_of_[p.sku()] = catalog::vendor_stream(p.vendor_id());
                vendors.push_back(vendor_of_[p.sku()]);
            }
        }
        v1::CartRequest shape = body;
        shape.clear_expected_total_minor();
        commands::CheckoutRequest c{*cart, claims->sub,
                                    commands::order_id_for(commands::command_id_for(claims->sub, *key)),
                                    body.expected_total_minor(), std::move(vendors),
                                    events::to_hex(events::sha256(shape.SerializeAsString()))};
        return submit(commands::checkout(std::move(c)), *key);
    }

    // Order listings, newest first, keyset-paginated: ?limit=&cursor= (cursor from the previous page).
    //   GET /v1/customers/{id}/orders  (the customer, admin, auditor, employee with orders.view)
    //   GET /v1/vendors/{id}/orders    (the vendor: its sub-orders only; staff likewise)
    //   GET /v1/orders?status=&vendor_id=&from_ms=&to_ms=  (admin, auditor, employee with orders.view)
    const bool customer_list = parts.size() == 4 && parts[1] == "customers" && parts[3] == "orders";
    const bool vendor_list = parts.size() == 4 && parts[1] == "vendors" && parts[3] == "orders";
    const bool admin_list = parts.size() == 2 && parts[1] == "orders";
    if (customer_list || vendor_list || admin_list) {
        if (req.method != "GET") return fail(405, "method_not_allowed", "use GET");
        auto caller = fresh_caller();
        if (!caller) return;
        const auto& p = caller->principal;
        const bool staff = p.role == "admin" || p.role == "auditor" ||
                           (p.role == "employee" && commands::has_permission(p.permissions, "orders", "view"));
        if (!admin_list && !valid_id(parts[2])) return fail(400, "invalid_path", "id must be 1-64 of [A-Za-z0-9._-]");
        const bool self = (customer_list && p.role == "customer" && p.id == parts[2]) ||
                          (vendor_list && p.role == "vendor" && p.id == parts[2]);
        if (!staff && !self) return fail(403, "forbidden", "you may not list these orders");
        auto limit = parse_count(query, "limit", 50, 200);
        if (!limit) return fail(400, "invalid_query", "limit must be 0..200", "limit");
        // Cursor "placed_at_ms.order_id": rows strictly older than it.
        std::string cursor_ms = std::to_string(INT64_MAX), cursor_id = "";
        if (auto c = query.find("cursor"); c != query.end()) {
            const auto dot = c->second.find('.');
            int64_t ms = 0;
            const auto* begin = c->second.data();
            if (dot == std::string::npos || std::from_chars(begin, begin + dot, ms).ec != std::errc())
                return fail(400, "invalid_query", "cursor is not one this API returned", "cursor");
            cursor_ms = std::to_string(ms);
            cursor_id = c->second.substr(dot + 1);
        }
        auto from = parse_count(query, "from_ms", 0, INT64_MAX);
        auto to = parse_count(query, "to_ms", INT64_MAX, INT64_MAX);
        if (!from || !to) return fail(400, "invalid_query", "from_ms and to_ms are unix milliseconds", "from_ms");
        const std::string status = query.contains("status") ? query.at("status") : "";
        const std::string vendor = vendor_list ? parts[2] : (query.contains("vendor_id") ? query.at("vendor_id") : "");
        json items = json::array();
        std::string next;
        auto r = deps_.pool->transact([&](sql::Tx& tx) {
            sql::Rows rows;
            const std::string page =
                " AND (o.placed_at_unix_ms, o.order_id) < ($2::bigint, $3)"
                " AND o.placed_at_unix_ms >= $4::bigint AND o.placed_at_unix_ms < $5::bigint"
                " AND ($6 = '' OR o.status = $6)"
                " ORDER BY o.placed_at_unix_ms DESC, o.order_id DESC LIMIT $7::bigint";
            const std::vector<sql::Param> args{customer_list ? parts[2] : vendor, cursor_ms, cursor_id,
                                               std::to_string(*from), std::to_string(*to), status,
                                               std::to_string(*limit)};
            if (!vendor.empty())
                // Vendors see their sub-order, never the order's totals or other vendors' lines.
                rows = tx.exec("SELECT o.order_id, o.placed_at_unix_ms, s.status, o.currency, s.goods_net_minor,"
                               " s.shipping_minor, s.commission_minor, s.payable_minor, o.customer_id"
                               " FROM sub_orders s JOIN orders o USING (order_id) WHERE s.vendor_id = $1" + page, args);
            else if (customer_list)
                rows = tx.exec("SELECT o.order_id, o.placed_at_unix_ms, o.status, o.currency, o.total_minor,"
                               " o.amount_due_minor, o.credit_applied_minor, o.zero_payment::int, o.customer_id"
                               " FROM orders o WHERE o.customer_id = $1" + page, args);
            else
                rows = tx.exec("SELECT o.order_id, o.placed_at_unix_ms, o.status, o.currency, o.total_minor,"
                               " o.amount_due_minor, o.credit_applied_minor, o.zero_payment::int, o.customer_id"
                               " FROM orders o WHERE $1 = ''" + page, args);
            for (const auto& row : rows) {
                json item = {{"order_id", row.str(0)}, {"placed_at_unix_ms", row.i64(1)}, {"status", row.str(2)},
                             {"currency", row.str(3)}};
                if (!vendor.empty()) {
                    item["vendor_id"] = vendor;
                    item["goods_net_minor"] = row.i64(4);
                    item["shipping_minor"] = row.i64(5);
                    item["commission_minor"] = row.i64(6);
                    item["payable_minor"] = row.i64(7);
                } else {
                    item["customer_id"] = row.str(8);
                    item["total_minor"] = row.i64(4);
                    item["amount_due_minor"] = row.i64(5);
                    item["credit_applied_minor"] = row.i64(6);
                    item["zero_payment"] = row.i64(7) == 1;
                }
                items.push_back(item);
            }
            if (static_cast<int64_t>(rows.size()) == *limit && !rows.empty())
                next = std::to_string(rows.back().i64(1)) + "." + rows.back().str(0);
        });
        if (!r) return fail(503, "storage_unavailable", r.error().message);
        json out = {{"orders", items}};
        out["next_cursor"] = next.empty() ? json(nullptr) : json(next);
        return respond(json_response(200, out));
    }

    // GET /v1/orders/{id}  (the customer, admin, auditor, employee with orders.view; a vendor sees its sub-order only)
    if (parts.size() == 3 && parts[1] == "orders") {
        if (req.method != "GET") return fail(405, "method_not_allowed", "use GET");
        auto caller = fresh_caller();
        if (!caller) return;
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "order id must be 1-64 of [A-Za-z0-9._-]", "order_id");
        std::optional<v1::OrderPlaced> placed;
        std::string status;
        auto r = deps_.pool->transact([&](sql::Tx& tx) {
            auto rows = tx.exec("SELECT status, detail FROM orders WHERE order_id = $1", {parts[2]});
            if (rows.empty()) return;
            status = rows[0].str(0);
            v1::OrderPlaced o;
            if (o.ParseFromString(rows[0].bytes(1))) placed = std::move(o);
        });
        if (!r) return fail(503, "storage_unavailable", r.error().message);
        if (!placed) return fail(404, "not_found", "no order " + parts[2] + " (it may not be projected yet)");
        const auto& p = caller->principal;
        const bool full = p.role == "admin" || p.role == "auditor" ||
                          (p.role == "employee" && commands::has_permission(p.permissions, "orders", "view")) ||
                          (p.role == "customer" && p.id == placed->customer_id());
        bool vendor_part = false;
        if (p.role == "vendor")
            for (const auto& so : placed->sub_orders()) vendor_part = vendor_part || so.vendor_id() == p.id;
        if (!full && !vendor_part) return fail(403, "forbidden", "you may not read this order");
        json lines = json::array(), subs = json::array();
        for (const auto& l : placed->pricing().lines())
            if (full || l.vendor_id() == p.id)
                lines.push_back({{"sku", l.sku()}, {"vendor_id", l.vendor_id()}, {"quantity", l.quantity()},
                                 {"unit_minor", l.unit_minor()}, {"net_minor", l.net_minor()},
                                 {"country_of_origin", l.country_of_origin()}});
        for (const auto& so : placed->sub_orders())
            if (full || so.vendor_id() == p.id)
                subs.push_back({{"vendor_id", so.vendor_id()}, {"status", so.status()},
                                {"goods_net_minor", so.goods_net_minor()}, {"shipping_minor", so.shipping_minor()},
                                {"commission_minor", so.commission_minor()}, {"payable_minor", so.payable_minor()}});
        json out = {{"order_id", placed->order_id()}, {"status", status}, {"currency", placed->pricing().currency()},
                    {"lines", lines}, {"sub_orders", subs}};
        if (full) {
            out["customer_id"] = placed->customer_id();
            out["total_minor"] = placed->pricing().total_minor();
            out["credit_applied_minor"] = placed->pricing().credit_applied_minor();
            out["amount_due_minor"] = placed->pricing().amount_due_minor();
            out["zero_payment"] = placed->zero_payment();
        }
        return respond(json_response(200, out));
    }

    // POST /v1/customers/{id}/credit-grants  (admin)
    if (parts.size() == 4 && parts[1] == "customers" && parts[3] == "credit-grants") {
        if (req.method != "POST") return fail(405, "method_not_allowed", "use POST");
        if (claims->role != "admin") return fail(403, "forbidden", "only admins grant store credit");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
        auto key = idempotency_key();
        if (!key) return;
        ObjectReader in(req.body);
        auto amount = in.int64("amount_minor");
        auto currency_code = in.string("currency", 3, 3);
        auto reason = in.string("reason", 1, 500);
        if (auto err = in.finish()) return fail(err->status, err->code, err->detail, err->field);
        if (*amount <= 0) return fail(422, "amount_must_be_positive", "amount_minor must be greater than zero", "amount_minor");
        auto currency = Currency::parse(*currency_code);
        if (!currency) return fail(422, "unknown_currency", *currency_code + " is not a supported ISO 4217 currency", "currency");

        credit::GrantCredit cmd{"", parts[2], Money{*amount, *currency}, *reason, claims->sub};
        return submit(commands::grant_credit(std::move(cmd), deps_.credit_policy), *key);
    }

    // GET /v1/customers/{id}/credit  (admin, auditor, employee with credit.view, the customer)
    if (parts.size() == 4 && parts[1] == "customers" && parts[3] == "credit") {
        if (req.method != "GET") return fail(405, "method_not_allowed", "use GET");
        if (!valid_id(parts[2])) return fail(400, "invalid_path", "customer id must be 1-64 of [A-Za-z0-9._-]", "customer_id");
        auto caller = fresh_caller();
        if (!caller) return;
        const auto& role = caller->principal.role;
        const bool allowed = role == "admin" || role == "auditor" ||
                             (role == "employee" && commands::has_permission(caller->principal.permissions, "credit", "view")) ||
                             (role == "customer" && caller->principal.id == parts[2]);
        if (!allowed) return fail(403, "forbidden", "you may not read this customer's credit");
        auto limit = parse_count(query, "limit", 50, 500);
        if (!limit) return fail(400, "invalid_query", "limit must be 0..500", "limit");
        json body = {{"customer_id", parts[2]}, {"currency", nullptr}, {"balance_minor", 0}, {"entries", json::array()}};
        auto r = deps_.pool->transact([&](sql::Tx& tx) {
            auto b = tx.exec("SELECT currency, balance_minor, entries_count, last_position FROM credit_balances"
                             " WHERE customer_id = $1", {parts[2]});
            if (!b.empty()) {
                body["currency"] = b[0].str(0);
                body["balance_minor"] = b[0].i64(1);
                body["entries_count"] = b[0].i64(2);
                body["as_of_position"] = b[0].i64(3);
            }
            for (const auto& e : tx.exec("SELECT position, event_id, kind, amount_minor, currency, balance_after_minor,"
                                         " reason, actor, occurred_at_unix_ms FROM credit_entries"
                                         " WHERE customer_id = $1 ORDER BY position DESC LIMIT $2",
                                         {parts[2], std::to_string(*limit)}))
                body["entries"].push_back({{"position", e.i64(0)}, {"event_id", e.str(1)}, {"kind", e.str(2)},
                                           {"amount_minor", e.i64(3)}, {"currency", e.str(4)},
                                           {"balance_after_minor", e.i64(5)}, {"reason", e.str(6)},
                                           {"actor", e.str(7)}, {"occurred_at_unix_ms", e.i64(8)}});
        });
        if (!r) return fail(503, "storage_unavailable", r.error().message);
        return respond(json_response(200, body));
    }

    // GET /v1/streams/{stream_id}/events  (auditor, admin)
    if (parts.size() == 4 && parts[1] == "streams" && parts[3] == "events") {
        if (req.method != "GET") return fail(405, "method_not_allowed", "use GET");
        auto caller = fresh_caller();
        if (!caller) return;
        if (caller->principal.role != "auditor" && caller->principal.role != "admin")
            return fail(403, "forbidden", "only auditors and admins read streams");
        if (parts[2].empty() || parts[2].size() > 200) return fail(400, "invalid_path", "stream id is 1-200 bytes", "stream_id");
        auto after = parse_count(query, "after_version", 0, INT64_MAX);
        auto limit = parse_count(query, "limit", 100, 1000);
        if (!after) return fail(400, "invalid_query", "after_version must be a non-negative integer", "after_version");
        if (!limit) return fail(400, "invalid_query", "limit must be 0..1000", "limit");
        std::vector<v1::EventEnvelope> events;
        auto r = deps_.pool->transact([&](sql::Tx& tx) { events = journal::read_stream(tx, parts[2], *after, *limit); });
        if (!r) return fail(503, "storage_unavailable", r.error().message);
        std::string out = "{\"stream_id\":" + json(parts[2]).dump() + ",\"events\":[";
        for (size_t i = 0; i < events.size(); ++i) {
            if (i) out += ",";
            out += events::envelope_to_json(events[i]);
        }
        out += "]";
        // The chain can be checked here only when the page starts at the stream's beginning.
        if (*after == 0) out += ",\"chain_valid\":" + std::string(events::verify_stream(events) ? "false" : "true");
        out += "}";
        return respond(Response{200, "application/json", out, {}});
    }

    // GET /v1/ledger/accounts  (auditor, admin)
    if (parts.size() == 3 && parts[1] == "ledger" && parts[2] == "accounts") {
        if (req.method != "GET") return fail(405, "method_not_allowed", "use GET");
        auto caller = fresh_caller();
        if (!caller) return;
        if (caller->principal.role != "auditor" && caller->principal.role != "admin")
            return fail(403, "forbidden", "only auditors and admins read the ledger");
        json body = {{"accounts", json::array()}, {"totals", json::object()}};
        std::map<std::string, std::pair<int64_t, int64_t>> totals;
        auto r = deps_.pool->transact([&](sql::Tx& tx) {
            for (const auto& a : tx.exec("SELECT account, currency, debit_minor, credit_minor, postings_count"
                                         " FROM ledger_accounts ORDER BY account, currency LIMIT 1000")) {
                body["accounts"].push_back({{"account", a.str(0)}, {"currency", a.str(1)}, {"debit_minor", a.i64(2)},
                                            {"credit_minor", a.i64(3)}, {"balance_minor", a.i64(2) - a.i64(3)},
                                            {"postings_count", a.i64(4)}});
                totals[a.str(1)].first += a.i64(2);
                totals[a.str(1)].second += a.i64(3);
            }
        });
        if (!r) return fail(503, "storage_unavailable", r.error().message);
        for (const auto& [cur, t] : totals)
            body["totals"][cur] = {{"debit_minor", t.first}, {"credit_minor", t.second}, {"balanced", t.first == t.second}};
        return respond(json_response(200, body));
    }

    // GET /v1/projections  (auditor, admin); POST /v1/projections/{name}/rebuild (admin)
    if (parts.size() >= 2 && parts[1] == "projections") {
        auto caller = fresh_caller();
        if (!caller) return;
        if (parts.size() == 2 && req.method == "GET") {
            if (caller->principal.role != "auditor" && caller->principal.role != "admin")
                return fail(403, "forbidden", "only auditors and admins read projector state");
            json body = {{"projectors", json::array()}};
            for (auto* r : deps_.runners) {
                auto l = r->lag();
                body["projectors"].push_back({{"name", r->name()}, {"running", r->running()}, {"lag_events", l.events},
                                              {"lag_seconds", l.seconds}, {"applied_position", l.applied_position}});
            }
            if (deps_.relay)
                body["relay"] = {{"leader", deps_.relay->leader()}, {"watermark_position", deps_.relay->watermark()},
                                 {"journal_head_position", deps_.relay->journal_head()}};
            return respond(json_response(200, body));
        }
        if (parts.size() == 4 && parts[3] == "rebuild" && req.method == "POST") {
            if (caller->principal.role != "admin") return fail(403, "forbidden", "only admins rebuild projections");
            projectors::Runner* runner = nullptr;
            for (auto* r : deps_.runners)
                if (r->name() == parts[2]) runner = r;
            if (!runner) return fail(404, "not_found", "no projector named " + parts[2]);
            // A rebuild takes a while: it runs on its own thread and answers when swapped in.
            std::lock_guard lock(rebuilds_mu_);
            std::erase_if(rebuilds_, [](Rebuild& r) {
                if (!r.done->load()) return false;
                r.thread.join();
                return true;
            });
            auto done = std::make_shared<std::atomic<bool>>(false);
            rebuilds_.push_back({std::thread([runner, respond, rid, done] {
                                     auto result = runner->rebuild();
                                     if (!result) respond(problem(409, "rebuild_refused", result.error(), "", rid));
                                     else respond(json_response(200, {{"projector", runner->name()},
                                                                      {"events_replayed", *result}}));
                                     *done = true;
                                 }),
                                 done});
            return;
        }
        return fail(404, "not_found", "no route for " + req.method + " " + path);
    }

    return fail(404, "not_found", "no route for " + req.method + " " + path);
}

}  // namespace tally::http
