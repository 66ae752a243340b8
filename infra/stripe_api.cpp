#include "infra/stripe_api.h"

#include <utility>  // before asio (GCC 12)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "infra/strings.h"

namespace tally::stripe_api {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// The API version the requests and the webhook parser are written against.
constexpr const char* kStripeVersion = "2024-06-20";

// The provider's own explanation and code, when the body is Stripe's error document.
void explain(Result& out) {
    out.error = "HTTP " + std::to_string(out.status) + ": " + out.body.substr(0, 300);
    auto doc = nlohmann::json::parse(out.body, nullptr, false);
    if (!doc.is_object()) return;
    auto err = doc.find("error");
    if (err == doc.end() || !err->is_object()) return;
    if (auto msg = err->find("message"); msg != err->end() && msg->is_string())
        out.error = "HTTP " + std::to_string(out.status) + ": " + msg->get<std::string>();
    if (auto code = err->find("code"); code != err->end() && code->is_string()) out.code = code->get<std::string>();
}

template <typename Stream>
Result exchange(Stream& stream, bhttp::request<bhttp::string_body>& req) {
    Result out;
    bhttp::write(stream, req);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    bhttp::read(stream, buffer, parser);
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (!out.ok()) explain(out);
    return out;
}

}  // namespace

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

Client::Client(Endpoint endpoint, std::string secret_key, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), secret_key_(std::move(secret_key)), timeout_(timeout) {}

Result Client::post(std::string_view path, const Form& form, const std::string& idempotency_key) const {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, endpoint_.base_path + std::string(path), 11};
    req.set(bhttp::field::host, endpoint_.host);
    req.set(bhttp::field::authorization, "Bearer " + secret_key_);
    req.set(bhttp::field::content_type, "application/x-www-form-urlencoded");
    req.set(bhttp::field::user_agent, "tally");
    req.set("Idempotency-Key", idempotency_key);
    req.set("Stripe-Version", kStripeVersion);
    req.body() = encode_form(form);
    req.prepare_payload();
    req.keep_alive(false);
    try {
        net::io_context ioc;
        tcp::resolver resolver(ioc);
        const auto addresses = resolver.resolve(endpoint_.host, endpoint_.port);
        if (!endpoint_.tls) {
            beast::tcp_stream stream(ioc);
            stream.expires_after(timeout_);
            stream.connect(addresses);
            auto out = exchange(stream, req);
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            return out;
        }
        ssl::context ctx(ssl::context::tls_client);
        ctx.set_default_verify_paths();
        ctx.set_verify_mode(ssl::verify_peer);
        ctx.set_verify_callback(ssl::host_name_verification(endpoint_.host));
        beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
        if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint_.host.c_str()))
            return Result{0, "", "TLS: cannot set the server name", ""};
        beast::get_lowest_layer(stream).expires_after(timeout_);
        beast::get_lowest_layer(stream).connect(addresses);
        stream.handshake(ssl::stream_base::client);
        auto out = exchange(stream, req);
        beast::error_code ignored;
        stream.shutdown(ignored);
        return out;
    } catch (const std::exception& e) {
        return Result{0, "", std::string("no answer from ") + endpoint_.host + ":" + endpoint_.port + ": " + e.what(), ""};
    }
}

}  // namespace tally::stripe_api
