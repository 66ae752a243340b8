#include "http/client.h"

#include <optional>
#include <utility>  // before Boost 1.74 asio, which forgets it

#include <boost/asio.hpp>
#include <boost/beast.hpp>

namespace tally::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Client::Impl {
    std::string host;
    int port;
    net::io_context ioc;
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;

    void connect() {
        tcp::resolver resolver(ioc);
        stream.emplace(ioc);
        stream->connect(resolver.resolve(host, std::to_string(port)));
        stream->socket().set_option(tcp::no_delay(true));
        buffer.clear();
    }
};

Client::Client(std::string host, int port) : impl_(std::make_unique<Impl>()) {
    impl_->host = std::move(host);
    impl_->port = port;
}

Client::~Client() = default;

namespace {
Client::Observer& observer() {
    static Client::Observer o;
    return o;
}
}  // namespace

void Client::observe(Observer o) { observer() = std::move(o); }

ClientResponse Client::request(const std::string& method, const std::string& target, const std::string& body,
                               const std::map<std::string, std::string>& headers) {
    ClientResponse out;
    for (int attempt = 0; attempt < 2; ++attempt) {
        try {
            if (!impl_->stream) impl_->connect();
            bhttp::request<bhttp::string_body> req(bhttp::string_to_verb(method), target, 11);
            req.set(bhttp::field::host, impl_->host);
            req.keep_alive(true);
            for (const auto& [k, v] : headers) req.set(k, v);
            // JSON unless the caller names a type; a Content-Type given empty is left out.
            const bool own_type = req.find(bhttp::field::content_type) != req.end();
            if (own_type && req[bhttp::field::content_type].empty()) req.erase(bhttp::field::content_type);
            if (!body.empty() || method == "POST") {
                if (!own_type) req.set(bhttp::field::content_type, "application/json");
                req.body() = body;
            }
            req.prepare_payload();
            impl_->stream->expires_after(std::chrono::seconds(60));
            bhttp::write(*impl_->stream, req);
            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(64 * 1024 * 1024);
            bhttp::read(*impl_->stream, impl_->buffer, parser);
            auto res = parser.release();
            out.status = res.result_int();
            out.body = std::move(res.body());
            for (const auto& f : res) {
                std::string name(f.name_string());
                for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                out.headers[name] = std::string(f.value());
            }
            if (!res.keep_alive()) impl_->stream.reset();
            out.error.clear();
            if (observer()) observer()(method, target, out);
            return out;
        } catch (const std::exception& e) {
            // A kept-alive connection the server closed: reconnect once.
            impl_->stream.reset();
            out.status = 0;
            out.error = e.what();
        }
    }
    return out;
}

}  // namespace tally::http
