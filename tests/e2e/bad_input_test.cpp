// The bad-input corpus: hostile requests generated from every route's fields (the
// request messages' own descriptors, and the hand-read bodies' field lists), sent to a
// real tallyd over a real socket. Each case asserts its 4xx status, its problem code,
// the field it names, that the journal and the idempotency records did not move, and
// that the server still answers /healthz. The corpus size is printed.
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>

#include <chrono>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "http/stripe.h"
#include "tally/v1/affiliate.pb.h"
#include "tally/v1/catalog.pb.h"
#include "tally/v1/checkout.pb.h"
#include "tally/v1/customer.pb.h"
#include "tally/v1/loyalty.pb.h"
#include "tally/v1/payment.pb.h"
#include "tally/v1/subscription.pb.h"
#include "tests/support/shop.h"

namespace tally {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

constexpr const char* kSecret = "whsec_corpus_0123456789";

struct Case {
    std::string name;
    std::string method, target, body;
    std::string who = "admin";  // whose token: admin, customer, none
    std::map<std::string, std::string> headers;  // replace the defaults (token, key, JSON type)
    int status = 400;
    std::string code;
    std::string field;  // the field the problem must name; empty: none required
};

// A route whose body is a protobuf message, parsed strictly from its descriptor.
struct MessageRoute {
    std::string method, target, who;
    const Descriptor* message;
};

// A route whose body is read field by field (http/json_input.h ObjectReader).
struct ReaderRoute {
    std::string method, target;
    json valid;  // every field present and good; mutations replace one
};

const std::vector<MessageRoute>& message_routes() {
    static const std::vector<MessageRoute> routes = {
        {"PUT", "/v1/vendors/ven-1", "admin", v1::VendorDefinition::descriptor()},
        {"PUT", "/v1/products/sku-1", "admin", v1::ProductDefinition::descriptor()},
        {"PUT", "/v1/catalog/settings", "admin", v1::CatalogSettings::descriptor()},
        {"PUT", "/v1/coupons/CODE1", "admin", v1::CouponDefinition::descriptor()},
        {"PUT", "/v1/customers/cus-1/profile", "admin", v1::CustomerProfile::descriptor()},
        {"POST", "/v1/quote", "customer", v1::CartRequest::descriptor()},
        {"POST", "/v1/checkout", "customer", v1::CartRequest::descriptor()},
        {"POST", "/v1/orders/ord-1/fulfilment", "admin", v1::FulfilmentRequest::descriptor()},
        {"POST", "/v1/orders/ord-1/cancel", "admin", v1::CancelRequest::descriptor()},
        {"POST", "/v1/orders/ord-1/refunds", "admin", v1::RefundRequest::descriptor()},
        {"POST", "/v1/orders/ord-1/payouts", "admin", v1::PayoutRequest::descriptor()},
        {"POST", "/v1/customers/cus-1/claims", "admin", v1::GuestClaimRequest::descriptor()},
        {"PUT", "/v1/loyalty/program", "admin", v1::LoyaltyProgram::descriptor()},
        {"PUT", "/v1/affiliates/aff-1", "admin", v1::AffiliateDefinition::descriptor()},
        {"PUT", "/v1/affiliates/payout-schedule", "admin", v1::AffiliatePayoutSchedule::descriptor()},
        {"POST", "/v1/subscriptions", "customer", v1::SubscriptionRequest::descriptor()},
        {"POST", "/v1/subscriptions/sub-1/changes", "customer", v1::SubscriptionChangeRequest::descriptor()},
        {"POST", "/v1/subscriptions/sub-1/pause", "customer", v1::SubscriptionPauseRequest::descriptor()},
        {"POST", "/v1/subscriptions/sub-1/cancel", "customer", v1::SubscriptionCancelRequest::descriptor()},
    };
    return routes;
}

const std::vector<ReaderRoute>& reader_routes() {
    static const std::vector<ReaderRoute> routes = {
        {"POST", "/v1/customers/cus-1/credit-grants", {{"amount_minor", 100}, {"currency", "USD"}, {"reason", "goodwill"}}},
        {"POST", "/v1/products/sku-1/stock-adjustments", {{"delta", 5}, {"reason", "received"}}},
    };
    return routes;
}

// One place in a request document where a value goes: the error path the server must
// name, and how to build a whole body around a value put there.
struct Slot {
    std::string path;
    std::function<json(json)> wrap;
    const FieldDescriptor* field;  // the scalar's field (for a map, its value field)
};

struct Container {
    std::string path;
    std::function<json(json)> wrap;
    bool array;
};

void walk(const Descriptor* d, const std::string& prefix, const std::function<json(json)>& wrap, int depth,
          std::vector<Slot>& slots, std::vector<Container>& containers) {
    if (depth > 4) return;
    for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* f = d->field(i);
        const std::string path = prefix.empty() ? f->name() : prefix + "." + f->name();
        auto here = [wrap, name = f->name()](json v) { return wrap(json{{name, std::move(v)}}); };
        if (f->is_map()) {
            containers.push_back({path, here, false});
            const FieldDescriptor* value = f->message_type()->map_value();
            auto entry = [here](json v) { return here(json{{"DE", std::move(v)}}); };
            if (value->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
                walk(value->message_type(), path + ".DE", entry, depth + 1, slots, containers);
            else
                slots.push_back({path + ".DE", entry, value});
        } else if (f->is_repeated()) {
            containers.push_back({path, here, true});
            auto element = [here](json v) { return here(json::array({std::move(v)})); };
            if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
                walk(f->message_type(), path + "[0]", element, depth + 1, slots, containers);
            else
                slots.push_back({path + "[0]", element, f});
        } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            containers.push_back({path, here, false});
            walk(f->message_type(), path, here, depth + 1, slots, containers);
        } else {
            slots.push_back({path, here, f});
        }
    }
}

