#include "sim/bench_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "api/http_server.h"
#include "core/metrics.h"
#include "sim/fleet.h"
#include "sim/simulate_command.h"
#include "sim/transport.h"

namespace aquawatch::sim {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- pre-generated payloads -------------------------------------------------------------------

// One encoded batch and where its timestamps are, so later passes over the pool can shift every
// timestamp by whole rounds (each pass must carry new (sensor, time) pairs, or the server would
// rightly drop them as duplicates).
struct Prepared {
  std::string body;
  std::vector<std::uint32_t> time_offsets;
  std::size_t readings = 0;
};

struct Pool {
  std::vector<Prepared> batches;
  std::int64_t pass_shift = 0;  // in the payload's time unit (ns or ms) per pass
  std::size_t readings = 0;
  std::size_t bytes = 0;
};

// Copies `p` into `out` with every timestamp moved by `shift`. Timestamps are fixed width for any
// time after 2001, so the bytes can be overwritten in place.
bool ShiftTimes(const Prepared& p, std::int64_t shift, std::string& out) {
  out.assign(p.body);
  for (std::uint32_t off : p.time_offsets) {
    const char* b = out.data() + off;
    const char* e = out.data() + out.size();
    std::int64_t t = 0;
    auto r = std::from_chars(b, e, t);
    if (r.ec != std::errc()) return false;
    char buf[24];
    auto w = std::to_chars(buf, buf + sizeof buf, t + shift);
    if (w.ptr - buf != r.ptr - b) return false;  // width changed: cannot patch in place
    std::copy(buf, w.ptr, out.data() + off);
  }
  return true;
}

// ---- rate pacing ------------------------------------------------------------------------------

// Token bucket shared by all connections. Acquire() reserves tokens (the balance may go negative)
// and sleeps until they would have accrued, so concurrent callers queue fairly.
class Pacer {
 public:
  Pacer(double rate, double burst)
      : rate_(rate), burst_(burst), tokens_(burst), last_(Clock::now()) {}

  // Returns false when the wait would end after `deadline` or `stop` is raised.
  bool Acquire(double n, Clock::time_point deadline, const std::atomic<bool>& stop) {
    if (rate_ <= 0) return !stop.load();
    Clock::time_point ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto now = Clock::now();
      tokens_ = std::min(burst_, tokens_ + Seconds(now - last_) * rate_);
      last_ = now;
      tokens_ -= n;
      ready = now + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(tokens_ < 0 ? -tokens_ / rate_ : 0));
    }
    if (ready > deadline) return false;
    while (Clock::now() < ready) {
      if (stop.load()) return false;
      std::this_thread::sleep_for(
          std::min<Clock::duration>(ready - Clock::now(), milliseconds(20)));
    }
    return !stop.load();
  }

 private:
  const double rate_, burst_;
  std::mutex mu_;
  double tokens_;
  Clock::time_point last_;
};

// ---- metrics ----------------------------------------------------------------------------------

struct ServerMetrics {
  std::optional<double> rss, sensors, durable;
  // Shard loop iterations (all shards), those within 10 ms, and the longest since the start.
  std::optional<double> loops, loops_within_10ms, loop_max_s;
  // aquawatch_memory_bytes by component (what the server accounts for), in kMemoryComponents
  // order; empty when the server does not export it.
  std::vector<std::optional<double>> memory;
};

constexpr std::string_view kMemoryComponents[] = {"head", "sensor_table", "store_memtables",
                                                  "store_block_cache", "store_table_readers"};

class MetricsScraper {
 public:
  explicit MetricsScraper(std::string url) : url_(std::move(url)) {
    auto ep = ParseHttpUrl(url_);
    if (!ep.ok()) {
      spdlog::warn("bench: bad --metrics-url {}: {}", url_, ep.status().message());
      return;
    }
    // The URL's path is the metrics path itself, not a prefix.
    path_ = ep->prefix.empty() ? "/" : ep->prefix;
    ep->prefix.clear();
    client_ = NewHttpClient(*ep, milliseconds(3000), milliseconds(10000));
  }
  bool enabled() const { return client_ != nullptr; }

  ServerMetrics Scrape() {
    ServerMetrics m;
    if (!client_) return m;
    auto r = client_->Request("GET", path_);
    if (!r.ok() || r->status != 200) {
      if (!warned_) {
        spdlog::warn("bench: cannot scrape {}: {}", url_,
                     r.ok() ? "HTTP " + std::to_string(r->status) : r.status().message());
        warned_ = true;
      }
      return m;
    }
    m.rss = SumPrometheusMetric(r->body, "process_resident_memory_bytes");
    m.sensors = SumPrometheusMetric(r->body, "aquawatch_sensors");
    m.durable = SumPrometheusMetric(r->body, "aquawatch_readings_durable_total");
    m.loops = SumPrometheusMetric(r->body, "aquawatch_shard_loop_seconds_count");
    m.loops_within_10ms =
        SumPrometheusMetric(r->body, "aquawatch_shard_loop_seconds_bucket", "le=\"0.01\"");
    m.loop_max_s = MaxPrometheusMetric(r->body, "aquawatch_shard_loop_max_seconds");
    for (std::string_view c : kMemoryComponents) {
      m.memory.push_back(SumPrometheusMetric(r->body, "aquawatch_memory_bytes",
                                             fmt::format("component=\"{}\"", c)));
    }
    return m;
  }

 private:
  std::string url_, path_;
  std::unique_ptr<HttpClient> client_;
  bool warned_ = false;
};

