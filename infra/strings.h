#pragma once
// Splitting separated lists (comma lists in configuration and headers, query strings),
// form encoding (application/x-www-form-urlencoded), and the checks every byte from
// the wire passes before it reaches JSON or SQL.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

// The parts of `s` between separators, empty ones included, except that a trailing
// separator ends the list ("a,b," -> a, b) and "" has no parts.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start < s.size()) {
        size_t end = s.find(sep, start);
        if (end == std::string_view::npos) end = s.size();
        out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

// Form encoding: unreserved bytes kept, space as '+', everything else %XX.
inline std::string form_encode(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// The inverse; nothing when a '%' is not followed by two hex digits.
inline std::optional<std::string> form_decode(std::string_view s) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
inline bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) { ++i; continue; }
        size_t n = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) n = 1;
        else if (c == 0xe0) { n = 2; lo = 0xa0; }
        else if (c == 0xed) { n = 2; hi = 0x9f; }
        else if (c >= 0xe1 && c <= 0xef) n = 2;
        else if (c == 0xf0) { n = 3; lo = 0x90; }
        else if (c >= 0xf1 && c <= 0xf3) n = 3;
        else if (c == 0xf4) { n = 3; hi = 0x8f; }
        else return false;
        if (i + n >= s.size()) return false;  // truncated sequence
        for (size_t k = 1; k <= n; ++k) {
            const auto d = static_cast<unsigned char>(s[i + k]);
            if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf)) return false;
        }
        i += n + 1;
    }
    return true;
}

// Printable ASCII only (0x21..0x7e when `space` is false, 0x20..0x7e when it is true):
// the class of request targets, idempotency keys and request ids.
inline bool printable_ascii(std::string_view s, bool space = false) {
    for (unsigned char c : s)
        if (c > 0x7e || c < (space ? 0x20 : 0x21)) return false;
    return true;
}

// A control character (C0 or DEL), other than horizontal tab when `tab_ok`.
inline bool has_control(std::string_view s, bool tab_ok = false) {
    for (unsigned char c : s)
        if ((c < 0x20 && !(tab_ok && c == '\t')) || c == 0x7f) return true;
    return false;
}

}  // namespace tally