struct Bad {
    std::string label;
    json value;
    int status;
    std::string code;
};

// What each kind of scalar must refuse.
std::vector<Bad> mutations(const FieldDescriptor* f, bool reader) {
    const std::string null_code = reader ? "missing_field" : "wrong_type";
    std::vector<Bad> out = {{"null", nullptr, 400, null_code}, {"object", json::object(), 400, "wrong_type"},
                            {"array", json::array(), 400, "wrong_type"}};
    switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
        case FieldDescriptor::CPPTYPE_INT64:
        case FieldDescriptor::CPPTYPE_UINT32:
        case FieldDescriptor::CPPTYPE_UINT64: {
            const bool narrow = f->cpp_type() == FieldDescriptor::CPPTYPE_INT32 || f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32;
            out.insert(out.end(), {{"number as string", "100", 400, "wrong_type"},
                                   {"decimal", json(1.0), 400, "wrong_type"},
                                   {"fraction", json(2.5), 400, "wrong_type"},
                                   {"exponent", json::parse("1e2"), 400, "wrong_type"},
                                   {"boolean", true, 400, "wrong_type"},
                                   {"beyond uint64", json::parse("99999999999999999999999"), 400, "wrong_type"},
                                   {"int64 overflow", json::parse("9223372036854775808"), 422, "invalid_value"}});
            const bool is_unsigned = f->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 || f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
            if (narrow) out.push_back({"32-bit overflow", json(int64_t{1} << (is_unsigned ? 32 : 31)), 422, "invalid_value"});
            if (is_unsigned) out.push_back({"negative unsigned", -1, 422, "invalid_value"});
            break;
        }
        case FieldDescriptor::CPPTYPE_BOOL:
            out.insert(out.end(), {{"yes", "yes", 400, "wrong_type"},
                                   {"true as string", "true", 400, "wrong_type"},
                                   {"one", 1, 400, "wrong_type"}});
            break;
        case FieldDescriptor::CPPTYPE_STRING:
            out.insert(out.end(), {{"number", 7, 400, "wrong_type"},
                                   {"boolean", false, 400, "wrong_type"},
                                   {"NUL", std::string("a\0b", 3), 422, "invalid_value"},
                                   {"control character", "a\x01" "b", 422, "invalid_value"},
                                   {"escape", "\x1b[31mred", 422, "invalid_value"},
                                   {"DEL", "a\x7f", 422, "invalid_value"}});
            break;
        case FieldDescriptor::CPPTYPE_ENUM:
            out.insert(out.end(), {{"unknown name", "NO_SUCH_VALUE", 422, "invalid_value"},
                                   {"number", 1, 400, "wrong_type"}});
            break;
        default: break;
    }
    return out;
}