// ---- alert probes -----------------------------------------------------------------------------

// A probe sensor gets a normal reading, then one past a limit: critically low chlorine (a
// high-priority alert) or low but not critical (medium).
struct Probe {
  bool high = true;
  std::int64_t sent_ns = 0;      // client wall clock when the alerting reading was sent
  std::int64_t received_ns = 0;  // client wall clock when the WS alert arrived; 0 = not yet
  std::int64_t server_ns = -1;   // pushed_ns - received_ns as the server reports them
  std::int64_t webhook_ns = 0;   // client wall clock when the webhook arrived; 0 = not yet
};

class ProbeBook {
 public:
  explicit ProbeBook(bool expect_webhooks) : expect_webhooks_(expect_webhooks) {}

  void Sent(const std::string& sensor, std::int64_t t, bool high) {
    std::lock_guard<std::mutex> lock(mu_);
    Probe& p = probes_[sensor];
    p.sent_ns = t;
    p.high = high;
  }
  // The server's webhook for a probe's alert (the first one counts).
  void Webhooked(const std::string& sensor, std::int64_t now) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = probes_.find(sensor);
    if (it == probes_.end() || it->second.webhook_ns != 0) return;
    it->second.webhook_ns = now;
  }
  // First alert for a probe sensor wins; later ones (and unknown sensors) are ignored.
  void Alerted(const std::string& sensor, std::int64_t now, std::int64_t server_ns) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = probes_.find(sensor);
    if (it == probes_.end() || it->second.received_ns != 0) return;
    it->second.received_ns = now;
    it->second.server_ns = server_ns;
  }
  std::size_t Outstanding() {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t n = 0;
    for (auto& [k, p] : probes_) {
      n += p.received_ns == 0 || (expect_webhooks_ && p.webhook_ns == 0);
    }
    return n;
  }
  std::map<std::string, Probe> Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return probes_;
  }

 private:
  const bool expect_webhooks_;
  std::mutex mu_;
  std::map<std::string, Probe> probes_;
};

// Receives the server's generic-webhook notifications (docs/notifications.md) on 127.0.0.1 and
// hands the firing ones of probe sensors to the ProbeBook: the last leg of reading -> alert ->
// notifier (in-process or through RabbitMQ) -> webhook.
class WebhookReceiver : public HttpHandler {
 public:
  explicit WebhookReceiver(ProbeBook& book) : book_(book) {}
  ~WebhookReceiver() override { Stop(); }

  Status Start(std::uint16_t port) {
    hub_ = NewStreamHub(SystemClock(), metrics_);
    HttpServerOptions options;
    options.port = port;
    auto server = HttpServer::Start(io_, options, *this, *hub_);
    if (!server.ok()) return server.status();
    server_ = std::move(server).value();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  void Stop() {
    if (server_) server_->Stop();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

  std::size_t received() const { return received_.load(); }

  void Handle(HttpRequest&& request, Respond respond) override {
    const std::int64_t now = NowNs();
    received_.fetch_add(1, std::memory_order_relaxed);
    json::error_code ec;
    json::value v = json::parse(request.body, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.get_object();
      const auto* event = o.if_contains("event");
      const auto* alert = o.if_contains("alert");
      if (event != nullptr && event->is_string() && event->get_string() == "firing" &&
          alert != nullptr && alert->is_object()) {
        const auto* sensor = alert->get_object().if_contains("sensor");
        if (sensor != nullptr && sensor->is_string()) {
          book_.Webhooked(std::string(sensor->get_string()), now);
        }
      }
    }
    aquawatch::HttpResponse r;  // the server's, not the bench client's sim::HttpResponse
    r.body = "{}";
    respond(std::move(r));
  }

 private:
  ProbeBook& book_;
  MetricsRegistry metrics_;  // the receiver's own; nobody scrapes it
  net::io_context io_;
  std::unique_ptr<StreamHub> hub_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::atomic<std::size_t> received_{0};
};

std::optional<std::int64_t> JsonInt(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  return std::nullopt;
}

// Reads the server's WebSocket stream on its own thread and hands probe alerts to the ProbeBook.
class AlertStream {
 public:
  explicit AlertStream(ProbeBook& book) : book_(book), ws_(ioc_) {}
  ~AlertStream() { Stop(); }

  Status Connect(const HttpEndpoint& ep, const std::string& path) {
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(ep.host, ep.port, ec);
    if (ec) return Status::IoError("resolve: " + ec.message());
    auto& lowest = beast::get_lowest_layer(ws_);
    lowest.expires_after(milliseconds(5000));
    lowest.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    ioc_.run();
    if (ec) return Status::IoError("connect: " + ec.message());
    lowest.expires_after(milliseconds(5000));
    ws_.async_handshake(ep.host + ":" + ep.port, path, [&](beast::error_code e) { ec = e; });
    ioc_.restart();
    ioc_.run();
    if (ec) return Status::IoError("WebSocket handshake on " + path + ": " + ec.message());
    lowest.expires_never();
    ws_.read_message_max(std::uint64_t{16} << 20);
    ReadNext();
    ioc_.restart();
    thread_ = std::thread([this] { ioc_.run(); });
    return Status::Ok();
  }

  void Stop() {
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::size_t messages() const { return messages_.load(); }

 private:
  void ReadNext() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      if (ec) {
        if (ec != net::error::operation_aborted) {
          spdlog::warn("bench: WebSocket stream ended: {}", ec.message());
        }
        return;
      }
      std::int64_t now = NowNs();
      messages_.fetch_add(1, std::memory_order_relaxed);
      OnMessage(beast::buffers_to_string(buffer_.data()), now);
      buffer_.consume(buffer_.size());
      ReadNext();
    });
  }

