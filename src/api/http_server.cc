#include "api/http_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <deque>
#include <mutex>
#include <set>

#include "api/alert_json.h"
#include "api/http_target.h"
#include "api/json_writer.h"
#include "core/live_set.h"

namespace aquawatch {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t kMaxQueuedValuesPerClient = 10000;
constexpr std::size_t kMaxQueuedAlertsPerClient = 100000;

class StreamHubImpl;

// What one client subscribed to (query parameters of the upgrade request): alerts of a zone, a
// site, a sensor, some priorities; live values of a sensor, or none.
struct StreamFilter {
  bool values = true;
  std::string zone, site, sensor;  // "" = any
  unsigned priorities = 0b111;     // bit per AlertPriority

  bool Admits(const Alert& a) const {
    return (zone.empty() || zone == a.zone) && (site.empty() || site == a.site) &&
           (sensor.empty() || sensor == a.sensor) &&
           (priorities & (1u << static_cast<unsigned>(a.priority))) != 0;
  }
  bool AdmitsValueOf(std::string_view s) const { return values && (sensor.empty() || sensor == s); }

  // From ?values=&zone=&site=&sensor=&priority=high,medium; an error names the parameter.
  static Result<StreamFilter> Parse(const HttpRequest& probe) {
    StreamFilter f;
    for (const auto& [key, value] : probe.query) {
      if (key == "values") {
        f.values = value != "false" && value != "0";
      } else if (key == "zone") {
        f.zone = value;
      } else if (key == "site") {
        f.site = value;
      } else if (key == "sensor") {
        f.sensor = value;
      } else if (key == "priority") {
        f.priorities = 0;
        for (std::string_view rest = value; !rest.empty();) {
          const std::size_t comma = rest.find(',');
          const std::string_view name = rest.substr(0, comma);
          rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
          auto p = ParsePriority(name);
          if (!p) {
            return Status::InvalidArgument(
                fmt::format("query parameter \"priority\": {} is not high, medium or low",
                            QuoteClientText(name)));
          }
          f.priorities |= 1u << static_cast<unsigned>(*p);
        }
      } else {
        return Status::InvalidArgument(
            fmt::format("unknown query parameter {} (known: values, zone, site, sensor, priority)",
                        QuoteClientText(key)));
      }
    }
    return f;
  }
};

// One WebSocket client of /api/v1/stream.
class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, StreamHubImpl& hub, StreamFilter filter)
      : ws_(std::move(socket)), hub_(hub), filter_(std::move(filter)) {}

  void Accept(http::request<http::string_body> req);
  bool wants_values() const { return filter_.values; }
  const StreamFilter& filter() const { return filter_; }

  // Queues a message; `alert` messages get the high-priority lane. Any thread.
  void Enqueue(std::shared_ptr<const std::string> text, bool alert, std::int64_t received_ns);
  void Close();

 private:
  struct Message {
    std::shared_ptr<const std::string> text;
    std::int64_t received_ns = 0;  // alerts: when the triggering reading arrived
  };
  void DoRead();
  void WriteNext();

  websocket::stream<beast::tcp_stream> ws_;
  StreamHubImpl& hub_;
  const StreamFilter filter_;
  beast::flat_buffer read_buffer_;
  // Touched only on the session's strand.
  std::deque<Message> alerts_, values_;
  std::string current_;
  bool writing_ = false;
  bool closed_ = false;
};

class StreamHubImpl final : public StreamHub {
 public:
  StreamHubImpl(Clock& clock, MetricsRegistry& metrics)
      : clock_(clock),
        sessions_gauge_(metrics.AddGauge("aquawatch_ws_sessions", "Open WebSocket sessions")),
        values_dropped_(metrics.AddCounter(
            "aquawatch_ws_values_dropped_total",
            "Live values dropped because a WebSocket client read too slowly (alerts never are)")),
        alerts_pushed_(metrics.AddCounter("aquawatch_ws_alerts_pushed_total",
                                          "Alert events written to WebSocket clients")),
        alerts_suppressed_(metrics.AddCounter(
            "aquawatch_ws_alerts_suppressed_total",
            "Alert events not pushed because a silence or an inhibition covered the alert")),
        push_latency_(metrics.AddHistogram(
            "aquawatch_alert_push_latency_seconds",
            "From a reading's arrival to its alert event being written to a WebSocket", "",
            ExponentialBuckets(0.00005, 2, 18))),
        raise_latency_(metrics.AddHistogram("aquawatch_alert_raise_latency_seconds",
                                            "From a reading's arrival to the alert event it caused",
                                            "", ExponentialBuckets(0.00005, 2, 18))) {}

