#include "infra/stripe_api.h"

#include "infra/strings.h"

namespace tally::stripe_api {

std::expected<Endpoint, std::string> parse_base(std::string_view url) {
    Endpoint e;
    if (url.rfind("https://", 0) == 0) {
        e.tls = true;
        url.remove_prefix(8);
    } else if (url.rfind("http://", 0) == 0) {
        url.remove_prefix(7);
    } else {
        return std::unexpected("the base URL must start with http:// or https://");
    }
    const size_t slash = url.find('/');
    std::string_view authority = url.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? "" : url.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    const size_t colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    e.port = colon == std::string_view::npos ? (e.tls ? "443" : "80") : std::string(authority.substr(colon + 1));
    e.base_path = std::string(path);
    if (e.host.empty()) return std::unexpected("the base URL has no host");
    if (e.port.empty() || e.port.find_first_not_of("0123456789") != std::string::npos)
        return std::unexpected("the base URL's port is not a number");
    return e;
}

std::string encode_form(const Form& form) {
    std::string out;
    for (const auto& [k, v] : form) {
        if (!out.empty()) out += '&';
        out += form_encode(k) + "=" + form_encode(v);
    }
    return out;
}

}  // namespace tally::stripe_api
