#include "http/openapi.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "http/api.h"
#include "http/routes.h"

namespace tally::http {
namespace {

using nlohmann::json;
using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

std::string schema_ref(std::string_view schema) { return "#/components/schemas/" + std::string(schema); }

// A protobuf message as JSON Schema, the way parse_json_message reads it: proto field
// names, integers as JSON integers in the field's range, enums by name, no unknown fields.
void add_message(const Descriptor* d, json& schemas);

json field_schema(const FieldDescriptor* f, json& schemas) {
    switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32: return {{"type", "integer"}, {"format", "int32"}};
        case FieldDescriptor::CPPTYPE_INT64: return {{"type", "integer"}, {"format", "int64"}};
        case FieldDescriptor::CPPTYPE_UINT32: return {{"type", "integer"}, {"minimum", 0}, {"maximum", UINT32_MAX}};
        case FieldDescriptor::CPPTYPE_UINT64: return {{"type", "integer"}, {"minimum", 0}};
        case FieldDescriptor::CPPTYPE_BOOL: return {{"type", "boolean"}};
        case FieldDescriptor::CPPTYPE_DOUBLE:
        case FieldDescriptor::CPPTYPE_FLOAT: return {{"type", "number"}};
        case FieldDescriptor::CPPTYPE_STRING: return {{"type", "string"}};
        case FieldDescriptor::CPPTYPE_ENUM: {
            json names = json::array();
            for (int i = 0; i < f->enum_type()->value_count(); ++i) {
                const auto& n = f->enum_type()->value(i)->name();
                if (!n.ends_with("UNSPECIFIED")) names.push_back(n);
            }
            return {{"type", "string"}, {"enum", names}};
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
            add_message(f->message_type(), schemas);
            return {{"$ref", schema_ref(f->message_type()->full_name())}};
    }
    return json::object();
}

void add_message(const Descriptor* d, json& schemas) {
    if (schemas.contains(d->full_name())) return;
    schemas[d->full_name()] = json::object();  // a placeholder: messages may nest themselves
    json props = json::object();
    for (int i = 0; i < d->field_count(); ++i) {
        const FieldDescriptor* f = d->field(i);
        if (f->is_map()) {
            props[f->name()] = {{"type", "object"},
                                {"additionalProperties", field_schema(f->message_type()->map_value(), schemas)}};
        } else if (f->is_repeated()) {
            props[f->name()] = {{"type", "array"}, {"items", field_schema(f, schemas)}};
        } else {
            props[f->name()] = field_schema(f, schemas);
        }
    }
    schemas[d->full_name()] = {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
}

std::string reason(int status) {
    switch (status) {
        case 304: return "Not modified (If-None-Match names the current ETag)";
        case 400:
            return "Bad request: malformed JSON, a wrong type, an unknown field or query parameter, a bad path id "
                   "or a missing Idempotency-Key";
        case 401: return "Unauthenticated: no token, or one that is expired, forged or revoked (or a bad signature)";
        case 403: return "Forbidden: the caller's role or permissions do not allow it";
        case 404: return "Not found";
        case 409: return "Conflict: the current state forbids it (price_changed, out_of_stock, a state it cannot leave)";
        case 413: return "The request body is too large";
        case 415: return "The request body is not application/json";
        case 422:
            return "Unprocessable: a value is invalid (the problem names the field), or the Idempotency-Key was used "
                   "for another request (idempotency_key_reused)";
        case 429: return "Rate limited (Retry-After says when to retry)";
        case 500: return "Internal error";
        case 503: return "Unavailable: the database or the broker did not answer; retry with the same Idempotency-Key";
    }
    return "Status " + std::to_string(status);
}

std::string operation_id(const Route& r) {
    std::string id(r.method);
    std::transform(id.begin(), id.end(), id.begin(), [](unsigned char ch) { return std::tolower(ch); });
    bool upper = true;
    for (char ch : r.pattern.substr(r.pattern.rfind("/v1", 0) == 0 ? 3 : 0)) {
        if (ch == '/' || ch == '-' || ch == '_' || ch == '.') {
            upper = true;
        } else if (ch == '{') {
            id += "By";
            upper = true;
        } else if (ch != '}') {
            id += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
            upper = false;
        }
    }
    return id;
}

// The first path segment after /v1; a customer's or vendor's sub-resource goes with what
// it is about (orders, credit, loyalty, passport).
std::string tag(const Route& r) {
    const std::string_view p = r.pattern;
    if (p.rfind("/v1/", 0) != 0) return "operations";
    std::vector<std::string_view> segs;
    for (size_t at = 4; at <= p.size();) {
        size_t slash = p.find('/', at);
        if (slash == std::string_view::npos) slash = p.size();
        segs.push_back(p.substr(at, slash - at));
        at = slash + 1;
    }
    if ((segs[0] == "customers" || segs[0] == "vendors") && segs.size() >= 3) {
        const std::string_view sub = segs[2].substr(0, segs[2].find('-'));
        if (sub == "orders" || sub == "credit" || sub == "loyalty" || sub == "passport" || sub == "subscriptions")
            return std::string(sub);
        if (sub == "claims") return "orders";
    }
    return std::string(segs[0]);
}

json query_parameter(std::string_view name) {
    static const std::set<std::string_view> integers{"limit", "from_ms", "to_ms", "after_version"};
    json schema = integers.contains(name) ? json{{"type", "integer"}, {"minimum", 0}} : json{{"type", "string"}};
    std::string about;
    if (name == "limit") about = "How many items a page holds at most";
    else if (name == "cursor") about = "The next_cursor of the previous page";
    else about = "Filter by " + std::string(name);
    return {{"name", name}, {"in", "query"}, {"required", false}, {"description", about}, {"schema", schema}};
}

json success_content(const Route& r, std::string_view schema) {
    if (!schema.empty()) return {{"application/json", {{"schema", {{"$ref", schema_ref(schema)}}}}}};
    const json text = {{"schema", {{"type", "string"}}}};
    if (r.pattern == std::string_view("/console")) return {{"text/html", text}};
    if (r.pattern.rfind("/console/", 0) == 0) return {{"text/javascript", text}, {"text/css", text}};
    return {{"text/plain", {{"schema", {{"type", "string"}}}}}};
}

}  // namespace

std::set<int> documented_statuses(const Route& r) {
    std::set<int> s{r.doc.status, 500, 503};
    for (const auto& [status, schema] : r.doc.also) s.insert(status);
    if (r.gate == Gate::token) s.insert({401, 403, 429});
    if (r.gate == Gate::optional_token) s.insert({401, 429});
    if (r.gate == Gate::signature) s.insert(429);
    if (!r.doc.request.empty() || r.doc.idempotency == Idempotency::required) s.insert({400, 413, 415, 422});
    if (r.pattern.find('{') != std::string_view::npos || !r.doc.query.empty()) s.insert(400);
    s.insert(r.doc.errors.begin(), r.doc.errors.end());
    return s;
}

json openapi_document() {
    const json file = json::parse(openapi_schemas_json());
    json schemas = file.at("schemas");
    const json& examples = file.at("examples");
    json paths = json::object();
    const auto* pool = DescriptorPool::generated_pool();
    for (const Route& r : Api::routes()) {
        json op = {{"operationId", operation_id(r)}, {"summary", r.doc.summary}, {"tags", {tag(r)}}};
        json params = json::array();
        const std::string_view p = r.pattern;
        for (size_t at = p.find('{'); at != std::string_view::npos; at = p.find('{', at + 1)) {
            const auto name = p.substr(at + 1, p.find('}', at) - at - 1);
            params.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
        }
        for (auto q : r.doc.query) params.push_back(query_parameter(q));
        if (r.doc.idempotency != Idempotency::none)
            params.push_back({{"$ref", "#/components/parameters/IdempotencyKey" +
                                           std::string(r.doc.idempotency == Idempotency::required ? "" : "Optional")}});
        if (r.gate == Gate::signature && p.ends_with("stripe"))
            params.push_back({{"$ref", "#/components/parameters/StripeSignature"}});
        if (!params.empty()) op["parameters"] = params;

        const std::string key = std::string(r.method) + " " + std::string(r.pattern);
        if (!r.doc.request.empty()) {
            const std::string name(r.doc.request);
            if (const Descriptor* d = pool->FindMessageTypeByName(name)) add_message(d, schemas);
            if (!schemas.contains(name)) throw std::logic_error("no schema " + name + " for " + key);
            json media = {{"schema", {{"$ref", schema_ref(name)}}}};
            if (examples.contains(key) && examples[key].contains("request"))
                media["example"] = examples[key]["request"];
            op["requestBody"] = {{"required", !r.doc.body_optional},
                                 {"content", {{"application/json", media}}}};
        }

        json responses = json::object();
        for (int status : documented_statuses(r)) {
            json res = {{"description", status == r.doc.status ? std::string("OK") : reason(status)}};
            const auto also =
                std::find_if(r.doc.also.begin(), r.doc.also.end(), [&](const auto& a) { return a.first == status; });
            if (also != r.doc.also.end()) {
                if (!schemas.contains(also->second))
                    throw std::logic_error("no schema " + std::string(also->second) + " for " + key);
                res = {{"description", "OK: the route's other outcome (its summary says which)"},
                       {"content", success_content(r, also->second)}};
            } else if (status == r.doc.status) {
                if (!r.doc.response.empty() && !schemas.contains(r.doc.response))
                    throw std::logic_error("no schema " + std::string(r.doc.response) + " for " + key);
                res["content"] = success_content(r, r.doc.response);
                if (examples.contains(key) && examples[key].contains("response"))
                    res["content"].begin().value()["example"] = examples[key]["response"];
            } else if (status == 429) {
                res = {{"$ref", "#/components/responses/RateLimited"}};
            } else if (status != 304) {
                res["content"] = {{"application/problem+json", {{"schema", {{"$ref", schema_ref("Problem")}}}}}};
            }
            responses[std::to_string(status)] = res;
        }
        op["responses"] = responses;

        switch (r.gate) {
            case Gate::open: op["security"] = json::array(); break;
            case Gate::signature:
                op["security"] = {{{p.ends_with("stripe") ? "stripeSignature" : "paypalSignature", json::array()}}};
                break;
            case Gate::optional_token: op["security"] = {json::object(), {{"bearerAuth", json::array()}}}; break;
            case Gate::token: break;  // the document's default
        }
        std::string method(r.method);
        std::transform(method.begin(), method.end(), method.begin(), [](unsigned char ch) { return std::tolower(ch); });
        paths[std::string(r.pattern)][method] = op;
    }

    return {
        {"openapi", "3.1.0"},
        {"info",
         {{"title", "tally"},
          {"version", "1"},
          {"description", file.at("description")}}},
        {"servers", {{{"url", "/"}}}},
        {"security", {{{"bearerAuth", json::array()}}}},
        {"paths", paths},
        {"components",
         {{"schemas", schemas},
          {"securitySchemes",
           {{"bearerAuth",
             {{"type", "http"},
              {"scheme", "bearer"},
              {"bearerFormat", "JWT"},
              {"description", "A JWT signed by tally's keys or a configured identity provider (JWKS)"}}},
            {"stripeSignature",
             {{"type", "apiKey"},
              {"in", "header"},
              {"name", "Stripe-Signature"},
              {"description", "t=<unix seconds>,v1=<HMAC-SHA256 of \"t.body\" with the webhook secret>"}}},
            {"paypalSignature",
             {{"type", "apiKey"},
              {"in", "header"},
              {"name", "PAYPAL-TRANSMISSION-SIG"},
              {"description",
               "PayPal's transmission headers, verified with PayPal's verify-webhook-signature API"}}}}},
          {"parameters",
           {{"IdempotencyKey",
             {{"name", "Idempotency-Key"},
              {"in", "header"},
              {"required", true},
              {"description",
               "Names the command: a retry with the same key and body gets the first answer (Idempotent-Replayed: "
               "true); the same key with another body is refused (422 idempotency_key_reused)"},
              {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}}}},
            {"IdempotencyKeyOptional",
             {{"name", "Idempotency-Key"},
              {"in", "header"},
              {"required", false},
              {"description", "Needed when the call records something (a signed-in customer's visit)"},
              {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 255}}}}},
            {"StripeSignature",
             {{"name", "Stripe-Signature"},
              {"in", "header"},
              {"required", true},
              {"schema", {{"type", "string"}}}}}}},
          {"responses",
           {{"RateLimited",
             {{"description", reason(429)},
              {"headers",
               {{"Retry-After",
                 {{"description", "Seconds until a retry may pass"}, {"schema", {{"type", "integer"}}}}}}},
              {"content", {{"application/problem+json", {{"schema", {{"$ref", schema_ref("Problem")}}}}}}}}}}}}},
    };
}

}  // namespace tally::http
