#pragma once
// A small blocking HTTP/1.1 keep-alive client for tests, tally-bench and tools.
// Not used by the server.

#include <functional>
#include <map>
#include <memory>
#include <string>

namespace tally::http {

struct ClientResponse {
    int status = 0;  // 0: the connection failed (see error)
    std::string body;
    std::map<std::string, std::string> headers;  // names in lower case
    std::string error;
};

class Client {
public:
    Client(std::string host, int port);
    ~Client();
    // Sends one request on the kept-alive connection, reconnecting when needed.
    ClientResponse request(const std::string& method, const std::string& target, const std::string& body = "",
                           const std::map<std::string, std::string>& headers = {});

    // Sees every answer received, on the thread that received it (tests check each answer
    // against the OpenAPI document). Set it before any request; the function must be
    // safe to call from several threads.
    using Observer = std::function<void(const std::string& method, const std::string& target,
                                        const ClientResponse& response)>;
    static void observe(Observer observer);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::http
