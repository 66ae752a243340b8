#include "http/stripe_client.h"

#include <utility>  // before asio (GCC 12)

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

namespace tally::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// The API version the requests and the webhook parser are written against.
constexpr const char* kStripeVersion = "2024-06-20";

// The provider's own explanation and code, when the body is Stripe's error document.
void explain(stripe_api::Result& out) {
    out.error = "HTTP " + std::to_string(out.status) + ": " + out.body.substr(0, 300);
    auto doc = nlohmann::json::parse(out.body, nullptr, false);
    if (!doc.is_object()) return;
    auto err = doc.find("error");
    if (err == doc.end() || !err->is_object()) return;
    if (auto msg = err->find("message"); msg != err->end() && msg->is_string())
        out.error = "HTTP " + std::to_string(out.status) + ": " + msg->get<std::string>();
    if (auto code = err->find("code"); code != err->end() && code->is_string()) out.code = code->get<std::string>();
}

// connect -> (TLS handshake) -> write -> read, asynchronously so that the stream's
// deadline bounds every step (Beast's synchronous calls ignore it).
template <bool Tls, typename Stream>
stripe_api::Result exchange(net::io_context& ioc, Stream& stream, const tcp::resolver::results_type& addresses,
                            bhttp::request<bhttp::string_body>& req, std::chrono::milliseconds timeout) {
    beast::error_code failed;
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    auto read = [&] { bhttp::async_read(stream, buffer, parser, [&](beast::error_code ec, size_t) { failed = ec; }); };
    auto write = [&] {
        bhttp::async_write(stream, req, [&](beast::error_code ec, size_t) {
            if (ec) failed = ec;
            else read();
        });
    };
    beast::get_lowest_layer(stream).expires_after(timeout);
    beast::get_lowest_layer(stream).async_connect(addresses, [&](beast::error_code ec, const tcp::endpoint&) {
        if (ec) {
            failed = ec;
        } else if constexpr (Tls) {
            stream.async_handshake(ssl::stream_base::client, [&](beast::error_code hec) {
                if (hec) failed = hec;
                else write();
            });
        } else {
            write();
        }
    });
    ioc.run();
    if (failed) return {0, "", failed.message(), ""};
    auto res = parser.release();
    return stripe_api::Result{static_cast<int>(res.result_int()), std::move(res.body()), "", ""};
}

}  // namespace

stripe_api::Result provider_post(const stripe_api::Endpoint& endpoint, std::string_view path,
                                 const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                                 std::chrono::milliseconds timeout) {
    return provider_call("POST", endpoint, path, headers, std::move(body), timeout);
}

stripe_api::Result provider_call(std::string_view method, const stripe_api::Endpoint& endpoint, std::string_view path,
                                 const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                                 std::chrono::milliseconds timeout) {
    std::string target = endpoint.base_path + std::string(path);
    if (target.empty()) target = "/";
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, endpoint.host);
    req.set(bhttp::field::user_agent, "tally");
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || req.method() == bhttp::verb::post) {
        req.body() = std::move(body);
        req.prepare_payload();
    }
    req.keep_alive(false);
    const auto failed = [&](const std::string& why) {
        return stripe_api::Result{0, "", "no answer from " + endpoint.host + ":" + endpoint.port + ": " + why, ""};
    };
    try {
        net::io_context ioc;
        tcp::resolver resolver(ioc);
        const auto addresses = resolver.resolve(endpoint.host, endpoint.port);
        stripe_api::Result out;
        if (!endpoint.tls) {
            beast::tcp_stream stream(ioc);
            out = exchange<false>(ioc, stream, addresses, req, timeout);
        } else {
            ssl::context ctx(ssl::context::tls_client);
            ctx.set_default_verify_paths();
            ctx.set_verify_mode(ssl::verify_peer);
            ctx.set_verify_callback(ssl::host_name_verification(endpoint.host));
            beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
            if (!SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str()))
                return failed("TLS: cannot set the server name");
            out = exchange<true>(ioc, stream, addresses, req, timeout);
        }
        if (out.status == 0) return failed(out.error);
        return out;
    } catch (const std::exception& e) {  // resolving, mostly
        return failed(e.what());
    }
}

StripeClient::StripeClient(stripe_api::Endpoint endpoint, std::string secret_key, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), secret_key_(std::move(secret_key)), timeout_(timeout) {}

stripe_api::Result StripeClient::post(std::string_view path, const stripe_api::Form& form, const std::string& idempotency_key) const {
    auto out = provider_post(endpoint_, path,
                             {{"Authorization", "Bearer " + secret_key_},
                              {"Content-Type", "application/x-www-form-urlencoded"},
                              {"Idempotency-Key", idempotency_key},
                              {"Stripe-Version", kStripeVersion}},
                             stripe_api::encode_form(form), timeout_);
    if (out.status != 0 && !out.ok()) explain(out);
    return out;
}

}  // namespace tally::http