// A value of the right type, for duplicate-key cases.
json good(const FieldDescriptor* f) {
    if (f->is_map()) return json::object();
    if (f->is_repeated()) return json::array();
    switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_BOOL: return true;
        case FieldDescriptor::CPPTYPE_STRING: return "x";
        case FieldDescriptor::CPPTYPE_ENUM: return f->enum_type()->value(f->enum_type()->value_count() - 1)->name();
        case FieldDescriptor::CPPTYPE_MESSAGE: return json::object();
        default: return 1;
    }
}

std::string nested(int depth) { return "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}"; }

// Document-level, header and media-type cases every body route shares.
void body_route_cases(const std::string& method, const std::string& target, const std::string& who, bool command,
                      bool reader, std::vector<Case>& out) {
    const std::string r = method + " " + target + ": ";
    for (const auto& [label, body] : std::vector<std::pair<std::string, std::string>>{
             {"empty body", ""}, {"array body", "[]"}, {"number body", "7"}, {"string body", "\"s\""},
             {"null body", "null"}, {"truncated", "{"}, {"trailing garbage", "{} x"}, {"single quotes", "{'a':1}"},
             {"invalid UTF-8", "{\"a\":\"\xff\xfe\"}"}, {"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}"},
             {"lone surrogate", "{\"a\":\"\\ud800\"}"}, {"deep nesting", nested(40)},
             {"very deep nesting", std::string(5000, '[')}, {"comment", "{/* c */}"}})
        out.push_back({r + label, method, target, body, who, {}, 400, "malformed_json", ""});
    // (A read body reports its first missing field before extras: its "extra field" case sends a whole body.)
    if (!reader)
        out.push_back({r + "unknown field", method, target, R"({"no_such_field":1})", who, {}, 400, "unknown_field",
                       "no_such_field"});
    out.push_back({r + "duplicate unknown key", method, target, R"({"zz":1,"zz":2})", who, {}, 400, "duplicate_key", "zz"});
    out.push_back({r + "huge string", method, target, json{{"a", std::string(70000, 'x')}}.dump(), who, {}, 413,
                   "body_too_large", ""});
    for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                             "application/jsonp", "application/json-patch+json", "json", ""})
        out.push_back({r + "Content-Type " + (*type ? type : "missing"), method, target, "{}", who,
                       {{"Content-Type", type}}, 415, "unsupported_media_type", "Content-Type"});
    for (const auto& [header, value] : std::vector<std::pair<std::string, std::string>>{
             {"X-Request-Id", "a\xff"}, {"Authorization", "Bearer \xff"}, {"X-Anything", "\xc3"}})
        out.push_back({r + header + " not UTF-8", method, target, "{}", who, {{header, value}}, 400, "invalid_header",
                       header});
    if (!command) return;  // the rest is about Idempotency-Key
    out.push_back({r + "no Idempotency-Key", method, target, "{}", who, {{"Idempotency-Key", ""}}, 400,
                   "idempotency_key_required", "Idempotency-Key"});
    for (const auto& [label, key] : std::vector<std::pair<std::string, std::string>>{
             {"256-byte key", std::string(256, 'k')}, {"tab in key", "a\tb"}, {"non-ASCII key", "cl\xc3\xa9"}})
        out.push_back({r + label, method, target, "{}", who, {{"Idempotency-Key", key}}, 400, "invalid_idempotency_key",
                       "Idempotency-Key"});
    out.push_back({r + "Idempotency-Key not UTF-8", method, target, "{}", who, {{"Idempotency-Key", "k\xff"}}, 400,
                   "invalid_header", "Idempotency-Key"});
}

