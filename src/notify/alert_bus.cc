#include "notify/alert_bus.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>

namespace aquawatch {
namespace json = boost::json;

// --- the codec ---------------------------------------------------------------------------------

namespace {

constexpr AlertEvent::Type kEventTypes[] = {
    AlertEvent::Type::kOpened,   AlertEvent::Type::kUpdated,      AlertEvent::Type::kResolved,
    AlertEvent::Type::kReopened, AlertEvent::Type::kAcknowledged, AlertEvent::Type::kCommented};

constexpr Level kLevels[] = {Level::kNormal, Level::kWarnLow, Level::kWarnHigh, Level::kCriticalLow,
                             Level::kCriticalHigh};

// The alert's fields, one table for both directions.
template <typename Visit>
void AlertFields(Visit&& v, auto& a) {
  v("id", a.id);
  v("sensor", a.sensor);
  v("site", a.site);
  v("zone", a.zone);
  v("kind", a.kind);
  v("parameter", a.parameter);
  v("classification", a.classification);
  v("value", a.value);
  v("threshold", a.threshold);
  v("reading_time_ns", a.reading_time_ns);
  v("received_ns", a.received_ns);
  v("opened_ns", a.opened_ns);
  v("message", a.message);
  v("active", a.active);
  v("cleared_ns", a.cleared_ns);
  v("cleared_at_ns", a.cleared_at_ns);
  v("resolved_ns", a.resolved_ns);
  v("resolved_at_ns", a.resolved_at_ns);
  v("resolved_by", a.resolved_by);
  v("acked_by", a.acked_by);
  v("ack_comment", a.ack_comment);
  v("acked_at_ns", a.acked_at_ns);
  v("reopened", a.reopened);
  v("updated_at_ns", a.updated_at_ns);
  v("history_size", a.history_size);
  v("suppressed_by", a.suppressed_by);
}

}  // namespace

std::string EncodeAlertEvent(const AlertEvent& e) {
  json::object o;
  o["type"] = AlertEventTypeName(e.type);
  o["from_reading"] = e.from_reading;
  o["level"] = LevelName(e.alert.level);
  o["priority"] = PriorityName(e.alert.priority);
  o["state"] = AlertStateName(e.alert.state);
  AlertFields([&](const char* key, const auto& field) { o[key] = field; }, e.alert);
  return json::serialize(o);
}

Result<AlertEvent> DecodeAlertEvent(std::string_view bytes) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(bytes.data(), bytes.size()), ec);
  if (ec || !v.is_object()) return Status::InvalidArgument("alert event: not a JSON object");
  const json::object& o = v.get_object();
  AlertEvent e;
  std::string error;
  auto text = [&](const char* key) -> std::string {
    const json::value* f = o.if_contains(key);
    if (f == nullptr || !f->is_string()) {
      if (error.empty()) error = fmt::format("alert event: field \"{}\" missing or not text", key);
      return {};
    }
    return std::string(f->get_string());
  };
  const std::string type = text("type");
  auto t = std::find_if(std::begin(kEventTypes), std::end(kEventTypes),
                        [&](AlertEvent::Type x) { return AlertEventTypeName(x) == type; });
  if (t == std::end(kEventTypes) && error.empty()) error = "alert event: unknown type " + type;
  if (t != std::end(kEventTypes)) e.type = *t;
  const std::string level = text("level");
  auto l = std::find_if(std::begin(kLevels), std::end(kLevels),
                        [&](Level x) { return LevelName(x) == level; });
  if (l != std::end(kLevels)) e.alert.level = *l;
  auto priority = ParsePriority(text("priority"));
  auto state = ParseAlertState(text("state"));
  if ((!priority || !state) && error.empty()) error = "alert event: bad priority or state";
  e.alert.priority = priority.value_or(AlertPriority::kMedium);
  e.alert.state = state.value_or(AlertState::kOpen);
  if (const json::value* f = o.if_contains("from_reading"); f && f->is_bool()) {
    e.from_reading = f->get_bool();
  }
  AlertFields(
      [&](const char* key, auto& field) {
        using T = std::decay_t<decltype(field)>;
        const json::value* f = o.if_contains(key);
        if (f == nullptr) {
          if (error.empty()) error = fmt::format("alert event: field \"{}\" missing", key);
          return;
        }
        if constexpr (std::is_same_v<T, std::string>) {
          if (f->is_string()) field = std::string(f->get_string());
        } else if constexpr (std::is_same_v<T, bool>) {
          if (f->is_bool()) field = f->get_bool();
        } else if constexpr (std::is_same_v<T, double>) {
          if (f->is_number()) field = f->to_number<double>();
        } else {
          if (f->is_int64() || f->is_uint64()) field = f->to_number<T>();
        }
      },
      e.alert);
  if (!error.empty()) return Status::InvalidArgument(error);
  return e;
}

