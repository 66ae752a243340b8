// The OpenAPI document (GET /openapi.json) against the server that serves it:
// - every route dispatched is documented, and every documented route is dispatched;
// - every answer any e2e test receives (this binary's HTTP client sees them all) has a
//   status its route documents, and a body its schema admits (the success schema, or the
//   problem document);
// - the document's examples match their schemas;
// - a TypeScript client generated from the document (openapi-typescript-codegen, pinned in
//   tests/openapi/package.json) checks out and reads the order back, after Redocly's
//   linter has validated the document (tests/openapi/client_check.sh).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/api.h"
#include "http/client.h"
#include "http/openapi.h"
#include "http/routes.h"
#include "tests/support/provider_shop.h"

namespace tally {
namespace {

using nlohmann::json;

// The JSON Schema the document uses: type (one or a list), properties, required, items,
// additionalProperties, enum, minimum, minLength, maxLength and $ref into its components.
std::string violation(const json& schema, const json& value, const std::string& at, const json& components) {
    if (schema.contains("$ref")) {
        const std::string name = schema["$ref"].get<std::string>().substr(std::string("#/components/schemas/").size());
        if (!components.contains(name)) return at + ": no schema " + name;
        return violation(components[name], value, at, components);
    }
    if (schema.contains("type")) {
        const json types = schema["type"].is_array() ? schema["type"] : json::array({schema["type"]});
        bool ok = false;
        for (const auto& t : types) {
            const std::string type = t;
            ok = ok || (type == "object" && value.is_object()) || (type == "array" && value.is_array()) ||
                 (type == "string" && value.is_string()) || (type == "integer" && value.is_number_integer()) ||
                 (type == "number" && value.is_number()) || (type == "boolean" && value.is_boolean()) ||
                 (type == "null" && value.is_null());
        }
        if (!ok) return at + ": " + value.dump().substr(0, 80) + " is not of type " + types.dump();
    }
    if (schema.contains("enum") && std::find(schema["enum"].begin(), schema["enum"].end(), value) == schema["enum"].end())
        return at + ": " + value.dump() + " is not one of " + schema["enum"].dump();
    if (schema.contains("minimum") && value.is_number() && value.get<double>() < schema["minimum"].get<double>())
        return at + ": below the minimum";
    if (value.is_string()) {
        const size_t n = value.get_ref<const std::string&>().size();
        if (schema.contains("minLength") && n < schema["minLength"].get<size_t>()) return at + ": too short";
        if (schema.contains("maxLength") && n > schema["maxLength"].get<size_t>()) return at + ": too long";
    }
    if (value.is_object()) {
        for (const auto& r : schema.value("required", json::array()))
            if (!value.contains(r.get<std::string>())) return at + ": lacks " + r.get<std::string>();
        const json props = schema.value("properties", json::object());
        for (const auto& [k, v] : value.items()) {
            if (props.contains(k)) {
                if (auto e = violation(props[k], v, at + "." + k, components); !e.empty()) return e;
            } else if (schema.contains("additionalProperties")) {
                const json& extra = schema["additionalProperties"];
                if (extra.is_boolean() && !extra.get<bool>()) return at + ": " + k + " is not documented";
                if (extra.is_object())
                    if (auto e = violation(extra, v, at + "." + k, components); !e.empty()) return e;
            }
        }
    }
    if (value.is_array() && schema.contains("items"))
        for (size_t i = 0; i < value.size(); ++i)
            if (auto e = violation(schema["items"], value[i], at + "[" + std::to_string(i) + "]", components); !e.empty())
                return e;
    return "";
}

std::string lower(std::string text) {
    for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return text;
}

const json& document() {
    static const json doc = http::openapi_document();
    return doc;
}

// Checks every answer this process receives against the document; with
// TALLY_TEST_RESPONSE_LOG=file it also writes each as a JSON line (method, route, status,
// body), which is how the response schemas were first drawn from what the server answers.
class AnswersMatchTheDocument : public ::testing::Environment {
public:
    void SetUp() override {
        static std::mutex mu;
        static std::ofstream log;
        if (const char* path = std::getenv("TALLY_TEST_RESPONSE_LOG")) log.open(path, std::ios::app);
        http::Client::observe([](const std::string& method, const std::string& target, const http::ClientResponse& r) {
            const http::Route* route = http::match_route(method, target);
            if (!route || r.status == 0) return;  // another server (a fake provider), or no answer
            const json body = json::parse(r.body, nullptr, false);
            if (log.is_open()) {
                std::lock_guard lock(mu);
                log << json{{"method", method}, {"route", route->pattern}, {"status", r.status},
                            {"body", body.is_discarded() ? json(r.body.substr(0, 200)) : body}}.dump()
                    << "\n" << std::flush;
            }
            const std::string what = method + " " + target.substr(0, target.find('?')) + " answered " +
                                     std::to_string(r.status) + ": ";
            if (!http::documented_statuses(*route).contains(r.status)) {
                ADD_FAILURE() << what << "a status its route does not document\n" << r.body.substr(0, 300);
                return;
            }
            const json& op = document()["paths"][std::string(route->pattern)][lower(method)];
            const json& res = op["responses"][std::to_string(r.status)];
            if (!res.contains("content")) return;
            for (const auto& [type, media] : res["content"].items()) {
                if (type.find("json") == std::string::npos) return;  // text: nothing to check
                if (body.is_discarded()) {
                    ADD_FAILURE() << what << "not JSON\n" << r.body.substr(0, 300);
                    return;
                }
                if (auto e = violation(media["schema"], body, "body", document()["components"]["schemas"]); !e.empty())
                    ADD_FAILURE() << what << e << "\n" << r.body.substr(0, 600);
                return;
            }
        });
    }
};

const bool registered = (::testing::AddGlobalTestEnvironment(new AnswersMatchTheDocument), true);

TEST(OpenApi, EveryDispatchedRouteIsDocumentedAndEveryDocumentedRouteIsDispatched) {
    testing::Shop shop;
    const auto got = shop.client->request("GET", "/openapi.json");
    ASSERT_EQ(got.status, 200);
    EXPECT_EQ(got.headers.at("content-type"), "application/json");
    EXPECT_EQ(shop.client->request("GET", "/openapi.json", "", {{"If-None-Match", got.headers.at("etag")}}).status, 304);
    const json doc = json::parse(got.body);
    EXPECT_EQ(doc["openapi"], "3.1.0");

    // The table dispatches: each of its routes is in the document, once.
    size_t operations = 0;
    for (const auto& [path, item] : doc["paths"].items()) operations += item.size();
    EXPECT_EQ(operations, http::Api::routes().size());
    for (const auto& r : http::Api::routes()) {
        const std::string m = lower(std::string(r.method));
        EXPECT_TRUE(doc["paths"].contains(std::string(r.pattern)) && doc["paths"][std::string(r.pattern)].contains(m))
            << r.method << " " << r.pattern << " is dispatched but not documented";
    }
    // And the server answers each documented operation as a route of its own (whatever
    // the answer: no token, a missing resource), never "no route" or a wrong method.
    for (const auto& [path, item] : doc["paths"].items())
        for (const auto& [method, op] : item.items()) {
            std::string target = path, upper = method;
            for (size_t at; (at = target.find('{')) != std::string::npos;)
                target.replace(at, target.find('}', at) - at + 1, "x1");
            for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            const auto r = shop.client->request(upper, target, upper == "GET" || upper == "DELETE" ? "" : "{}");
            EXPECT_NE(r.status, 405) << upper << " " << path;
            EXPECT_EQ(r.body.find("no route for"), std::string::npos) << upper << " " << path << " is documented, not dispatched";
        }
    // A body the handler may go without is documented as optional (an operator act's reason).
    EXPECT_FALSE(doc["paths"]["/v1/principals/{principal}/revoke"]["post"]["requestBody"]["required"].get<bool>());
    EXPECT_FALSE(doc["paths"]["/v1/projections/{name}/rebuild"]["post"]["requestBody"]["required"].get<bool>());
    EXPECT_TRUE(doc["paths"]["/v1/checkout"]["post"]["requestBody"]["required"].get<bool>());
    // Nothing else answers: a path the document lacks has no route.
    const auto none = shop.client->request("GET", "/v1/not-a-route");
    EXPECT_EQ(none.status, 404);
    EXPECT_NE(none.body.find("no route for"), std::string::npos);
}

TEST(OpenApi, EveryRefResolvesAndEveryExampleMatchesItsSchema) {
    const json& doc = document();
    const json& schemas = doc["components"]["schemas"];
    std::function<void(const json&, const std::string&)> refs = [&](const json& v, const std::string& at) {
        if (v.is_object()) {
            if (v.contains("$ref")) {
                const std::string ref = v["$ref"];
                const auto slash = ref.rfind('/');
                const std::string section = ref.substr(std::string("#/components/").size(), slash - std::string("#/components/").size());
                EXPECT_TRUE(doc["components"][section].contains(ref.substr(slash + 1))) << at << ": " << ref;
            }
            for (const auto& [k, x] : v.items()) refs(x, at + "/" + k);
        } else if (v.is_array()) {
            for (const auto& x : v) refs(x, at);
        }
    };
    refs(doc, "");
    int examples = 0;
    for (const auto& [path, item] : doc["paths"].items())
        for (const auto& [method, op] : item.items()) {
            if (op.contains("requestBody"))
                for (const auto& [type, media] : op["requestBody"]["content"].items())
                    if (media.contains("example")) {
                        ++examples;
                        EXPECT_EQ(violation(media["schema"], media["example"], "example", schemas), "") << method << " " << path;
                    }
            for (const auto& [status, res] : op["responses"].items()) {
                const json content = res.value("content", json::object());
                for (const auto& [type, media] : content.items())
                    if (media.contains("example")) {
                        ++examples;
                        EXPECT_EQ(violation(media["schema"], media["example"], "example", schemas), "") << method << " " << path;
                    }
            }
        }
    EXPECT_GE(examples, 8);
    // The checker itself refuses what it should (so the checks above can fail).
    EXPECT_NE(violation(json{{"$ref", "#/components/schemas/Problem"}}, json{{"title", "x"}}, "b", schemas), "");
    EXPECT_NE(violation(json{{"$ref", "#/components/schemas/MoneyWithReason"}},
                        json{{"amount_minor", 1}, {"currency", "USD"}, {"reason", "r"}, {"extra", 1}}, "b", schemas), "");
    EXPECT_NE(violation(json{{"type", "integer"}}, json(1.5), "b", schemas), "");
}

TEST(OpenApi, AClientGeneratedFromTheDocumentChecksOut) {
    testing::ProviderShop shop;
    const std::string customer = testing::token_for(shop.url, "cus-gen", "customer");
    const std::string work = std::string(TALLY_BINARY_DIR) + "/tests/openapi-client";
    std::filesystem::create_directories(work);
    const auto [status, out] =
        testing::run_command("bash " + std::string(TALLY_SOURCE_DIR) + "/tests/openapi/client_check.sh --base http://127.0.0.1:" +
                             std::to_string(shop.tallyd.port()) + " --token " + customer + " --work " + work);
    std::printf("%s", out.c_str());
    ASSERT_EQ(status, 0) << out;
    // What the generated client did, as the server recorded it.
    const auto marker = out.find("ORDER ");
    ASSERT_NE(marker, std::string::npos) << out;
    const std::string order = out.substr(marker + 6, out.find('\n', marker) - marker - 6);
    const auto read = shop.get("/v1/orders/" + order, shop.admin);
    ASSERT_EQ(read.status, 200);
    const json o = json::parse(read.body);
    EXPECT_EQ(o["customer_id"], "cus-gen");
    EXPECT_EQ(o["total_minor"], 4500);
}

}  // namespace
}  // namespace tally