std::vector<Case> corpus() {
    std::vector<Case> out;
    for (const auto& route : message_routes()) {
        std::vector<Slot> slots;
        std::vector<Container> containers;
        walk(route.message, "", [](json v) { return v; }, 0, slots, containers);
        const std::string r = route.method + " " + route.target + ": ";
        for (const auto& slot : slots)
            for (const auto& bad : mutations(slot.field, false))
                out.push_back({r + slot.path + " " + bad.label, route.method, route.target, slot.wrap(bad.value).dump(),
                               route.who, {}, bad.status, bad.code, slot.path});
        for (const auto& c : containers) {
            out.push_back({r + c.path + " scalar for a container", route.method, route.target, c.wrap("x").dump(),
                           route.who, {}, 400, "wrong_type", c.path});
            out.push_back({r + c.path + " wrong container", route.method, route.target,
                           c.wrap(c.array ? json::object() : json::array()).dump(), route.who, {}, 400, "wrong_type", c.path});
            if (c.array)
                out.push_back({r + c.path + " null element", route.method, route.target,
                               c.wrap(json::array({nullptr})).dump(), route.who, {}, 400, "wrong_type", c.path + "[0]"});
        }
        for (int i = 0; i < route.message->field_count(); ++i) {
            const FieldDescriptor* f = route.message->field(i);
            const std::string v = good(f).dump();
            out.push_back({r + f->name() + " twice", route.method, route.target,
                           "{\"" + f->name() + "\":" + v + ",\"" + f->name() + "\":" + v + "}", route.who, {}, 400,
                           "duplicate_key", f->name()});
            // protobuf's JSON also takes lowerCamelCase names: this API does not.
            if (f->json_name() != f->name())
                out.push_back({r + f->json_name() + " (camelCase)", route.method, route.target,
                               "{\"" + f->json_name() + "\":" + v + "}", route.who, {}, 400, "unknown_field",
                               f->json_name()});
        }
        body_route_cases(route.method, route.target, route.who, route.target != "/v1/quote", false, out);
    }
    for (const auto& route : reader_routes()) {
        const std::string r = route.method + " " + route.target + ": ";
        // The reader's fields are int64 or text: the same mutations as such proto fields.
        for (const auto& [name, value] : route.valid.items()) {
            const FieldDescriptor* kind = value.is_number() ? v1::CartLineRequest::descriptor()->FindFieldByName("quantity")
                                                            : v1::CartLineRequest::descriptor()->FindFieldByName("sku");
            for (const auto& bad : mutations(kind, true)) {
                if (bad.label == "32-bit overflow") continue;  // the reader's integers are int64
                json body = route.valid;
                body[name] = bad.value;
                out.push_back({r + name + " " + bad.label, route.method, route.target, body.dump(), "admin", {},
                               bad.status, bad.code, name});
            }
            json missing = route.valid;
            missing.erase(name);
            out.push_back({r + name + " missing", route.method, route.target, missing.dump(), "admin", {}, 400,
                           "missing_field", name});
            std::string twice = route.valid.dump();
            twice.insert(1, "\"" + name + "\":" + value.dump() + ",");
            out.push_back({r + name + " twice", route.method, route.target, twice, "admin", {}, 400, "duplicate_key", name});
        }
        json extra = route.valid;
        extra["note"] = "x";
        out.push_back({r + "extra field", route.method, route.target, extra.dump(), "admin", {}, 400, "unknown_field", "note"});
        body_route_cases(route.method, route.target, "admin", true, true, out);
    }

    // Ids in paths.
    const std::vector<std::string> bad_ids = {".", "..", "...", std::string(65, 'a'), "%2e%2e", "a%00b", "%C3%A9t",
                                              "a:b", "a!b", "~x", "a%2Fb", "a+b"};
    const std::vector<std::tuple<std::string, std::string, std::string, std::string>> id_routes = {
        {"POST", "/v1/customers/{}/credit-grants", "customer_id", "admin"},
        {"GET", "/v1/customers/{}/credit", "customer_id", "admin"},
        {"GET", "/v1/customers/{}/orders", "customer_id", "admin"},
        {"PUT", "/v1/customers/{}/profile", "customer_id", "admin"},
        {"GET", "/v1/vendors/{}/orders", "vendor_id", "admin"},
        {"PUT", "/v1/vendors/{}", "vendor_id", "admin"},
        {"PUT", "/v1/products/{}", "sku", "admin"},
        {"GET", "/v1/products/{}", "sku", "admin"},
        {"GET", "/v1/vendors/{}", "vendor_id", "admin"},
        {"POST", "/v1/products/{}/stock-adjustments", "sku", "admin"},
        {"PUT", "/v1/coupons/{}", "code", "admin"},
        {"GET", "/v1/orders/{}", "order_id", "admin"},
        {"POST", "/v1/orders/{}/fulfilment", "order_id", "admin"},
        {"POST", "/v1/orders/{}/cancel", "order_id", "admin"},
        {"POST", "/v1/orders/{}/refunds", "order_id", "admin"},
        {"POST", "/v1/orders/{}/payouts", "order_id", "admin"},
        {"POST", "/v1/customers/{}/claims", "customer_id", "admin"},
        {"PUT", "/v1/vendors/{}/wholesale-customers/cus-1", "vendor_id", "admin"},
        {"PUT", "/v1/vendors/ven-1/wholesale-customers/{}", "customer_id", "admin"},
        {"GET", "/v1/customers/{}/loyalty", "customer_id", "admin"},
        {"GET", "/v1/customers/{}/passport", "customer_id", "admin"},
        {"PUT", "/v1/affiliates/{}", "affiliate_id", "admin"},
        {"GET", "/v1/affiliates/{}", "affiliate_id", "admin"},
        {"GET", "/v1/affiliates/{}/balance", "affiliate_id", "admin"},
        {"GET", "/v1/affiliates/{}/conversions", "affiliate_id", "admin"},
        {"GET", "/v1/affiliates/{}/payouts", "affiliate_id", "admin"},
    };
    for (const auto& [method, pattern, field, who] : id_routes)
        for (const auto& id : bad_ids) {
            std::string target = pattern;
            target.replace(target.find("{}"), 2, id);
            out.push_back({method + " " + target, method, target, method == "GET" ? "" : "{}", who, {}, 400,
                           "invalid_path", field});
        }
    for (const char* id : {"abc", "-1", "0", "1.5", "99999999999999999999", "1e3", "%31"})
        out.push_back({std::string("POST dead letter ") + id, "POST", std::string("/v1/operator/dead-letters/") + id + "/retry",
                       "", "admin", {}, 400, "invalid_path", "id"});

    // Query parameters.
    const std::vector<std::tuple<std::string, std::string, std::string>> queries = {
        {"/v1/customers/cus-1/credit?limit=", "limit", ""},
        {"/v1/customers/cus-1/orders?limit=", "limit", ""},
        {"/v1/vendors/ven-1/orders?limit=", "limit", ""},
        {"/v1/orders?limit=", "limit", ""},
        {"/v1/orders?from_ms=", "from_ms", ""},
        {"/v1/streams/credit-cus-1/events?after_version=", "after_version", ""},
        {"/v1/streams/credit-cus-1/events?limit=", "limit", ""},
        {"/v1/operator/dead-letters?limit=", "limit", ""},
        {"/v1/operator/flagged-signals?limit=", "limit", ""},
        {"/v1/operator/external-refunds?limit=", "limit", ""},
        {"/v1/products?limit=", "limit", ""},
        {"/v1/vendors?limit=", "limit", ""},
        {"/v1/coupons?limit=", "limit", ""},
    };
    for (const auto& [prefix, field, unused] : queries)
        for (const char* v : {"-1", "abc", "1e2", "99999999999999999999", "", "1.0", "0x10", "%31", "2000", "+5"}) {
            if (std::string(v) == "2000" && field != "limit") continue;  // beyond every limit's maximum only
            out.push_back({"GET " + prefix + v, "GET", prefix + v, "", "admin", {}, 400, "invalid_query", field});
        }
    for (const char* cursor : {"x", "12", "12.", "abc.ord-1", "12.%2e", "12...", "-.x"})
        out.push_back({std::string("GET orders cursor ") + cursor, "GET", std::string("/v1/orders?cursor=") + cursor,
                       "", "admin", {}, 400, "invalid_query", "cursor"});
    for (const std::string& status : std::vector<std::string>{"PAID", "paid!", "%70aid", std::string(40, 'a')})
        out.push_back({"GET orders status " + status, "GET", "/v1/orders?status=" + status,
                       "", "admin", {}, 400, "invalid_query", "status"});
    for (const char* fulfilment : {"SHIPPED", "lost", "shipped%20", "partially-shipped"})
        out.push_back({std::string("GET orders fulfilment ") + fulfilment, "GET",
                       std::string("/v1/orders?fulfilment_status=") + fulfilment, "", "admin", {}, 400, "invalid_query",
                       "fulfilment_status"});
    for (const char* vendor : {"..", "a:b", "%2e"})
        out.push_back({std::string("GET orders vendor ") + vendor, "GET", std::string("/v1/orders?vendor_id=") + vendor,
                       "", "admin", {}, 400, "invalid_query", "vendor_id"});
    for (const char* vendor : {"..", "a:b", "%2e", ""})
        out.push_back({std::string("GET products vendor ") + vendor, "GET", std::string("/v1/products?vendor_id=") + vendor,
                       "", "admin", {}, 400, "invalid_query", "vendor_id"});
    for (const char* origin : {"dk", "DNK", "D", "D1", "", "%44%4B%4B"})
        out.push_back({std::string("GET products origin ") + origin, "GET",
                       std::string("/v1/products?country_of_origin=") + origin, "", "admin", {}, 400, "invalid_query",
                       "country_of_origin"});
    for (const char* target : {"/v1/products?vendor=ven-1", "/v1/products?sku=a", "/v1/vendors?currency=USD",
                               "/v1/coupons?code=X", "/v1/products/lamp?fields=all"})
        out.push_back({std::string("GET unknown query ") + target, "GET", target, "", "admin", {}, 400, "invalid_query",
                       std::string(target).substr(std::string(target).find('?') + 1,
                                                   std::string(target).find('=') - std::string(target).find('?') - 1)});
    for (const char* customer : {"..", ".", "a:b", "%2e%2e"})
        out.push_back({std::string("POST quote for ") + customer, "POST", std::string("/v1/quote?customer_id=") + customer,
                       "{}", "admin", {}, 400, "invalid_query", "customer_id"});

    // Tokens.
    for (const auto& [label, value] : std::vector<std::pair<std::string, std::string>>{
             {"no scheme", "abc"}, {"basic", "Basic YWRtaW46YWRtaW4="}, {"empty bearer", "Bearer "},
             {"garbage bearer", "Bearer a.b.c"}, {"bearer none alg", "Bearer eyJhbGciOiJub25lIn0.e30."},
             {"lower-case scheme", "bearer x"}})
        out.push_back({"Authorization " + label, "GET", "/v1/ledger/accounts", "", "none", {{"Authorization", value}},
                       401, "unauthenticated", ""});
    return out;
}