  void Add(const std::shared_ptr<WsSession>& s) {
    std::lock_guard lock(mu_);
    sessions_.insert(s);
    if (s->wants_values()) value_sessions_.fetch_add(1);
    sessions_gauge_.Set(static_cast<double>(sessions_.size()));
  }

  void Remove(const std::shared_ptr<WsSession>& s) {
    std::lock_guard lock(mu_);
    if (sessions_.erase(s) > 0 && s->wants_values()) value_sessions_.fetch_sub(1);
    sessions_gauge_.Set(static_cast<double>(sessions_.size()));
  }

  std::size_t SessionCount() const override {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }

  void CloseAll() override {
    std::set<std::shared_ptr<WsSession>> sessions;
    {
      std::lock_guard lock(mu_);
      sessions = sessions_;
    }
    for (const auto& s : sessions) s->Close();
  }

  void OnAlertEvent(const AlertEvent& event) override {
    const Alert& a = event.alert;
    // Silenced or inhibited: in the API (suppressed_by says why), not pushed to people.
    if (!a.suppressed_by.empty()) {
      alerts_suppressed_.Add();
      return;
    }
    // Reading received → alert raised; an acknowledgement or the hold timer is no such latency.
    if (event.from_reading) {
      raise_latency_.Observe(static_cast<double>(clock_.NowNs() - a.received_ns) / 1e9);
    }
    std::string text;
    text.reserve(512);
    text += R"({"type":"alert","event":)";
    AppendJsonString(text, AlertEventTypeName(event.type));
    text += R"(,"alert":)";
    AppendAlertJson(text, a);
    // The closing brace and pushed_ns are added when the message is written.
    auto shared = std::make_shared<const std::string>(std::move(text));
    std::lock_guard lock(mu_);
    for (const auto& s : sessions_) {
      if (s->filter().Admits(a)) s->Enqueue(shared, /*alert=*/true, a.received_ns);
    }
  }

  bool WantsLiveValues() const override { return value_sessions_.load() > 0; }

  void OnLiveValue(const LiveValue& v) override {
    std::string text;
    text.reserve(256);
    text += R"({"type":"value","sensor":)";
    AppendJsonString(text, v.sensor);
    text += R"(,"time":)";
    AppendJsonString(text, FormatRfc3339(v.time_ns));
    text += R"(,"time_ns":)";
    AppendJsonInt(text, v.time_ns);
    text += R"(,"values":{)";
    bool first = true;
    for (const auto& [name, value] : *v.values) {
      AppendJsonKey(text, name, first);
      AppendJsonNumber(text, value);
      first = false;
    }
    text += "}}";
    auto shared = std::make_shared<const std::string>(std::move(text));
    std::lock_guard lock(mu_);
    for (const auto& s : sessions_) {
      if (s->filter().AdmitsValueOf(v.sensor)) s->Enqueue(shared, /*alert=*/false, 0);
    }
  }

  void CountDroppedValue() { values_dropped_.Add(); }
  void CountAlertPushed(std::int64_t received_ns) {
    alerts_pushed_.Add();
    push_latency_.Observe(static_cast<double>(clock_.NowNs() - received_ns) / 1e9);
  }
  std::int64_t NowNs() const { return clock_.NowNs(); }

