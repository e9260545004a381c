#include "sim/transport.h"

#include <unistd.h>

#include <mqtt/async_client.h>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cmath>
#include <deque>
#include <optional>
#include <random>
#include <thread>

namespace aquawatch::sim {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- number and string formatting -------------------------------------------------------------

void AppendDouble(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendInt(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Line protocol: tag keys/values and field keys escape comma, equals sign and space.
void AppendLpEscaped(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == ',' || c == '=' || c == ' ' || c == '\\') out += '\\';
    out += c;
  }
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Sleeps up to `d`, waking early when `stop` is raised.
void SleepFor(Clock::duration d, const std::atomic<bool>* stop) {
  auto end = Clock::now() + d;
  while (Clock::now() < end) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(end - Clock::now(), milliseconds(50)));
  }
}

bool Stopped(const std::atomic<bool>* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

// Runs an io_context until the operation just started on it completes. Each connection has its
// own io_context, so synchronous code gets Beast's per-operation timeouts (tcp_stream expiry),
// which plain synchronous Asio calls do not have.
void RunOnce(net::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

// A TCP connection with bounded connect and write times.
class Connection {
 public:
  Connection(std::string host, std::string port, milliseconds connect_timeout,
             milliseconds io_timeout)
      : host_(std::move(host)),
        port_(std::move(port)),
        connect_timeout_(connect_timeout),
        io_timeout_(io_timeout) {}

  bool connected() const { return stream_.has_value(); }
  beast::tcp_stream& stream() { return *stream_; }
  net::io_context& ioc() { return ioc_; }
  milliseconds io_timeout() const { return io_timeout_; }
  const std::string& host() const { return host_; }
  const std::string& port() const { return port_; }

  Status Connect() {
    Close();
    beast::error_code ec;
    tcp::resolver resolver(ioc_);
    auto endpoints = resolver.resolve(host_, port_, ec);
    if (ec) return Status::IoError("resolve " + host_ + ":" + port_ + ": " + ec.message());
    stream_.emplace(ioc_);
    stream_->expires_after(connect_timeout_);
    stream_->async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    RunOnce(ioc_);
    if (ec) {
      Close();
      return Status::IoError("connect " + host_ + ":" + port_ + ": " + ec.message());
    }
    stream_->socket().set_option(tcp::no_delay(true), ec);
    return Status::Ok();
  }

  Status Write(std::string_view data) {
    beast::error_code ec;
    stream_->expires_after(io_timeout_);
    net::async_write(*stream_, net::buffer(data.data(), data.size()),
                     [&](beast::error_code e, std::size_t) { ec = e; });
    RunOnce(ioc_);
    if (ec) {
      Close();
      return Status::IoError("write to " + host_ + ":" + port_ + ": " + ec.message());
    }
    return Status::Ok();
  }

  void Close() {
    if (stream_) {
      beast::error_code ec;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_->socket().close(ec);
      stream_.reset();
    }
  }

 private:
  std::string host_, port_;
  milliseconds connect_timeout_, io_timeout_;
  net::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
};

// ---- HTTP -------------------------------------------------------------------------------------

class HttpClientImpl : public HttpClient {
 public:
  HttpClientImpl(HttpEndpoint ep, milliseconds connect_timeout, milliseconds io_timeout)
      : ep_(std::move(ep)), conn_(ep_.host, ep_.port, connect_timeout, io_timeout) {
    host_header_ = ep_.host + ":" + ep_.port;
  }

  Result<HttpResponse> Request(std::string_view method, std::string_view target,
                               std::string_view body, std::string_view content_type) override {
    http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) return Status::InvalidArgument("bad HTTP method");
    std::string path = ep_.prefix;
    path += target;
    for (int attempt = 0;; ++attempt) {
      bool fresh = !conn_.connected();
      if (fresh) {
        Status s = conn_.Connect();
        if (!s.ok()) return s;
        buffer_.clear();
      }
      // span_body: a bench payload is megabytes; send it from where it lies.
      http::request<http::span_body<const char>> req{verb, path, 11};
      req.set(http::field::host, host_header_);
      req.set(http::field::user_agent, "aquawatch-sim");
      if (!content_type.empty()) req.set(http::field::content_type, content_type);
      req.body() = boost::span<const char>(body.data(), body.size());
      req.keep_alive(true);
      req.prepare_payload();

      beast::error_code ec;
      conn_.stream().expires_after(conn_.io_timeout());
      http::async_write(conn_.stream(), req, [&](beast::error_code e, std::size_t) { ec = e; });
      RunOnce(conn_.ioc());
      http::response_parser<http::string_body> parser;
      parser.body_limit(std::uint64_t{1} << 30);
      if (!ec) {
        conn_.stream().expires_after(conn_.io_timeout());
        http::async_read(conn_.stream(), buffer_, parser,
                         [&](beast::error_code e, std::size_t) { ec = e; });
        RunOnce(conn_.ioc());
      }
      if (ec) {
        conn_.Close();
        // A keep-alive connection the server closed while idle fails on first use: try once
        // more on a fresh connection before calling it an error.
        if (!fresh && attempt == 0) continue;
        return Status::IoError(std::string(method) + " " + path + " to " + host_header_ + ": " +
                               ec.message());
      }
      auto& res = parser.get();
      HttpResponse out;
      out.status = static_cast<int>(res.result_int());
      out.body = std::move(res.body());
      if (auto it = res.find(http::field::retry_after); it != res.end()) {
        out.retry_after = std::string(it->value());
      }
      if (!res.keep_alive()) conn_.Close();
      return out;
    }
  }

 private:
  HttpEndpoint ep_;
  Connection conn_;
  std::string host_header_;
  beast::flat_buffer buffer_;
};

class HttpSender : public Sender {
 public:
  HttpSender(const SenderOptions& opt, const HttpEndpoint& ep)
      : opt_(opt), client_(ep, opt.connect_timeout, opt.io_timeout) {
    if (opt.http_format == WireFormat::kJson) {
      path_ = "/api/v1/readings";
      content_type_ = "application/json";
    } else {
      path_ = "/write?db=" + opt.http_db + "&precision=ns";
      content_type_ = "text/plain; charset=utf-8";
    }
  }

  WireFormat format() const override { return opt_.http_format; }
  Status Flush() override { return Status::Ok(); }

  Status SendPayload(std::string_view payload, std::size_t readings, SendReport* report) override {
    SendReport local;
    SendReport& rep = report != nullptr ? *report : local;
    rep = SendReport{};
    auto deadline = Clock::now() + opt_.retry_for;
    Clock::duration backoff = milliseconds(50);
    auto back_off = [&] {
      SleepFor(backoff, opt_.stop);
      backoff = std::min<Clock::duration>(backoff * 2, milliseconds(2000));
    };
    std::string last_error = "no attempt";
    while (true) {
      if (Stopped(opt_.stop)) return Status::Unavailable("stopped; last error: " + last_error);
      if (Clock::now() > deadline) {
        return Status::Unavailable("gave up after retrying; last error: " + last_error);
      }
      auto t0 = Clock::now();
      auto r = client_.Request("POST", path_, payload, content_type_);
      if (!r.ok()) {
        last_error = r.status().message();
        ++rep.reconnects;
        back_off();
        continue;
      }
      rep.round_trip_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
      const HttpResponse& res = *r;
      if (res.status >= 200 && res.status < 300) {
        rep.accepted = readings;
        rep.acknowledged = true;
        return Status::Ok();
      }
      if (res.status == 429) {
        ++rep.overloaded;
        last_error = "429 Too Many Requests";
        double wait_s = 1.0;
        if (!res.retry_after.empty()) {
          double v = 0;
          auto fr = std::from_chars(res.retry_after.data(),
                                    res.retry_after.data() + res.retry_after.size(), v);
          if (fr.ec == std::errc()) wait_s = v;
        }
        wait_s = std::clamp(wait_s, 0.01, 30.0);
        SleepFor(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_s)),
                 opt_.stop);
        continue;
      }
      if (res.status == 503) {
        ++rep.unavailable;
        last_error = "503 Service Unavailable";
        back_off();
        continue;
      }
      if (res.status == 400) return Partial(res, readings, rep);
      rep.rejected = readings;
      return Status::IoError("HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 300));
    }
  }

 private:
  // 400 with {"error":..,"accepted":N,"rejected":M,"errors":[..]}: some readings went in.
  static Status Partial(const HttpResponse& res, std::size_t readings, SendReport& rep) {
    rep.acknowledged = true;
    boost::json::error_code ec;
    boost::json::value v = boost::json::parse(res.body, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.get_object();
      auto count = [&](const char* key) -> std::size_t {
        const boost::json::value* x = o.if_contains(key);
        if (x == nullptr) return 0;
        if (x->is_int64())
          return static_cast<std::size_t>(std::max<std::int64_t>(0, x->get_int64()));
        if (x->is_uint64()) return static_cast<std::size_t>(x->get_uint64());
        return 0;
      };
      rep.accepted = std::min(count("accepted"), readings);
      rep.rejected = count("rejected");
      if (const auto* e = o.if_contains("error"); e != nullptr && e->is_string()) {
        rep.server_error = std::string(e->get_string());
      }
    }
    if (rep.accepted == 0 && rep.rejected == 0) rep.rejected = readings;
    if (rep.server_error.empty()) rep.server_error = res.body.substr(0, 300);
    return Status::InvalidArgument("server rejected " + std::to_string(rep.rejected) +
                                   " readings: " + rep.server_error);
  }

  SenderOptions opt_;
  HttpClientImpl client_;
  std::string path_, content_type_;
};