struct Corpus : testing::Shop {
    Corpus() : testing::Shop(std::map<std::string, std::string>{{"TALLY_STRIPE_WEBHOOK_SECRETS", kSecret}}) {
        customer = testing::token_for(url, "cus-1", "customer");
    }
    std::string customer;

    int64_t written() { return number("SELECT (SELECT count(*) FROM journal) + (SELECT count(*) FROM idempotency)"); }

    http::ClientResponse run(const Case& c, int seq) {
        std::map<std::string, std::string> h;
        if (c.who == "admin") h["Authorization"] = "Bearer " + admin;
        if (c.who == "customer") h["Authorization"] = "Bearer " + customer;
        h["Idempotency-Key"] = "corpus-" + std::to_string(seq);
        for (const auto& [k, v] : c.headers) h[k] = v;
        if (auto k = h.find("Idempotency-Key"); k != h.end() && k->second.empty()) h.erase(k);
        return client->request(c.method, c.target, c.body, h);
    }

    // A signed webhook: the signature is right, the content is hostile.
    http::ClientResponse webhook(const std::string& body) {
        const int64_t t = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
        return client->request("POST", "/v1/webhooks/stripe", body,
                               {{"Stripe-Signature", "t=" + std::to_string(t) + ",v1=" + http::stripe::sign_v1(kSecret, t, body)}});
    }
};

