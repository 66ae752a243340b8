#pragma once
// Ids that travel in stream ids, URLs and logs: 1..64 of [A-Za-z0-9._-], and not
// made of dots alone ("." and ".." mean something else in a path).

#include <cctype>
#include <string_view>

namespace tally {

inline bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    bool dots_only = true;
    for (char c : id) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
        dots_only = dots_only && c == '.';
    }
    return !dots_only;
}

}  // namespace tally