  void OnMessage(const std::string& text, std::int64_t now) {
    // Cheap filter first: the stream also carries every live value.
    if (text.find("\"alert\"") == std::string::npos ||
        text.find("bench-probe-") == std::string::npos) {
      return;
    }
    json::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return;
    const auto& o = v.get_object();
    const auto* type = o.if_contains("type");
    if (type == nullptr || !type->is_string() || type->get_string() != "alert") return;
    const auto* alert = o.if_contains("alert");
    if (alert == nullptr || !alert->is_object()) return;
    const auto* sensor = alert->get_object().if_contains("sensor");
    if (sensor == nullptr || !sensor->is_string()) return;
    auto received = JsonInt(alert->get_object().if_contains("received_ns"));
    auto pushed = JsonInt(o.if_contains("pushed_ns"));
    std::int64_t server = received && pushed ? *pushed - *received : -1;
    book_.Alerted(std::string(sensor->get_string()), now, server);
  }

  ProbeBook& book_;
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::thread thread_;
  std::atomic<std::size_t> messages_{0};
};

std::string ProbeBody(const std::string& sensor, std::int64_t time_ms, double chlorine) {
  return fmt::format(
      "{{\"readings\":[{{\"sensor\":\"{}\",\"time\":{},\"site\":\"bench-probes\",\"zone\":"
      "\"bench\",\"values\":{{\"ph\":7.4,\"turbidity_ntu\":0.1,\"dissolved_oxygen_mg_l\":9.5,"
      "\"temperature_c\":12.0,\"conductivity_us_cm\":450,\"free_chlorine_mg_l\":{},"
      "\"orp_mv\":{}}}}}]}}",
      sensor, time_ms, chlorine, chlorine < 0.2 ? 450 : 700);
}

// ---- the run ----------------------------------------------------------------------------------

struct WorkerStats {
  std::uint64_t sent = 0, accepted = 0, rejected = 0, failed_batches = 0, overloaded = 0,
                unavailable = 0, reconnects = 0;
  std::vector<double> ack_ms;
  std::string last_error;
};

std::string DefaultTarget(std::string_view transport) {
  if (transport == "tcp") return "127.0.0.1:8089";
  if (transport == "mqtt") return "tcp://127.0.0.1:1883";
  return "http://127.0.0.1:8080";
}

std::string HostOf(std::string target) {
  for (std::string_view scheme : {"tcp://", "http://", "mqtt://"}) {
    if (target.starts_with(scheme)) target.erase(0, scheme.size());
  }
  auto colon = target.rfind(':');
  return colon == std::string::npos ? target : target.substr(0, colon);
}

json::value Stats3(const std::vector<double>& sorted, bool with_p999) {
  json::object o;
  o["count"] = sorted.size();
  o["p50_ms"] = Quantile(sorted, 0.50);
  o["p99_ms"] = Quantile(sorted, 0.99);
  if (with_p999) {
    o["p999_ms"] = Quantile(sorted, 0.999);
  } else {
    o["max_ms"] = sorted.empty() ? 0.0 : sorted.back();
  }
  return o;
}

}  // namespace

namespace {

// Calls fn(value) for every sample of `name` whose label set contains `label`.
template <typename Fn>
void ForEachPrometheusSample(std::string_view text, std::string_view name, std::string_view label,
                             Fn&& fn) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line[0] == '#' || !line.starts_with(name)) continue;
    std::string_view rest = line.substr(name.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;  // a longer metric name
    std::string_view labels;
    if (rest[0] == '{') {
      auto close = rest.find('}');  // label values may not contain '}' unescaped in practice
      if (close == std::string_view::npos) continue;
      labels = rest.substr(0, close + 1);
      rest = rest.substr(close + 1);
    }
    if (!label.empty() && labels.find(label) == std::string_view::npos) continue;
    while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
    auto end = rest.find(' ');
    std::string value(rest.substr(0, end));
    char* parsed_end = nullptr;
    double v = std::strtod(value.c_str(), &parsed_end);
    if (parsed_end == value.c_str()) continue;
    fn(v);
  }
}

}  // namespace

std::optional<double> SumPrometheusMetric(std::string_view text, std::string_view name,
                                          std::string_view label) {
  std::optional<double> sum;
  ForEachPrometheusSample(text, name, label, [&](double v) { sum = sum.value_or(0) + v; });
  return sum;
}

std::optional<double> MaxPrometheusMetric(std::string_view text, std::string_view name) {
  std::optional<double> max;
  ForEachPrometheusSample(text, name, {}, [&](double v) { max = std::max(max.value_or(v), v); });
  return max;
}

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