// What a refusal may never show: parser or database internals.
void expect_no_internals(const std::string& body, const std::string& name) {
    for (const char* leak : {"TYPE_", "Proto field", "portal", "invalid byte sequence", "syntax error", "pqxx",
                             "parse_error", "type_error", "SQLSTATE"})
        EXPECT_EQ(body.find(leak), std::string::npos) << name << " leaks internals: " << body;
}

}  // namespace

TEST(BadInputCorpus, EveryRouteRefusesHostileInputNamingTheFieldAndWritesNothing) {
    Corpus shop;
    const auto cases = corpus();
    ASSERT_GE(cases.size(), 600u);
    const int64_t before = shop.written();
    int seq = 0, passed = 0;
    std::map<int, int> by_status;
    for (const auto& c : cases) {
        auto r = shop.run(c, ++seq);
        bool ok = r.status == c.status;
        EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
        json problem = json::parse(r.body, nullptr, false);
        ok = ok && problem.is_object() && problem.value("title", "") == c.code;
        EXPECT_EQ(problem.is_object() ? problem.value("title", "") : "", c.code) << c.name << ": " << r.body;
        EXPECT_EQ(r.headers["content-type"], "application/problem+json") << c.name;
        if (!c.field.empty()) {
            ok = ok && problem.is_object() && problem.value("field", "") == c.field;
            EXPECT_EQ(problem.is_object() ? problem.value("field", "") : "", c.field) << c.name << ": " << r.body;
        }
        expect_no_internals(r.body, c.name);
        if (c.status == 401) {
            EXPECT_EQ(r.headers["www-authenticate"].rfind("Bearer", 0), 0u) << c.name;
        }
        EXPECT_EQ(shop.written(), before) << c.name << " wrote something";
        ASSERT_EQ(shop.client->request("GET", "/healthz").status, 200) << "the server stopped answering after " << c.name;
        passed += ok;
        ++by_status[r.status];
    }
    std::string summary;
    for (const auto& [status, n] : by_status) summary += " " + std::to_string(status) + "x" + std::to_string(n);
    std::cout << "[corpus] " << cases.size() << " hostile requests over every route: " << passed << " refused as expected;"
              << summary << "\n";
    EXPECT_EQ(passed, static_cast<int>(cases.size()));

    // The routes still take good input: the corpus refused for the right reasons.
    auto good = shop.send("POST", "/v1/customers/cus-1/credit-grants",
                          {{"amount_minor", 100}, {"currency", "USD"}, {"reason", "goodwill"}}, shop.admin);
    EXPECT_EQ(good.status, 201) << good.body;
    auto charset = shop.client->request("PUT", "/v1/customers/cus-1/profile", R"({"wholesale_eligible":true})",
                                        {{"Authorization", "Bearer " + shop.admin}, {"Idempotency-Key", "cs-1"},
                                         {"Content-Type", "Application/JSON; charset=utf-8"}});
    EXPECT_EQ(charset.status, 200) << charset.body;
}