// --- RabbitMQ ----------------------------------------------------------------------------------

namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr int kMaxPriority = 3;
constexpr std::chrono::milliseconds kFirstBackoff{100}, kMaxBackoff{5000};

std::uint8_t WirePriority(AlertPriority p) {
  switch (p) {
    case AlertPriority::kHigh:
      return 3;
    case AlertPriority::kMedium:
      return 2;
    case AlertPriority::kLow:
      return 1;
  }
  return 1;
}

std::string ReplyText(const amqp_rpc_reply_t& r, std::string_view what) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_NONE:
      return fmt::format("{}: no reply", what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return fmt::format("{}: {}", what, amqp_error_string2(r.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD || r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        // Both close methods start with reply_code and reply_text.
        const auto* m = static_cast<const amqp_channel_close_t*>(r.reply.decoded);
        return fmt::format(
            "{}: broker said {} {}", what, m->reply_code,
            std::string_view(static_cast<const char*>(m->reply_text.bytes), m->reply_text.len));
      }
      return fmt::format("{}: broker error (method {:#x})", what, r.reply.id);
  }
  return fmt::format("{}: unknown reply", what);
}

// One connection with channel 1 open and the queue declared. Owned by one thread.
class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { Close(); }

  amqp_connection_state_t get() const { return conn_; }

  Status Open(const RabbitOptions& o, bool publisher) {
    Close();
    conn_ = amqp_new_connection();
    amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
    if (socket == nullptr) return Status::Internal("rabbitmq: cannot create a socket");
    timeval connect_timeout{5, 0};
    const std::string where = fmt::format("rabbitmq {}:{}", o.host, o.port);
    if (int rc = amqp_socket_open_noblock(socket, o.host.c_str(), o.port, &connect_timeout);
        rc != AMQP_STATUS_OK) {
      return Status::Unavailable(fmt::format("{}: {}", where, amqp_error_string2(rc)));
    }
    // Heartbeats every 30 s keep an idle connection known to be alive; both loops call into
    // the library often enough to send them.
    if (auto r = amqp_login(conn_, o.vhost.c_str(), 0, 131072, 30, AMQP_SASL_METHOD_PLAIN,
                            o.user.c_str(), o.password.c_str());
        r.reply_type != AMQP_RESPONSE_NORMAL) {
      return Status::Unavailable(ReplyText(r, where + ": login"));
    }
    amqp_channel_open(conn_, kChannel);
    if (auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
      return Status::Unavailable(ReplyText(r, where + ": opening a channel"));
    }
    channel_open_ = true;
    amqp_table_entry_t max_priority;
    max_priority.key = amqp_cstring_bytes("x-max-priority");
    max_priority.value.kind = AMQP_FIELD_KIND_I32;
    max_priority.value.value.i32 = kMaxPriority;
    const amqp_table_t arguments{1, &max_priority};
    amqp_queue_declare(conn_, kChannel, amqp_cstring_bytes(o.queue.c_str()), /*passive=*/0,
                       /*durable=*/1, /*exclusive=*/0, /*auto_delete=*/0, arguments);
    if (auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
      return Status::Unavailable(ReplyText(r, where + ": declaring queue " + o.queue));
    }
    if (publisher) {
      amqp_confirm_select(conn_, kChannel);
      if (auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
        return Status::Unavailable(ReplyText(r, where + ": confirm.select"));
      }
    } else {
      amqp_basic_qos(conn_, kChannel, 0, static_cast<std::uint16_t>(o.prefetch), 0);
      if (auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
        return Status::Unavailable(ReplyText(r, where + ": basic.qos"));
      }
      amqp_basic_consume(conn_, kChannel, amqp_cstring_bytes(o.queue.c_str()), amqp_empty_bytes,
                         /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
      if (auto r = amqp_get_rpc_reply(conn_); r.reply_type != AMQP_RESPONSE_NORMAL) {
        return Status::Unavailable(ReplyText(r, where + ": basic.consume"));
      }
    }
    return Status::Ok();
  }

  void Close() {
    if (conn_ == nullptr) return;
    if (channel_open_) amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    channel_open_ = false;
  }

  // Publishes one persistent message and waits for the broker's confirm.
  Status PublishConfirmed(const RabbitOptions& o, std::string_view body, std::uint8_t priority) {
    amqp_basic_properties_t props{};
    props._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = 2;  // persistent
    props.priority = priority;
    amqp_bytes_t bytes{body.size(), const_cast<char*>(body.data())};
    if (int rc = amqp_basic_publish(conn_, kChannel, amqp_empty_bytes,
                                    amqp_cstring_bytes(o.queue.c_str()), /*mandatory=*/0,
                                    /*immediate=*/0, &props, bytes);
        rc != AMQP_STATUS_OK) {
      return Status::Unavailable(fmt::format("rabbitmq: publish: {}", amqp_error_string2(rc)));
    }
    for (;;) {
      amqp_frame_t frame;
      timeval confirm_timeout{5, 0};
      int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &confirm_timeout);
      if (rc != AMQP_STATUS_OK) {
        return Status::Unavailable(
            fmt::format("rabbitmq: waiting for the confirm: {}", amqp_error_string2(rc)));
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD:
          return Status::Ok();
        case AMQP_BASIC_NACK_METHOD:
          return Status::Unavailable("rabbitmq: the broker refused the message (nack)");
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          channel_open_ = false;
          return Status::Unavailable("rabbitmq: the broker closed the channel");
        default:
          continue;
      }
    }
  }

  // Lets the library answer heartbeats while idle.
  bool Idle() {
    amqp_frame_t frame;
    timeval none{0, 1000};
    int rc = amqp_simple_wait_frame_noblock(conn_, &frame, &none);
    return rc == AMQP_STATUS_OK || rc == AMQP_STATUS_TIMEOUT;
  }

 private:
  amqp_connection_state_t conn_ = nullptr;
  bool channel_open_ = false;
};

}  // namespace

