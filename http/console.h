#pragma once
// The operator console (GET /console): static HTML, CSS and an ES module from
// http/console/, embedded at build time (http/embed_console.cmake). The page holds no data;
// it calls the API with the token an operator pastes in.

#include <string>
#include <string_view>
#include <vector>

namespace tally::http {

struct ConsoleFile {
    std::string_view name;  // "index.html", "console.js"...
    std::string_view body;
};

const std::vector<ConsoleFile>& console_files();

}  // namespace tally::http