// Finding 6: a correctly signed webhook with a hostile id was a 500 (and the provider
// would have retried it for days); now a 400 that names the field.
TEST(BadInputCorpus, SignedWebhooksWithHostileIdsAre400) {
    Corpus shop;
    const int64_t before = shop.written();
    int cases = 0;
    const std::vector<std::string> bad = {std::string("evt\0x", 5), "evt 1", "evt\x01", std::string(201, 'e'), "",
                                          "\xc3\xa9vt", "evt\x7f", "evt\t1"};
    auto event = [](json id, json object_id, json intent) {
        return json{{"id", id}, {"type", "charge.refunded"},
                    {"data", {{"object", {{"id", object_id}, {"payment_intent", intent}, {"amount_refunded", 100},
                                          {"currency", "usd"}}}}}};
    };
    for (const auto& b : bad) {
        for (const auto& [body, field] : std::vector<std::pair<json, std::string>>{
                 {event(b, "ch_1", "pi_1"), "id"},
                 {event("evt_ok", b.empty() ? " " : b, "pi_1"), "data.object.id"},
                 {event("evt_ok", "ch_1", b.empty() ? " " : b), "data.object.payment_intent"}}) {
            auto r = shop.webhook(body.dump());
            ++cases;
            EXPECT_EQ(r.status, 400) << body.dump() << ": " << r.body;
            auto p = json::parse(r.body, nullptr, false);
            EXPECT_EQ(p.value("title", ""), "invalid_event") << r.body;
            EXPECT_EQ(p.value("field", ""), field) << r.body;
            expect_no_internals(r.body, body.dump());
        }
    }
    for (const auto& [label, body] : std::vector<std::pair<std::string, std::string>>{
             {"id as number", R"({"id":7,"type":"charge.refunded","data":{"object":{}}})"},
             {"no data", R"({"id":"evt_1","type":"charge.refunded"})"},
             {"not JSON", "{"}}) {
        auto r = shop.webhook(body);
        ++cases;
        EXPECT_EQ(r.status, 400) << label << ": " << r.body;
    }
    auto unsigned_one = shop.client->request("POST", "/v1/webhooks/stripe", event("evt_1", "ch_1", "pi_1").dump(),
                                             {{"Stripe-Signature", "t=1,v1=00"}});
    EXPECT_EQ(unsigned_one.status, 400);
    EXPECT_EQ(shop.written(), before);
    EXPECT_EQ(shop.client->request("GET", "/healthz").status, 200);
    std::cout << "[corpus] " << cases + 1 << " hostile signed webhooks refused with 400\n";
}

}  // namespace tally