// ---- TCP line protocol ------------------------------------------------------------------------

class TcpSender : public Sender {
 public:
  TcpSender(const SenderOptions& opt, std::string host, std::string port)
      : opt_(opt), conn_(std::move(host), std::move(port), opt.connect_timeout, opt.io_timeout) {}

  Status Open() { return conn_.Connect(); }
  WireFormat format() const override { return WireFormat::kLineProtocol; }
  Status Flush() override { return Status::Ok(); }

  Status SendPayload(std::string_view payload, std::size_t readings, SendReport* report) override {
    SendReport local;
    SendReport& rep = report != nullptr ? *report : local;
    rep = SendReport{};
    auto deadline = Clock::now() + opt_.retry_for;
    Clock::duration backoff = milliseconds(50);
    std::string last_error;
    while (true) {
      if (Stopped(opt_.stop)) return Status::Unavailable("stopped; last error: " + last_error);
      if (Clock::now() > deadline) {
        return Status::Unavailable("gave up after retrying; last error: " + last_error);
      }
      Status s = conn_.connected() ? Status::Ok() : conn_.Connect();
      // One write per batch: the server applies backpressure simply by not reading, which this
      // write feels as a long (but bounded) wait.
      if (s.ok()) s = conn_.Write(payload);
      if (s.ok()) {
        rep.accepted = readings;
        return s;
      }
      last_error = s.message();
      ++rep.reconnects;
      SleepFor(backoff, opt_.stop);
      backoff = std::min<Clock::duration>(backoff * 2, milliseconds(2000));
    }
  }

