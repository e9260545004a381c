// Plain request/response types shared by the HTTP server and the handlers, so handlers compile
// without Boost.Beast. Thread-safety: value types.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aquawatch {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string content_type;
  std::string content_encoding;
  std::string accept;
  std::string body;

  // The first value of query parameter `name`, or nullptr.
  const std::string* Query(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Sends the response. May be called from any thread, exactly once.
using Respond = std::function<void(HttpResponse)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called on an I/O thread. Must not block: long work completes later through `respond`.
  virtual void Handle(HttpRequest&& request, Respond respond) = 0;
};

}  // namespace aquawatch