RabbitPublisher::RabbitPublisher(RabbitOptions options, MetricsRegistry& metrics)
    : options_(std::move(options)),
      published_(metrics.AddCounter("aquawatch_alert_bus_published_total",
                                    "Alert events confirmed by RabbitMQ")),
      failures_(metrics.AddCounter("aquawatch_alert_bus_publish_failures_total",
                                   "Failed publishes to RabbitMQ (each retried)")) {
  metrics.AddCallbackGauge("aquawatch_alert_bus_queued", "Alert events waiting for RabbitMQ", "",
                           [this] {
                             std::lock_guard lock(mu_);
                             return static_cast<double>(queued_ - done_);
                           });
  thread_ = std::thread([this] { Loop(); });
}

RabbitPublisher::~RabbitPublisher() {
  if (!Flush(std::chrono::seconds(5))) {
    std::lock_guard lock(mu_);
    spdlog::error("alert bus: {} alert events were not confirmed by RabbitMQ at shutdown",
                  queued_ - done_);
  }
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void RabbitPublisher::OnAlertEvent(const AlertEvent& event) {
  if (event.type == AlertEvent::Type::kCommented) return;  // nothing to tell
  Message m{EncodeAlertEvent(event), WirePriority(event.alert.priority)};
  {
    std::lock_guard lock(mu_);
    lanes_[static_cast<int>(event.alert.priority)].push_back(std::move(m));
    ++queued_;
  }
  wake_.notify_one();
}

bool RabbitPublisher::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const std::uint64_t target = queued_;
  return confirmed_.wait_for(lock, timeout, [&] { return done_ >= target; });
}