 private:
  SenderOptions opt_;
  Connection conn_;
};

// ---- MQTT -------------------------------------------------------------------------------------

std::string DefaultClientId() {
  std::random_device rd;
  return "aquawatch-sim-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
}

// The `sensor` tag of a line-protocol line, for the informational topic.
std::string_view SensorOfLine(std::string_view line) {
  auto p = line.find("sensor=");
  if (p == std::string_view::npos) return "unknown";
  p += 7;
  auto e = line.find_first_of(", ", p);
  if (e == std::string_view::npos || e == p) return "unknown";
  return line.substr(p, e - p);
}

class MqttSender : public Sender {
 public:
  MqttSender(const SenderOptions& opt, const mqtt::create_options& create)
      : opt_(opt),
        client_(opt.target, opt.mqtt_client_id.empty() ? DefaultClientId() : opt.mqtt_client_id,
                create) {}

  ~MqttSender() override {
    try {
      (void)Flush();
      if (client_.is_connected()) client_.disconnect()->wait_for(milliseconds(2000));
    } catch (const std::exception&) {
      // Shutting down: nothing useful left to do with the error.
    }
  }

  Status Open() {
    auto opts = mqtt::connect_options_builder()
                    .clean_session(true)
                    .keep_alive_interval(std::chrono::seconds(30))
                    .connect_timeout(opt_.connect_timeout)
                    .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(10))
                    .max_inflight(static_cast<int>(std::max<std::size_t>(opt_.mqtt_window, 1)))
                    .finalize();
    try {
      auto tok = client_.connect(opts);
      if (!tok->wait_for(opt_.connect_timeout + milliseconds(1000))) {
        return Status::Unavailable("MQTT connect to " + opt_.target + " timed out");
      }
    } catch (const mqtt::exception& e) {
      return Status::IoError("MQTT connect to " + opt_.target + ": " + e.what());
    }
    return Status::Ok();
  }

  WireFormat format() const override { return WireFormat::kLineProtocol; }

  Status SendPayload(std::string_view payload, std::size_t readings, SendReport* report) override {
    SendReport local;
    SendReport& rep = report != nullptr ? *report : local;
    rep = SendReport{};
    std::size_t per_message = std::max<std::size_t>(opt_.mqtt_readings_per_message, 1);
    std::size_t begin = 0;
    while (begin < payload.size()) {
      // Cut after `per_message` lines.
      std::size_t end = begin;
      for (std::size_t n = 0; n < per_message && end < payload.size(); ++n) {
        auto nl = payload.find('\n', end);
        end = nl == std::string_view::npos ? payload.size() : nl + 1;
      }
      std::string_view chunk = payload.substr(begin, end - begin);
      std::string topic = "aquawatch/";
      topic += SensorOfLine(chunk.substr(0, chunk.find('\n')));
      topic += "/readings";
      Status s = Publish(topic, chunk);
      if (!s.ok()) return s;
      begin = end;
    }
    rep.accepted = readings;
    return Status::Ok();
  }

  Status Flush() override {
    while (!inflight_.empty()) {
      Status s = WaitOldest();
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

 private:
  Status WaitOldest() {
    auto tok = inflight_.front();
    inflight_.pop_front();
    try {
      if (!tok->wait_for(opt_.io_timeout)) {
        return Status::Unavailable("MQTT delivery not acknowledged within the I/O timeout");
      }
    } catch (const mqtt::exception& e) {
      return Status::IoError(std::string("MQTT delivery failed: ") + e.what());
    }
    return Status::Ok();
  }

  Status Publish(const std::string& topic, std::string_view chunk) {
    auto deadline = Clock::now() + opt_.retry_for;
    while (true) {
      while (inflight_.size() >= std::max<std::size_t>(opt_.mqtt_window, 1)) {
        Status s = WaitOldest();
        if (!s.ok()) return s;
      }
      try {
        inflight_.push_back(client_.publish(topic, chunk.data(), chunk.size(), 1, false));
        return Status::Ok();
      } catch (const mqtt::exception& e) {
        // Buffer full (-12) or disconnected while reconnecting: drain what is in flight, wait a
        // little and try the same message again.
        if (Stopped(opt_.stop) || Clock::now() > deadline) {
          return Status::Unavailable(std::string("MQTT publish: ") + e.what());
        }
        if (!inflight_.empty()) {
          (void)WaitOldest();
        } else {
          SleepFor(milliseconds(100), opt_.stop);
        }
      }
    }
  }

  SenderOptions opt_;
  mqtt::async_client client_;
  std::deque<mqtt::delivery_token_ptr> inflight_;
};

Result<std::pair<std::string, std::string>> SplitHostPort(std::string_view target,
                                                          std::string_view default_port) {
  if (target.starts_with("tcp://")) target.remove_prefix(6);
  while (target.ends_with('/')) target.remove_suffix(1);
  if (target.empty()) return Status::InvalidArgument("empty target");
  std::string host, port;
  if (target.front() == '[') {  // [::1]:8089
    auto close = target.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("bad IPv6 target");
    host = std::string(target.substr(1, close - 1));
    auto rest = target.substr(close + 1);
    port = rest.starts_with(':') ? std::string(rest.substr(1)) : std::string(default_port);
  } else {
    auto colon = target.rfind(':');
    if (colon == std::string_view::npos) {
      host = std::string(target);
      port = std::string(default_port);
    } else {
      host = std::string(target.substr(0, colon));
      port = std::string(target.substr(colon + 1));
    }
  }
  if (host.empty() || port.empty()) {
    return Status::InvalidArgument("target must be host:port, got \"" + std::string(target) + "\"");
  }
  return std::pair{host, port};
}

}  // namespace