 private:
  Clock& clock_;
  Gauge& sessions_gauge_;
  Counter& values_dropped_;
  Counter& alerts_pushed_;
  Counter& alerts_suppressed_;
  Histogram& push_latency_;
  Histogram& raise_latency_;
  mutable std::mutex mu_;
  std::set<std::shared_ptr<WsSession>> sessions_;
  std::atomic<int> value_sessions_{0};
};

void WsSession::Accept(http::request<http::string_body> req) {
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    self->hub_.Add(self);
    self->DoRead();
  });
}

void WsSession::DoRead() {
  // Clients have nothing to say yet; reading keeps pings/close frames flowing.
  ws_.async_read(read_buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    if (ec) {
      self->closed_ = true;
      self->hub_.Remove(self);
      return;
    }
    self->read_buffer_.consume(n);
    self->DoRead();
  });
}

void WsSession::Enqueue(std::shared_ptr<const std::string> text, bool alert,
                        std::int64_t received_ns) {
  net::post(ws_.get_executor(),
            [self = shared_from_this(), text = std::move(text), alert, received_ns]() mutable {
              if (self->closed_) return;
              if (alert) {
                if (self->alerts_.size() >= kMaxQueuedAlertsPerClient) {
                  // A client this far behind is gone in all but name; close it rather than grow
                  // forever.
                  spdlog::warn("closing a WebSocket client that stopped reading alerts");
                  self->Close();
                  return;
                }
                self->alerts_.push_back({std::move(text), received_ns});
              } else {
                if (self->values_.size() >= kMaxQueuedValuesPerClient) {
                  self->values_.pop_front();
                  self->hub_.CountDroppedValue();
                }
                self->values_.push_back({std::move(text), 0});
              }
              if (!self->writing_) self->WriteNext();
            });
}

void WsSession::WriteNext() {
  bool alert = !alerts_.empty();
  std::deque<Message>& lane = alert ? alerts_ : values_;
  if (lane.empty() || closed_) return;
  Message m = std::move(lane.front());
  lane.pop_front();
  current_ = *m.text;
  if (alert) {
    current_ += R"(,"pushed_ns":)";
    AppendJsonInt(current_, hub_.NowNs());
    current_ += "}";
    hub_.CountAlertPushed(m.received_ns);
  }
  writing_ = true;
  ws_.text(true);
  ws_.async_write(net::buffer(current_),
                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    self->writing_ = false;
                    if (ec) {
                      self->closed_ = true;
                      self->hub_.Remove(self);
                      return;
                    }
                    self->WriteNext();
                  });
}

void WsSession::Close() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;
    self->closed_ = true;
    self->hub_.Remove(self);
    beast::error_code ec;
    beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(self->ws_).socket().close(ec);
  });
}

class HttpSession;

// What the sessions of one server share; sessions hold it, as they can outlive the server until
// the io_context stops.
struct HttpSessions {
  LiveSet<HttpSession> live;
  std::atomic<bool> draining{false};
};

