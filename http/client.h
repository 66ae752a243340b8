#pragma once
// A small blocking HTTP/1.1 keep-alive client for tests, tally-bench and tools.
// Not used by the server.

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

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::http