// ---- encoders ---------------------------------------------------------------------------------

void EncodeLineProtocol(const ReadingBatch& batch, std::string& out,
                        std::vector<std::uint32_t>* time_offsets) {
  out.reserve(out.size() + batch.size() * 160);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::size_t line_start = out.size();
    out += "water,sensor=";
    AppendLpEscaped(out, batch.sensor(i));
    if (!batch.site(i).empty()) {
      out += ",site=";
      AppendLpEscaped(out, batch.site(i));
    }
    if (!batch.zone(i).empty()) {
      out += ",zone=";
      AppendLpEscaped(out, batch.zone(i));
    }
    char sep = ' ';
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      double v = batch.field_value(f);
      if (!std::isfinite(v)) continue;
      out += sep;
      sep = ',';
      AppendLpEscaped(out, batch.field_name(f));
      out += '=';
      AppendDouble(out, v);
    }
    if (sep == ' ') {  // nothing encodable: leave the reading out rather than send a bad line
      out.resize(line_start);
      continue;
    }
    out += ' ';
    if (time_offsets != nullptr) time_offsets->push_back(static_cast<std::uint32_t>(out.size()));
    AppendInt(out, batch.time_ns(i));
    out += '\n';
  }
}

void EncodeJson(const ReadingBatch& batch, std::string& out,
                std::vector<std::uint32_t>* time_offsets) {
  out.reserve(out.size() + batch.size() * 200 + 16);
  out += "{\"readings\":[";
  bool first = true;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::size_t start = out.size();
    if (!first) out += ',';
    out += "{\"sensor\":";
    AppendJsonString(out, batch.sensor(i));
    out += ",\"time\":";
    if (time_offsets != nullptr) time_offsets->push_back(static_cast<std::uint32_t>(out.size()));
    AppendInt(out, FloorDiv(batch.time_ns(i), 1'000'000));
    if (!batch.site(i).empty()) {
      out += ",\"site\":";
      AppendJsonString(out, batch.site(i));
    }
    if (!batch.zone(i).empty()) {
      out += ",\"zone\":";
      AppendJsonString(out, batch.zone(i));
    }
    out += ",\"values\":{";
    bool any = false;
    for (std::size_t f = batch.field_begin(i); f < batch.field_end(i); ++f) {
      double v = batch.field_value(f);
      if (!std::isfinite(v)) continue;
      if (any) out += ',';
      any = true;
      AppendJsonString(out, batch.field_name(f));
      out += ':';
      AppendDouble(out, v);
    }
    if (!any) {
      out.resize(start);
      if (time_offsets != nullptr) time_offsets->pop_back();
      continue;
    }
    out += "}}";
    first = false;
  }
  out += "]}";
}

