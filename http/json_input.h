#pragma once
// Strict JSON request bodies: a malformed document, a wrong type, a missing or an
// unknown field each give one clear error naming the field.

#include <cstdint>
#include <expected>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace google::protobuf {
class Message;
}

namespace tally::http {

struct FieldError {
    int status;          // 400 malformed/wrong type/unknown, 422 invalid value
    std::string code;    // "malformed_json", "duplicate_key", "wrong_type", "missing_field", "unknown_field", "invalid_value"
    std::string field;   // empty for the document as a whole
    std::string detail;
};

// How deep a request document may nest (objects and arrays).
inline constexpr size_t kJsonDepthMax = 16;

// Parses a request body: valid UTF-8 JSON, no key twice in one object, at most
// kJsonDepthMax levels. The error names the duplicate key or the byte at fault.
std::expected<nlohmann::json, FieldError> parse_document(std::string_view body);

class ObjectReader {
public:
    explicit ObjectReader(std::string_view body);

    // Each getter records the first error and returns nothing once one is recorded.
    std::optional<int64_t> int64(const std::string& name);
    std::optional<std::string> string(const std::string& name, size_t length_min, size_t length_max);
    // Call last: flags fields nobody asked for. Returns the first error, if any.
    std::optional<FieldError> finish();

private:
    const nlohmann::json* field(const std::string& name);
    nlohmann::json doc_;
    std::set<std::string> seen_;
    std::optional<FieldError> error_;
};

// Parses a JSON object into a protobuf message, strictly: proto field names only; integers
// as JSON integers in range; booleans as true/false; enums by name; no nulls, unknown
// fields, duplicate keys or NUL characters. Returns the error, naming the field, if any.
std::optional<FieldError> parse_json_message(std::string_view body, google::protobuf::Message& msg);

}  // namespace tally::http