int RunBench(const BenchOptions& opt_in, const std::atomic<bool>& stop) {
  BenchOptions o = opt_in;
  const bool influx = o.peer == "influxdb";
  if (!o.peer.empty() && !influx) {
    spdlog::error("bench: unknown --peer {} (only influxdb)", o.peer);
    return 1;
  }
  if (influx) {
    o.transport = "http";
    o.format = "line";
    o.alert_probes = 0;
  }
  auto transport = ParseTransport(o.transport);
  if (!transport.ok()) {
    spdlog::error("bench: {}", transport.status().message());
    return 1;
  }
  if (o.sensors == 0 || o.batch == 0 || o.connections < 1 || o.params < 1 ||
      o.params > kCanonicalParameterCount || o.duration_s <= 0 || o.interval_s < 0.001) {
    spdlog::error("bench: invalid options (sensors, batch, connections, duration > 0; params 1-7)");
    return 1;
  }
  if (o.target.empty()) o.target = influx ? "http://127.0.0.1:8086" : DefaultTarget(o.transport);
  if (o.api_url.empty()) {
    o.api_url = *transport == Transport::kHttp ? o.target : "http://" + HostOf(o.target) + ":8080";
  }
  while (!o.api_url.empty() && o.api_url.back() == '/') o.api_url.pop_back();
  if (o.metrics_url.empty() && !influx) o.metrics_url = o.api_url + "/metrics";

  SenderOptions so;
  so.transport = *transport;
  so.target = o.target;
  so.http_format = o.format == "line" ? WireFormat::kLineProtocol : WireFormat::kJson;
  so.http_db = influx ? "bench" : "aquawatch";
  so.io_timeout = milliseconds(10000);
  so.retry_for = milliseconds(static_cast<std::int64_t>(o.duration_s * 1000) + 10000);

  // InfluxDB needs its database before the first write.
  if (influx) {
    auto ep = ParseHttpUrl(o.target);
    if (!ep.ok()) {
      spdlog::error("bench: {}", ep.status().message());
      return 1;
    }
    auto client = NewHttpClient(*ep, milliseconds(3000), milliseconds(10000));
    auto r = client->Request("POST", "/query?q=CREATE%20DATABASE%20bench");
    if (!r.ok() || r->status != 200) {
      spdlog::error(
          "bench: CREATE DATABASE bench on {} failed: {}", o.target,
          r.ok() ? "HTTP " + std::to_string(r->status) + " " + r->body : r.status().message());
      return 1;
    }
  }

  // ---- pre-generate ----
  const double assumed_rate = o.rate > 0 ? o.rate : 1e6;
  double expected = assumed_rate * o.duration_s;
  if (o.rounds > 0) {
    expected = std::min(expected, static_cast<double>(o.rounds) * static_cast<double>(o.sensors));
  }
  const auto interval_ns = static_cast<std::int64_t>(o.interval_s * 1e9) / 1'000'000 * 1'000'000;
  const auto needed_rounds =
      static_cast<std::int64_t>(std::ceil(expected / static_cast<double>(o.sensors))) + 1;
  // Timestamps advance one interval per round, far faster than the wall clock at high rates; start
  // them in the past so the run ends near "now" rather than hours in the future.
  const std::int64_t start_ns = (NowNs() - needed_rounds * interval_ns) / 1'000'000 * 1'000'000;
  FleetOptions fo;
  fo.sensors = o.sensors;
  fo.interval_ns = interval_ns;
  fo.start_time_ns = start_ns;
  fo.seed = o.seed;
  fo.parameters = o.params;
  fo.id_prefix = "bench-";
  Fleet fleet(fo);
  const WireFormat wire =
      *transport == Transport::kHttp ? so.http_format : WireFormat::kLineProtocol;
  Pool pool;
  auto gen_start = Clock::now();
  {
    ReadingBatch batch;
    std::int64_t rounds = 1;
    std::int64_t end_ns = start_ns + interval_ns;
    for (bool sized = false;;) {
      batch.Clear();
      if (fleet.Step(end_ns, batch, o.batch) == 0) break;
      Prepared p;
      p.readings = batch.size();
      if (wire == WireFormat::kJson) {
        EncodeJson(batch, p.body, &p.time_offsets);
      } else {
        EncodeLineProtocol(batch, p.body, &p.time_offsets);
      }
      pool.bytes += p.body.size();
      pool.readings += p.readings;
      pool.batches.push_back(std::move(p));
      if (!sized) {
        // From the first batch's size, how many whole rounds fit the memory budget.
        double per_reading = static_cast<double>(pool.bytes) / static_cast<double>(pool.readings);
        double per_round = per_reading * static_cast<double>(o.sensors);
        rounds = std::clamp<std::int64_t>(
            static_cast<std::int64_t>(static_cast<double>(o.pregen_mb) * 1048576.0 / per_round), 1,
            needed_rounds);
        end_ns = start_ns + rounds * interval_ns;
        sized = true;
      }
    }
    pool.pass_shift = rounds * interval_ns / (wire == WireFormat::kJson ? 1'000'000 : 1);
  }
  spdlog::info("bench: pre-generated {} readings in {} batches ({:.1f} MB) in {:.1f} s",
               pool.readings, pool.batches.size(), static_cast<double>(pool.bytes) / 1048576.0,
               Seconds(Clock::now() - gen_start));

  // ---- before the load ----
  MetricsScraper metrics(o.metrics_url);
  ProbeBook probes(o.alert_probes > 0 && o.webhook_port != 0);
  WebhookReceiver webhooks(probes);
  if (o.alert_probes > 0 && o.webhook_port != 0) {
    if (Status s = webhooks.Start(o.webhook_port); !s.ok()) {
      spdlog::error("bench: cannot receive webhooks on 127.0.0.1:{}: {}", o.webhook_port,
                    s.message());
      return 1;
    }
  }
  std::unique_ptr<AlertStream> stream;
  HttpEndpoint api;
  if (o.alert_probes > 0) {
    auto ep = ParseHttpUrl(o.api_url);
    if (!ep.ok()) {
      spdlog::warn("bench: alert probes off: {}", ep.status().message());
      o.alert_probes = 0;
    } else {
      api = *ep;
      stream = std::make_unique<AlertStream>(probes);
      // Alerts only: live values for 100,000 sensors would load both ends for nothing.
      Status s = stream->Connect(api, api.prefix + "/api/v1/stream?values=false");
      if (!s.ok()) {
        spdlog::warn("bench: alert probes off, no WebSocket at {}: {}", o.api_url, s.message());
        stream.reset();
        o.alert_probes = 0;
      }
    }
  }
  ServerMetrics before = metrics.Scrape();

  std::vector<std::unique_ptr<Sender>> senders;
  std::atomic<bool> load_stop{false};
  so.stop = &load_stop;
  int connections = *transport == Transport::kMqtt ? 1 : o.connections;
  for (int c = 0; c < connections; ++c) {
    auto s = NewSender(so);
    if (!s.ok()) {
      spdlog::error("bench: cannot connect to {}: {}", o.target, s.status().message());
      return 1;
    }
    senders.push_back(std::move(*s));
  }

  // ---- the load ----
  spdlog::info("bench: {} over {} to {}, {} connection(s), {} s, rate {}", pool.readings,
               o.transport, o.target, connections, o.duration_s,
               o.rate > 0 ? fmt::format("{}/s", o.rate) : std::string("unlimited"));
  Pacer pacer(o.rate, std::max(static_cast<double>(o.batch), o.rate * 0.05));
  std::atomic<std::uint64_t> next_batch{0};
  // --rounds: the batches that carry that many readings per sensor (batches hold the same
  // number of readings but the last of each generated pass).
  std::uint64_t max_batches = UINT64_MAX;
  if (o.rounds > 0) {
    const double per_batch =
        static_cast<double>(pool.readings) / static_cast<double>(pool.batches.size());
    max_batches = static_cast<std::uint64_t>(
        std::ceil(static_cast<double>(o.rounds) * static_cast<double>(o.sensors) / per_batch));
  }
  std::vector<WorkerStats> stats(static_cast<std::size_t>(connections));
  const auto t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<std::thread> workers;
  std::atomic<int> workers_done{0};  // --rounds ends the load before the deadline
  for (int c = 0; c < connections; ++c) {
    workers.emplace_back([&, c] {
      WorkerStats& st = stats[static_cast<std::size_t>(c)];
      Sender& sender = *senders[static_cast<std::size_t>(c)];
      std::string scratch;
      SendReport rep;
      while (!load_stop.load() && Clock::now() < deadline) {
        std::uint64_t i = next_batch.fetch_add(1);
        if (i >= max_batches) break;
        const Prepared& p = pool.batches[i % pool.batches.size()];
        auto pass = static_cast<std::int64_t>(i / pool.batches.size());
        if (!pacer.Acquire(static_cast<double>(p.readings), deadline, load_stop)) break;
        std::string_view payload = p.body;
        if (pass > 0) {
          if (!ShiftTimes(p, pass * pool.pass_shift, scratch)) break;
          payload = scratch;
        }
        Status s = sender.SendPayload(payload, p.readings, &rep);
        st.overloaded += static_cast<std::uint64_t>(rep.overloaded);
        st.unavailable += static_cast<std::uint64_t>(rep.unavailable);
        st.reconnects += static_cast<std::uint64_t>(rep.reconnects);
        if (s.ok() || rep.acknowledged) {
          st.sent += p.readings;
          st.accepted += rep.accepted;
          st.rejected += rep.rejected;
          if (rep.acknowledged && s.ok())
            st.ack_ms.push_back(static_cast<double>(rep.round_trip_ns) / 1e6);
        } else {
          ++st.failed_batches;
        }
        if (!s.ok()) st.last_error = s.message();
      }
      Status f = sender.Flush();
      if (!f.ok()) st.last_error = f.message();
      workers_done.fetch_add(1);
    });
  }

  // Probes, about once a second: a sensor gets a normal reading, then a critically low chlorine
  // one (high priority); another gets a normal one, then a low one (medium priority).
  std::thread prober;
  if (o.alert_probes > 0) {
    prober = std::thread([&] {
      auto client = NewHttpClient(api, milliseconds(3000), milliseconds(5000));
      // A per-run base keeps probe sensors fresh, so a previous run's open alert cannot
      // deduplicate this run's.
      std::int64_t base = NowNs() / 1'000'000'000 % 1'000'000 * 1000;
      auto probe = [&](const std::string& sensor, double chlorine, bool high) {
        std::int64_t now_ms = NowNs() / 1'000'000;
        auto r = client->Request("POST", "/api/v1/readings", ProbeBody(sensor, now_ms - 1000, 0.8),
                                 "application/json");
        if (!r.ok() || r->status / 100 != 2) {
          spdlog::warn("bench: probe {} normal reading failed: {}", sensor,
                       r.ok() ? std::to_string(r->status) : r.status().message());
        }
        probes.Sent(sensor, NowNs(), high);
        r = client->Request("POST", "/api/v1/readings", ProbeBody(sensor, now_ms, chlorine),
                            "application/json");
        if (!r.ok() || r->status / 100 != 2) {
          spdlog::warn("bench: probe {} alerting reading failed: {}", sensor,
                       r.ok() ? std::to_string(r->status) : r.status().message());
        }
      };
      for (int k = 0; k < o.alert_probes && !load_stop.load() && Clock::now() < deadline; ++k) {
        auto next = Clock::now() + milliseconds(1000);
        // Default profile: free chlorine below 0.2 mg/L is critical, below 0.3 a warning.
        probe("bench-probe-" + std::to_string(base + k), 0.05, true);
        probe("bench-probe-m-" + std::to_string(base + k), 0.25, false);
        while (Clock::now() < next && !load_stop.load())
          std::this_thread::sleep_for(milliseconds(20));
      }
    });
  }

  // Progress while the load runs; Ctrl-C ends it early.
  auto next_log = t0 + std::chrono::seconds(5);
  while (Clock::now() < deadline && workers_done.load() < connections) {
    if (stop.load()) {
      spdlog::warn("bench: interrupted, stopping the load early");
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
    if (Clock::now() >= next_log) {
      std::uint64_t b = next_batch.load();
      spdlog::info("bench: {:.0f} s, ~{} batches started", Seconds(Clock::now() - t0), b);
      next_log += std::chrono::seconds(5);
    }
  }
  load_stop.store(true);
  for (auto& w : workers) w.join();
  const auto load_end = Clock::now();
  if (prober.joinable()) prober.join();
  senders.clear();

  WorkerStats total;
  for (auto& st : stats) {
    total.sent += st.sent;
    total.accepted += st.accepted;
    total.rejected += st.rejected;
    total.failed_batches += st.failed_batches;
    total.overloaded += st.overloaded;
    total.unavailable += st.unavailable;
    total.reconnects += st.reconnects;
    total.ack_ms.insert(total.ack_ms.end(), st.ack_ms.begin(), st.ack_ms.end());
    if (!st.last_error.empty()) total.last_error = st.last_error;
  }
  std::sort(total.ack_ms.begin(), total.ack_ms.end());
  const double load_s = Seconds(load_end - t0);

  // Without acknowledgements (TCP, MQTT), count what the server made durable: poll its counter
  // until it has everything or stops growing for 5 s.
  const bool acked = *transport == Transport::kHttp;
  double durable_delta = 0, durable_s = 0;
  bool have_durable = false;
  if (!acked && metrics.enabled() && before.durable) {
    double last = -1;
    auto last_growth = Clock::now();
    auto give_up = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < give_up) {
      ServerMetrics m = metrics.Scrape();
      if (m.durable) {
        double delta = *m.durable - *before.durable;
        if (delta > last) {
          last = delta;
          last_growth = Clock::now();
          durable_delta = delta;
          durable_s = Seconds(last_growth - t0);
          have_durable = true;
        }
        if (delta >= static_cast<double>(total.sent)) break;
      }
      if (Clock::now() - last_growth > std::chrono::seconds(5)) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
  }

  // Outstanding probes get up to 5 s more.
  if (stream) {
    auto until = Clock::now() + std::chrono::seconds(5);
    while (probes.Outstanding() > 0 && Clock::now() < until)
      std::this_thread::sleep_for(milliseconds(20));
    stream->Stop();
  }
  webhooks.Stop();
  ServerMetrics after = metrics.Scrape();

  // ---- results ----
  // High-priority probes: alert_client / alert_server (the WebSocket) and webhook_high.
  std::vector<double> alert_client, alert_server, medium_ws, webhook_high, webhook_medium;
  std::size_t probes_sent = 0, medium_sent = 0;
  for (const auto& [sensor, p] : probes.Snapshot()) {
    auto ms = [&p](std::int64_t at) { return static_cast<double>(at - p.sent_ns) / 1e6; };
    if (!p.high) {
      ++medium_sent;
      if (p.received_ns != 0) medium_ws.push_back(ms(p.received_ns));
      if (p.webhook_ns != 0) webhook_medium.push_back(ms(p.webhook_ns));
      continue;
    }
    ++probes_sent;
    if (p.webhook_ns != 0) webhook_high.push_back(ms(p.webhook_ns));
    if (p.received_ns == 0) continue;
    alert_client.push_back(ms(p.received_ns));
    if (p.server_ns >= 0) alert_server.push_back(static_cast<double>(p.server_ns) / 1e6);
  }
  for (auto* v : {&alert_client, &alert_server, &medium_ws, &webhook_high, &webhook_medium}) {
    std::sort(v->begin(), v->end());
  }
  auto latency = [](const std::vector<double>& v, std::size_t sent) {
    return fmt::format("{:.2f} / {:.2f} / {:.2f} ms ({} of {})", Quantile(v, 0.5),
                       Quantile(v, 0.99), v.empty() ? 0.0 : v.back(), v.size(), sent);
  };

  const double sent_rate = load_s > 0 ? static_cast<double>(total.sent) / load_s : 0;
  double accepted_rate = 0;
  std::string basis;
  if (acked) {
    accepted_rate = load_s > 0 ? static_cast<double>(total.accepted) / load_s : 0;
    basis = "HTTP 2xx acknowledgements";
  } else if (have_durable && durable_s > 0) {
    accepted_rate = durable_delta / durable_s;
    basis = "server counter aquawatch_readings_durable_total";
  } else {
    basis = "unavailable (no acknowledgements and no durable counter)";
  }
  std::optional<double> bytes_per_sensor;
  if (before.rss && after.rss && before.sensors && after.sensors &&
      *after.sensors - *before.sensors > 0) {
    bytes_per_sensor = (*after.rss - *before.rss) / (*after.sensors - *before.sensors);
  }

  std::string table;
  auto row = [&](std::string_view k, const std::string& v) {
    table += fmt::format("  {:<38} {}\n", k, v);
  };
  table += "aquawatch bench results\n";
  row("peer / transport / target",
      fmt::format("{} / {} / {}", influx ? "influxdb" : "aquawatch", o.transport, o.target));
  row("workload",
      fmt::format("{} sensors, {} params, batch {}, {} connection(s), rate {}", o.sensors, o.params,
                  o.batch, connections, o.rate > 0 ? fmt::format("{}/s", o.rate) : "unlimited"));
  row("load duration", fmt::format("{:.2f} s", load_s));
  row("sent readings", fmt::format("{} ({:.0f}/s)", total.sent, sent_rate));
  const double sensor_hours =
      static_cast<double>(total.sent) / static_cast<double>(o.sensors) * o.interval_s / 3600.0;
  row("sensor time covered",
      fmt::format("{:.2f} h ({:.0f} readings per sensor, one per {} s; {:.0f}x real time)",
                  sensor_hours, static_cast<double>(total.sent) / static_cast<double>(o.sensors),
                  o.interval_s, load_s > 0 ? sensor_hours * 3600.0 / load_s : 0.0));
  if (acked) {
    row("accepted readings (2xx acks)",
        fmt::format("{} ({:.0f}/s)", total.accepted, accepted_rate));
  } else if (have_durable) {
    row("durable readings (server counter)",
        fmt::format("{:.0f} in {:.2f} s ({:.0f}/s)", durable_delta, durable_s, accepted_rate));
  } else {
    row("accepted readings", basis);
  }
  row("rejected / failed batches / 429 / 503",
      fmt::format("{} / {} / {} / {}", total.rejected, total.failed_batches, total.overloaded,
                  total.unavailable));
  if (acked) {
    row("ack latency p50/p99/p999",
        fmt::format("{:.2f} / {:.2f} / {:.2f} ms per {}-reading batch ({} requests)",
                    Quantile(total.ack_ms, 0.5), Quantile(total.ack_ms, 0.99),
                    Quantile(total.ack_ms, 0.999), o.batch, total.ack_ms.size()));
  } else {
    row("ack latency", fmt::format("n/a ({} has no acknowledgements)", o.transport));
  }
  if (o.alert_probes > 0) {
    row("high alert, send -> WebSocket", latency(alert_client, probes_sent));
    row("high alert, server received -> pushed", latency(alert_server, probes_sent));
    row("medium alert, send -> WebSocket", latency(medium_ws, medium_sent));
    if (o.webhook_port != 0) {
      row("high alert, send -> webhook", latency(webhook_high, probes_sent));
      row("medium alert, send -> webhook", latency(webhook_medium, medium_sent));
      row("webhook requests received", std::to_string(webhooks.received()));
    }
  } else {
    row("alert latency", "n/a (no probes)");
  }
  if (bytes_per_sensor) {
    row("server memory per sensor (RSS)",
        fmt::format("{:.0f} bytes (ΔRSS {:.1f} MB / Δsensors {:.0f})", *bytes_per_sensor,
                    (*after.rss - *before.rss) / 1048576.0, *after.sensors - *before.sensors));
  } else {
    row("server memory per sensor (RSS)", "n/a (metrics missing or no new sensors)");
  }
  // What the server accounts for, per sensor at the end; the rest of RSS is the allocator's
  // slack, thread stacks, queues, code and whatever is not accounted yet.
  json::object by_component;
  if (after.rss && after.sensors && *after.sensors > 0 && !after.memory.empty() &&
      after.memory[0]) {
    std::string parts;
    double accounted = 0;
    for (std::size_t c = 0; c < after.memory.size(); ++c) {
      const double bytes = after.memory[c].value_or(0);
      accounted += bytes;
      by_component[kMemoryComponents[c]] = bytes;
      parts += fmt::format("{} {:.0f}, ", kMemoryComponents[c], bytes / *after.sensors);
    }
    by_component["rest_of_rss"] = *after.rss - accounted;
    row("memory per sensor by component", fmt::format("{}rest of RSS {:.0f} bytes", parts,
                                                      (*after.rss - accounted) / *after.sensors));
  }
  const bool have_loops = before.loops && after.loops && before.loops_within_10ms &&
                          after.loops_within_10ms && after.loop_max_s;
  if (have_loops) {
    const double loops = *after.loops - *before.loops;
    const double slow = loops - (*after.loops_within_10ms - *before.loops_within_10ms);
    row("shard loop iterations / over 10 ms",
        fmt::format("{:.0f} / {:.0f} during the load; longest since the start {:.1f} ms", loops,
                    slow, *after.loop_max_s * 1000));
  }
  if (!total.last_error.empty()) row("last error", total.last_error);
  std::fputs(table.c_str(), stdout);
  std::fflush(stdout);

  if (!o.json_file.empty()) {
    json::object j;
    j["peer"] = influx ? "influxdb" : "aquawatch";
    j["transport"] = o.transport;
    j["target"] = o.target;
    j["sensors"] = o.sensors;
    j["params"] = o.params;
    j["batch"] = o.batch;
    j["connections"] = connections;
    j["rate"] = o.rate;
    j["duration_s"] = load_s;
    j["sensor_hours"] = sensor_hours;
    j["sent_readings"] = total.sent;
    j["sent_per_s"] = sent_rate;
    j["accepted_readings"] = acked ? static_cast<double>(total.accepted) : durable_delta;
    j["accepted_per_s"] = accepted_rate;
    j["accepted_basis"] = basis;
    j["rejected_readings"] = total.rejected;
    j["failed_batches"] = total.failed_batches;
    j["http_429"] = total.overloaded;
    j["http_503"] = total.unavailable;
    if (acked) {
      j["ack_latency"] = Stats3(total.ack_ms, true);
    } else {
      j["ack_latency"] = nullptr;
    }
    if (o.alert_probes > 0) {
      json::object a;
      a["probes"] = probes_sent;
      a["alerts"] = alert_client.size();
      a["client"] = Stats3(alert_client, false);
      a["server"] = Stats3(alert_server, false);
      a["medium_probes"] = medium_sent;
      a["medium_ws"] = Stats3(medium_ws, false);
      if (o.webhook_port != 0) {
        a["webhook_high"] = Stats3(webhook_high, false);
        a["webhook_medium"] = Stats3(webhook_medium, false);
      }
      j["alert_latency"] = std::move(a);
    } else {
      j["alert_latency"] = nullptr;
    }
    json::object mem;
    mem["basis"] = "process_resident_memory_bytes delta / aquawatch_sensors delta";
    if (before.rss) mem["rss_before"] = *before.rss;
    if (after.rss) mem["rss_after"] = *after.rss;
    if (before.sensors) mem["sensors_before"] = *before.sensors;
    if (after.sensors) mem["sensors_after"] = *after.sensors;
    if (bytes_per_sensor) {
      mem["bytes_per_sensor"] = *bytes_per_sensor;
    } else {
      mem["bytes_per_sensor"] = nullptr;
    }
    if (!by_component.empty()) mem["by_component_bytes"] = std::move(by_component);
    j["memory"] = std::move(mem);
    if (have_loops) {
      json::object loops;
      loops["iterations"] = *after.loops - *before.loops;
      loops["over_10ms"] =
          (*after.loops - *before.loops) - (*after.loops_within_10ms - *before.loops_within_10ms);
      loops["max_s_since_start"] = *after.loop_max_s;
      j["shard_loop"] = std::move(loops);
    }
    std::FILE* f = std::fopen(o.json_file.c_str(), "w");
    if (f == nullptr) {
      spdlog::error("bench: cannot write {}", o.json_file);
    } else {
      std::string text = json::serialize(j);
      text += '\n';
      std::fputs(text.c_str(), f);
      std::fclose(f);
    }
  }
  return total.sent > 0 ? 0 : 1;
}

CLI::App* AddBenchCommand(CLI::App& parent, int* exit_code) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* cmd = parent.add_subcommand("bench", "End-to-end load generator and latency probe");
  cmd->add_option("--target", opts->target,
                  "Server: http://127.0.0.1:8080 (http), 127.0.0.1:8089 (tcp), "
                  "tcp://127.0.0.1:1883 (mqtt), http://127.0.0.1:8086 (--peer influxdb)");
  cmd->add_option("--transport", opts->transport, "http, tcp or mqtt")
      ->check(CLI::IsMember({"http", "tcp", "mqtt"}))
      ->capture_default_str();
  cmd->add_option("--format", opts->format, "HTTP body: json (/api/v1/readings) or line (/write)")
      ->check(CLI::IsMember({"json", "line"}))
      ->capture_default_str();
  cmd->add_option("--rate", opts->rate, "Readings/s; 0 = as fast as possible")
      ->capture_default_str();
  cmd->add_option("--sensors", opts->sensors, "Distinct sensors")->capture_default_str();
  cmd->add_option("--duration", opts->duration_s, "Seconds of load")->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Readings per request / write")->capture_default_str();
  cmd->add_option("--connections", opts->connections, "Parallel connections (http, tcp)")
      ->capture_default_str();
  cmd->add_option("--params", opts->params, "Parameters per reading (1-7)")->capture_default_str();
  cmd->add_option("--rounds", opts->rounds,
                  "Stop once each sensor has sent this many readings (or at --duration); 0 = off")
      ->capture_default_str();
  cmd->add_option("--interval", opts->interval_s, "Simulated seconds between a sensor's readings")
      ->capture_default_str();
  cmd->add_option("--peer", opts->peer, "Benchmark a peer instead of aquawatch: influxdb")
      ->check(CLI::IsMember({"influxdb"}));
  cmd->add_option("--alert-probes", opts->alert_probes,
                  "Critical-chlorine probes measuring alert latency over the WebSocket; 0 = off")
      ->capture_default_str();
  cmd->add_option("--webhook-port", opts->webhook_port,
                  "Receive the server's webhook notifications on 127.0.0.1 at this port and time "
                  "the probes' alerts to them (a policy must route site bench-probes there); 0 = "
                  "off")
      ->capture_default_str();
  cmd->add_option("--json", opts->json_file, "Also write the results as JSON to this file");
  cmd->add_option("--metrics-url", opts->metrics_url, "Prometheus metrics (default <api>/metrics)");
  cmd->add_option("--api-url", opts->api_url,
                  "REST/WebSocket base for probes (default: the http target, else host:8080)");
  cmd->add_option("--pregen-mb", opts->pregen_mb, "Memory for pre-generated payloads")
      ->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Random seed")->capture_default_str();
  cmd->callback([opts, exit_code] {
    ScopedStopSignals signals;
    int rc = RunBench(*opts, signals.stop());
    if (exit_code != nullptr) *exit_code = rc;
  });
  return cmd;
}

}  // namespace aquawatch::sim