void RabbitPublisher::Loop() {
  Connection conn;
  bool connected = false;
  std::chrono::milliseconds backoff = kFirstBackoff;
  std::string last_error;
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto lane = std::find_if(std::begin(lanes_), std::end(lanes_),
                             [](const std::deque<Message>& l) { return !l.empty(); });
    if (lane == std::end(lanes_)) {
      wake_.wait_for(lock, std::chrono::seconds(5));
      if (connected && std::all_of(std::begin(lanes_), std::end(lanes_),
                                   [](const std::deque<Message>& l) { return l.empty(); })) {
        lock.unlock();
        connected = conn.Idle();
        lock.lock();
      }
      continue;
    }
    // The message stays queued until the broker confirms it.
    const Message m = lane->front();
    lock.unlock();
    Status s = connected ? Status::Ok() : conn.Open(options_, /*publisher=*/true);
    if (s.ok()) s = conn.PublishConfirmed(options_, m.body, m.priority);
    lock.lock();
    if (s.ok()) {
      if (!connected && !last_error.empty()) spdlog::info("alert bus: RabbitMQ is back");
      connected = true;
      last_error.clear();
      backoff = kFirstBackoff;
      // Producers only push to the back, so the front is still `m`.
      lane->pop_front();
      ++done_;
      published_.Add();
      confirmed_.notify_all();
      continue;
    }
    failures_.Add();
    connected = false;
    if (s.message() != last_error) spdlog::warn("alert bus: {}; retrying", s.message());
    last_error = s.message();
    wake_.wait_for(lock, backoff, [&] { return stop_; });
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

RabbitConsumer::RabbitConsumer(RabbitOptions options, AlertEventSink& sink,
                               MetricsRegistry& metrics)
    : options_(std::move(options)),
      sink_(sink),
      consumed_(metrics.AddCounter("aquawatch_alert_bus_consumed_total",
                                   "Alert events taken from RabbitMQ and acknowledged")),
      failures_(metrics.AddCounter("aquawatch_alert_bus_consume_failures_total",
                                   "RabbitMQ connection failures and events handed back "
                                   "(requeued) because the notifier could not store them")),
      malformed_(metrics.AddCounter("aquawatch_alert_bus_malformed_total",
                                    "Messages on the alert queue that are not alert events "
                                    "(logged and acknowledged)")) {
  thread_ = std::thread([this] { Loop(); });
}

RabbitConsumer::~RabbitConsumer() {
  stop_ = true;
  thread_.join();
}

void RabbitConsumer::Loop() {
  Connection conn;
  bool connected = false;
  std::chrono::milliseconds backoff = kFirstBackoff;
  std::string last_error;
  while (!stop_) {
    if (!connected) {
      Status s = conn.Open(options_, /*publisher=*/false);
      if (!s.ok()) {
        failures_.Add();
        if (s.message() != last_error) spdlog::warn("alert bus: {}; retrying", s.message());
        last_error = s.message();
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      if (!last_error.empty()) spdlog::info("alert bus: consuming from RabbitMQ again");
      connected = true;
      last_error.clear();
      backoff = kFirstBackoff;
    }
    amqp_maybe_release_buffers(conn.get());
    amqp_envelope_t envelope;
    timeval poll{0, 200'000};  // to see stop_ in time
    amqp_rpc_reply_t r = amqp_consume_message(conn.get(), &envelope, &poll, 0);
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
      continue;
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
      failures_.Add();
      last_error = ReplyText(r, "rabbitmq: consume");
      spdlog::warn("alert bus: {}; reconnecting", last_error);
      connected = false;
      continue;
    }
    const std::string_view body(static_cast<const char*>(envelope.message.body.bytes),
                                envelope.message.body.len);
    auto event = DecodeAlertEvent(body);
    int rc = AMQP_STATUS_OK;
    if (!event.ok()) {
      malformed_.Add();
      spdlog::error("alert bus: dropping a message that is not an alert event ({}): {:.200}",
                    event.status().message(), body);
      rc = amqp_basic_ack(conn.get(), kChannel, envelope.delivery_tag, 0);
    } else if (Status s = sink_.Take(*event); s.ok()) {
      consumed_.Add();
      rc = amqp_basic_ack(conn.get(), kChannel, envelope.delivery_tag, 0);
    } else {
      // Not stored: back to the queue, to be taken again.
      failures_.Add();
      spdlog::warn("alert bus: the notifier could not take an event ({}); requeued", s.message());
      rc = amqp_basic_nack(conn.get(), kChannel, envelope.delivery_tag, 0, /*requeue=*/1);
      std::this_thread::sleep_for(backoff);
    }
    amqp_destroy_envelope(&envelope);
    if (rc != AMQP_STATUS_OK) connected = false;
  }
}

}  // namespace aquawatch
