#pragma once
// Splitting separated lists (comma lists in configuration and headers, query strings).

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

}  // namespace tally