// ---- factories and small helpers --------------------------------------------------------------

Result<Transport> ParseTransport(std::string_view name) {
  if (name == "http") return Transport::kHttp;
  if (name == "tcp") return Transport::kTcp;
  if (name == "mqtt") return Transport::kMqtt;
  return Status::InvalidArgument("unknown transport \"" + std::string(name) +
                                 "\" (expected http, tcp or mqtt)");
}

std::string_view TransportName(Transport t) {
  switch (t) {
    case Transport::kHttp:
      return "http";
    case Transport::kTcp:
      return "tcp";
    case Transport::kMqtt:
      return "mqtt";
  }
  return "?";
}

Status Sender::Send(const ReadingBatch& batch, SendReport* report) {
  if (batch.empty()) {
    if (report != nullptr) *report = SendReport{};
    return Status::Ok();
  }
  scratch_.clear();
  if (format() == WireFormat::kJson) {
    EncodeJson(batch, scratch_);
  } else {
    EncodeLineProtocol(batch, scratch_);
  }
  return SendPayload(scratch_, batch.size(), report);
}

Result<HttpEndpoint> ParseHttpUrl(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status::InvalidArgument("not a URL: \"" + std::string(url) + "\"");
  if (parsed->scheme() != "http") {
    return Status::InvalidArgument("only http:// URLs are supported, got \"" + std::string(url) +
                                   "\"");
  }
  HttpEndpoint ep;
  ep.host = std::string(parsed->host_address());
  if (ep.host.empty()) return Status::InvalidArgument("URL has no host: " + std::string(url));
  ep.port = parsed->has_port() ? std::string(parsed->port()) : "80";
  ep.prefix = std::string(parsed->encoded_path());
  while (!ep.prefix.empty() && ep.prefix.back() == '/') ep.prefix.pop_back();
  return ep;
}

