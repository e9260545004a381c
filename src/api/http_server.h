// HttpServer: HTTP/1.1 and WebSocket on Boost.Beast, and StreamHub, which fans alert events and
// live values out to WebSocket clients of GET /api/v1/stream.
//
// Alerts travel in a high-priority lane and live values in a medium one: a connection always
// sends its queued alerts before any queued value. Live values to a client that cannot keep up
// are dropped oldest-first (and counted); alerts never are.
// Thread-safety: Start/Stop from one thread; the hub's listener methods from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "alert/alert_manager.h"
#include "api/http_types.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/status.h"
#include "pipeline/pipeline.h"

namespace boost::asio {
class io_context;
}

namespace aquawatch {

class StreamHub : public AlertListener, public LiveValueListener {
 public:
  virtual std::size_t SessionCount() const = 0;
  // Closes every WebSocket session (shutdown).
  virtual void CloseAll() = 0;
};
std::unique_ptr<StreamHub> NewStreamHub(Clock& clock, MetricsRegistry& metrics);

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 = any free port
  std::size_t max_body_bytes = 64u << 20;
};

class HttpServer {
 public:
  // Binds and starts accepting on `io`. The handler and hub must outlive the server.
  static Result<std::unique_ptr<HttpServer>> Start(boost::asio::io_context& io,
                                                   const HttpServerOptions& options,
                                                   HttpHandler& handler, StreamHub& hub);
  virtual ~HttpServer() = default;
  virtual std::uint16_t port() const = 0;
  // Stops accepting; requests already arriving are still answered, with Connection: close, and
  // idle keep-alive connections are closed.
  virtual void Stop() = 0;
  // After Stop: waits until every request taken has been answered and its connection closed, or
  // `timeout`; returns how many connections are left. WebSocket sessions are the hub's.
  virtual std::size_t Drain(std::chrono::milliseconds timeout) = 0;
};

}  // namespace aquawatch
