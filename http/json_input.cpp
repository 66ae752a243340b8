#include "http/json_input.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>

namespace tally::http {

ObjectReader::ObjectReader(std::string_view body) {
    doc_ = nlohmann::json::parse(body, nullptr, false);
    if (doc_.is_discarded())
        error_ = FieldError{400, "malformed_json", "", "the request body is not valid JSON"};
    else if (!doc_.is_object())
        error_ = FieldError{400, "malformed_json", "", "the request body must be a JSON object"};
}

const nlohmann::json* ObjectReader::field(const std::string& name) {
    if (error_) return nullptr;
    seen_.insert(name);
    auto it = doc_.find(name);
    if (it == doc_.end() || it->is_null()) {
        error_ = FieldError{400, "missing_field", name, name + " is required"};
        return nullptr;
    }
    return &*it;
}

std::optional<int64_t> ObjectReader::int64(const std::string& name) {
    const auto* v = field(name);
    if (!v) return std::nullopt;
    if (v->is_number_integer()) {
        if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
            error_ = FieldError{422, "invalid_value", name, name + " is out of range"};
            return std::nullopt;
        }
        return v->get<int64_t>();
    }
    error_ = FieldError{400, "wrong_type", name,
                        name + " must be an integer number of minor units" +
                            (v->is_number_float() ? std::string(" (no fractions: money is never floating point)") : "")};
    return std::nullopt;
}

std::optional<std::string> ObjectReader::string(const std::string& name, size_t length_min, size_t length_max) {
    const auto* v = field(name);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
        error_ = FieldError{400, "wrong_type", name, name + " must be a string"};
        return std::nullopt;
    }
    std::string s = v->get<std::string>();
    // JSON may carry \u0000; PostgreSQL text cannot, and a read model must never choke on input.
    if (s.find('\0') != std::string::npos) {
        error_ = FieldError{422, "invalid_value", name, name + " must not contain NUL characters"};
        return std::nullopt;
    }
    if (s.size() < length_min || s.size() > length_max) {
        error_ = FieldError{422, "invalid_value", name,
                            name + " must be " + std::to_string(length_min) + " to " + std::to_string(length_max) +
                                " bytes long"};
        return std::nullopt;
    }
    return s;
}

std::optional<FieldError> ObjectReader::finish() {
    if (error_) return error_;
    for (const auto& [key, value] : doc_.items())
        if (!seen_.contains(key)) return FieldError{400, "unknown_field", key, key + " is not a field of this request"};
    return std::nullopt;
}

std::optional<FieldError> parse_json_message(std::string_view body, google::protobuf::Message& msg) {
    // A document that is not a JSON object is malformed before it is anything else.
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return FieldError{400, "malformed_json", "", "the request body must be a JSON object"};
    std::string lower(body);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("\\u0000") != std::string::npos)
        return FieldError{422, "invalid_value", "", "strings must not contain NUL characters"};
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(std::string(body), &msg, options);
    if (status.ok()) return std::nullopt;
    // Protobuf names the field: "(path) name: Cannot find field." for unknown fields,
    // "(path): invalid value ..." for wrong types.
    std::string detail(status.message());
    std::string path, field;
    if (!detail.empty() && detail[0] == '(') {
        const auto close = detail.find(')');
        if (close != std::string::npos) path = detail.substr(1, close - 1);
    }
    const std::string unknown = ": Cannot find field.";
    if (auto at = detail.find(unknown); at != std::string::npos) {
        const auto start = path.empty() ? 0 : detail.find(") ") + 2;
        const std::string name = detail.substr(start, at - start);
        field = path.empty() ? name : path + "." + name;
        return FieldError{400, "unknown_field", field, field + " is not a field of this request"};
    }
    field = path;
    return FieldError{400, "wrong_type", field, detail};
}

}  // namespace tally::http