// How long a draining server waits for a request that has not begun to arrive.
constexpr auto kDrainingReadTimeout = std::chrono::milliseconds(500);

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, const HttpServerOptions& options, HttpHandler& handler,
              StreamHubImpl& hub, std::shared_ptr<HttpSessions> sessions)
      : stream_(std::move(socket)),
        options_(options),
        handler_(handler),
        hub_(hub),
        sessions_(std::move(sessions)) {}
  ~HttpSession() { sessions_->live.Remove(this); }

  void Run() {
    sessions_->live.Add(shared_from_this());
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->DoRead(); });
  }

  // Shutdown: a request being read or handled is still answered (with Connection: close); an
  // idle keep-alive connection is closed now.
  void Finish() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && !self->parser_->got_some() && self->buffer_.size() == 0) {
        self->stream_.cancel();
      }
    });
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(sessions_->draining ? std::chrono::milliseconds(kDrainingReadTimeout)
                                              : std::chrono::milliseconds(120'000));
    reading_ = true;
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    reading_ = false;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) return Close();
    if (ec == http::error::body_limit) {
      return WriteSimple(413,
                         R"({"error":"request body exceeds the limit of )" +
                             std::to_string(options_.max_body_bytes) + R"( bytes"})",
                         /*keep_alive=*/false);
    }
    if (ec) return Close();
    http::request<http::string_body> req = parser_->release();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    if (websocket::is_upgrade(req)) {
      HttpRequest probe;
      SplitTarget(req.target(), probe);
      if (probe.path != "/api/v1/stream") {
        return WriteSimple(404, R"({"error":"no WebSocket endpoint at this path"})", false);
      }
      auto filter = StreamFilter::Parse(probe);
      if (!filter.ok()) {
        std::string body = R"({"error":)";
        AppendJsonString(body, filter.status().message());
        body += "}";
        return WriteSimple(400, body, false);
      }
      stream_.expires_never();
      auto ws =
          std::make_shared<WsSession>(stream_.release_socket(), hub_, std::move(filter).value());
      ws->Accept(std::move(req));
      return;
    }
    HttpRequest r;
    r.method = std::string(req.method_string());
    SplitTarget(req.target(), r);
    r.content_type = std::string(req[http::field::content_type]);
    r.content_encoding = std::string(req[http::field::content_encoding]);
    r.accept = std::string(req[http::field::accept]);
    r.body = std::move(req.body());
    handler_.Handle(std::move(r), [self = shared_from_this()](HttpResponse resp) {
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->Write(std::move(resp)); });
    });
  }

  void WriteSimple(int status, std::string body, bool keep_alive) {
    keep_alive_ = keep_alive;
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    Write(std::move(r));
  }

  void Write(HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    res->set(http::field::server, "aquawatch");
    if (!r.body.empty() || r.status != 204) res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !sessions_->draining);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec) return self->Close();
                        if (!res->keep_alive()) return self->Close();
                        self->DoRead();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServerOptions& options_;
  HttpHandler& handler_;
  StreamHubImpl& hub_;
  std::shared_ptr<HttpSessions> sessions_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool reading_ = false;  // waiting for a request; on the session's strand
};

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(net::io_context& io, HttpServerOptions options, HttpHandler& handler,
                 StreamHubImpl& hub)
      : io_(io),
        acceptor_(net::make_strand(io)),
        options_(std::move(options)),
        handler_(handler),
        hub_(hub) {}

  Status Listen() {
    beast::error_code ec;
    auto address = net::ip::make_address(options_.address, ec);
    if (ec)
      return Status::InvalidArgument("http address \"" + options_.address + "\": " + ec.message());
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::IoError("http listen on " + options_.address + ":" +
                             std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    return Status::Ok();
  }

  std::uint16_t port() const override { return port_; }

  void Stop() override {
    sessions_->draining = true;
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    for (const auto& s : sessions_->live.Snapshot()) s->Finish();
  }

  std::size_t Drain(std::chrono::milliseconds timeout) override {
    // A session accepted just before the acceptor closed joins after the first sweep.
    for (const auto& s : sessions_->live.Snapshot()) s->Finish();
    return sessions_->live.WaitEmpty(timeout);
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        spdlog::warn("http accept: {}", ec.message());
      } else {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        std::make_shared<HttpSession>(std::move(s), options_, handler_, hub_, sessions_)->Run();
      }
      if (acceptor_.is_open()) DoAccept();
    });
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  HttpServerOptions options_;
  HttpHandler& handler_;
  StreamHubImpl& hub_;
  std::uint16_t port_ = 0;
  std::shared_ptr<HttpSessions> sessions_ = std::make_shared<HttpSessions>();
};

}  // namespace

std::unique_ptr<StreamHub> NewStreamHub(Clock& clock, MetricsRegistry& metrics) {
  return std::make_unique<StreamHubImpl>(clock, metrics);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(net::io_context& io,
                                                      const HttpServerOptions& options,
                                                      HttpHandler& handler, StreamHub& hub) {
  auto server =
      std::make_unique<HttpServerImpl>(io, options, handler, static_cast<StreamHubImpl&>(hub));
  Status s = server->Listen();
  if (!s.ok()) return s;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace aquawatch