std::unique_ptr<HttpClient> NewHttpClient(const HttpEndpoint& endpoint,
                                          std::chrono::milliseconds connect_timeout,
                                          std::chrono::milliseconds io_timeout) {
  return std::make_unique<HttpClientImpl>(endpoint, connect_timeout, io_timeout);
}

Result<std::unique_ptr<Sender>> NewSender(const SenderOptions& options) {
  switch (options.transport) {
    case Transport::kHttp: {
      auto ep = ParseHttpUrl(options.target);
      if (!ep.ok()) return ep.status();
      return std::unique_ptr<Sender>(std::make_unique<HttpSender>(options, *ep));
    }
    case Transport::kTcp: {
      auto hp = SplitHostPort(options.target, "8089");
      if (!hp.ok()) return hp.status();
      auto s = std::make_unique<TcpSender>(options, hp->first, hp->second);
      Status st = s->Open();
      if (!st.ok()) return st;
      return std::unique_ptr<Sender>(std::move(s));
    }
    case Transport::kMqtt: {
      try {
        mqtt::create_options create(MQTTVERSION_DEFAULT);
        // Paho's default of 100 buffered messages fails bursts with error -12.
        create.set_max_buffered_messages(100000);
        create.set_send_while_disconnected(true);
        auto s = std::make_unique<MqttSender>(options, create);
        Status st = s->Open();
        if (!st.ok()) return st;
        return std::unique_ptr<Sender>(std::move(s));
      } catch (const mqtt::exception& e) {
        return Status::InvalidArgument("MQTT client for " + options.target + ": " + e.what());
      }
    }
  }
  return Status::InvalidArgument("unknown transport");
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace aquawatch::sim
