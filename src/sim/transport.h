// Client-side transports that deliver ReadingBatches to an aquawatch server (or a peer such as
// InfluxDB), plus the wire encoders they share with `aquawatch bench`.
//
// A Sender owns one connection (HTTP keep-alive, a TCP socket, or an MQTT client) and sends one
// payload at a time, blocking while the server pushes back: HTTP 429/503 are retried with the same
// payload until accepted, the stop flag is raised, or `retry_for` has passed; a lost connection is
// re-established. Every network wait is bounded by `io_timeout`. No Boost.Beast in this header.
// Thread-safety: a Sender or HttpClient is used by one thread at a time; open one per thread for
// parallel connections. The encoders are stateless.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/reading.h"
#include "core/status.h"

namespace aquawatch::sim {

// ---- encoders ---------------------------------------------------------------------------------

// Appends `batch` as InfluxDB line protocol, one line per reading:
//   water,sensor=ID,site=S,zone=Z ph=7.2,turbidity_ntu=0.1 1700000000000000000\n
// Numbers use the shortest text that reads back to the same double. Non-finite values are left
// out (line protocol cannot carry them). When `time_offsets` is given, the byte offset of each
// line's timestamp within `out` is appended to it (bench rewrites timestamps in place).
void EncodeLineProtocol(const ReadingBatch& batch, std::string& out,
                        std::vector<std::uint32_t>* time_offsets = nullptr);

// Appends `batch` as aquawatch's JSON batch, `{"readings":[{"sensor":..,"time":<epoch ms>,
// "site":..,"zone":..,"values":{..}},..]}`. Times are whole milliseconds (sub-millisecond parts
// are truncated). `time_offsets` as above, pointing at each "time" number.
void EncodeJson(const ReadingBatch& batch, std::string& out,
                std::vector<std::uint32_t>* time_offsets = nullptr);

// ---- senders ----------------------------------------------------------------------------------

enum class Transport { kHttp, kTcp, kMqtt };
Result<Transport> ParseTransport(std::string_view name);
std::string_view TransportName(Transport t);

enum class WireFormat { kLineProtocol, kJson };

struct SenderOptions {
  Transport transport = Transport::kHttp;
  // http: "http://host:port[/prefix]"; tcp: "host:port" or "tcp://host:port"; mqtt: broker URI
  // as Paho takes it, e.g. "tcp://127.0.0.1:1883".
  std::string target;

  // HTTP: JSON goes to POST <prefix>/api/v1/readings, line protocol to POST
  // <prefix>/write?db=<http_db>&precision=ns (the InfluxDB 1.x endpoint).
  WireFormat http_format = WireFormat::kJson;
  std::string http_db = "aquawatch";

  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds io_timeout{30000};
  // How long one payload may be retried (overload, lost connections) before Send gives up.
  std::chrono::milliseconds retry_for{60000};
  // When set and true, retries stop and Send returns Unavailable. Not owned.
  const std::atomic<bool>* stop = nullptr;

  // MQTT: QoS 1 messages of at most this many readings; at most `mqtt_window` unacknowledged.
  std::size_t mqtt_readings_per_message = 1000;
  std::size_t mqtt_window = 64;
  std::string mqtt_client_id;  // empty: aquawatch-sim-<pid>-<random>
};

// What happened to one payload.
struct SendReport {
  std::size_t accepted = 0;   // HTTP: readings the server acknowledged; TCP/MQTT: readings handed
                              // to the connection (or broker) — no server acknowledgement exists
  std::size_t rejected = 0;   // HTTP 400: readings the server refused
  bool acknowledged = false;  // true when `accepted` is the server's own word (HTTP 2xx/400)
  std::int64_t round_trip_ns = 0;  // HTTP: the final request's send → response time
  int overloaded = 0;              // 429 answers seen
  int unavailable = 0;             // 503 answers seen
  int reconnects = 0;
  std::string server_error;  // HTTP 400: the server's "error" text
};

class Sender {
 public:
  virtual ~Sender() = default;

  // The encoding SendPayload expects.
  virtual WireFormat format() const = 0;

  // Sends `payload` (already encoded in format(), holding `readings` readings). Returns OK when
  // delivered (for HTTP: 2xx), InvalidArgument when the server rejected some readings (see
  // `report`), Unavailable/IoError when it could not deliver within the retry budget.
  virtual Status SendPayload(std::string_view payload, std::size_t readings,
                             SendReport* report) = 0;

  // Encodes and sends a batch. Empty batches succeed without I/O.
  Status Send(const ReadingBatch& batch, SendReport* report = nullptr);

  // Waits until everything sent so far is delivered (MQTT acks); no-op for HTTP/TCP.
  virtual Status Flush() = 0;

 private:
  std::string scratch_;
};

// Connects (the connection is opened eagerly so a wrong target fails here, not mid-run).
Result<std::unique_ptr<Sender>> NewSender(const SenderOptions& options);

// ---- plain HTTP client (metrics scraping, probes, InfluxDB admin) -----------------------------

struct HttpEndpoint {
  std::string host;
  std::string port;    // "8080"
  std::string prefix;  // path prefix without trailing '/', often empty
};
// Accepts "http://host[:port][/prefix]" (port defaults to 80).
Result<HttpEndpoint> ParseHttpUrl(std::string_view url);

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, if any
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // One request on the keep-alive connection, reconnecting first when needed. `target` is the
  // path and query after the endpoint's prefix, e.g. "/metrics". Transport errors (connection
  // refused, timeout) come back as IoError; any HTTP status is a successful Result.
  virtual Result<HttpResponse> Request(std::string_view method, std::string_view target,
                                       std::string_view body = {},
                                       std::string_view content_type = {}) = 0;
};

std::unique_ptr<HttpClient> NewHttpClient(const HttpEndpoint& endpoint,
                                          std::chrono::milliseconds connect_timeout,
                                          std::chrono::milliseconds io_timeout);

// Wall-clock nanoseconds since the epoch.
std::int64_t NowNs();

}  // namespace aquawatch::sim
