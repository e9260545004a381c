// Role notify: the Notifier in a process of its own, taking alert events from RabbitMQ.
#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "api/api_response.h"
#include "api/http_server.h"
#include "api/notify_routes.h"
#include "app/serve.h"
#include "core/env.h"
#include "notify/alert_bus.h"
#include "notify/channels.h"
#include "notify/notifier.h"

namespace aquawatch {
namespace {

// The alerts this process has heard of, as of their latest event: what the notifier sends
// about. The alert manager lives in another process, so a silence that ends between two events
// is seen at the next event only (docs/notifications.md "Roles").
class HeardAlerts final : public AlertEventSink {
 public:
  void SetSink(AlertEventSink* sink) { sink_ = sink; }

  Status Take(const AlertEvent& e) override {
    {
      std::lock_guard lock(mu_);
      alerts_[e.alert.id] = e.alert;
      // Resolved alerts are kept for their resolution notices, the oldest dropped past a bound.
      if (alerts_.size() > kMaxAlerts) {
        for (auto it = alerts_.begin(); it != alerts_.end() && alerts_.size() > kMaxAlerts;) {
          it = it->second.resolved() ? alerts_.erase(it) : std::next(it);
        }
      }
    }
    return sink_->Take(e);
  }

  std::optional<Alert> Lookup(std::uint64_t id) const {
    std::lock_guard lock(mu_);
    auto it = alerts_.find(id);
    if (it == alerts_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static constexpr std::size_t kMaxAlerts = 100000;
  mutable std::mutex mu_;
  std::map<std::uint64_t, Alert> alerts_;  // by id: the oldest first
  AlertEventSink* sink_ = nullptr;
};

class NotifyRoleHandler final : public HttpHandler {
 public:
  NotifyRoleHandler(Notifier& notifier, MetricsRegistry& metrics)
      : notifier_(notifier), metrics_(metrics) {}

  void Handle(HttpRequest&& req, Respond respond) override {
    const std::string& p = req.path;
    if (p == kNotifyPolicyPath ||
        (p.compare(0, kNotificationsPath.size(), kNotificationsPath) == 0 &&
         (p.size() == kNotificationsPath.size() || p[kNotificationsPath.size()] == '/'))) {
      return respond(HandleNotifyRoute(notifier_, req));
    }
    if (p == "/healthz") return respond(JsonResponse(R"({"status":"ok","role":"notify"})"));
    if (p == "/readyz") return respond(JsonResponse(R"({"status":"ready","role":"notify"})"));
    if (p == "/metrics") {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = metrics_.RenderPrometheus();
      return respond(std::move(r));
    }
    respond(ApiError(404,
                     "role notify serves /api/v1/notifications, /api/v1/notify/policy, "
                     "/metrics, /healthz and /readyz"));
  }

 private:
  Notifier& notifier_;
  MetricsRegistry& metrics_;
};

}  // namespace

int RunNotifyRole(const Config& config) {
  Env& env = DefaultEnv();
  Clock& clock = SystemClock();
  MetricsRegistry metrics;
  if (Status s = env.CreateDirs(config.pipeline.data_dir); !s.ok()) {
    spdlog::critical("cannot create the data directory: {}", s.ToString());
    return 1;
  }
  auto policy = LoadNotifyPolicy(config);
  auto store = OpenNotificationStore(config.pipeline.data_dir + "/notifications.db");
  if (!policy.ok() || !store.ok()) {
    spdlog::critical("cannot start notifications: {}",
                     !policy.ok() ? policy.status().ToString() : store.status().ToString());
    return 1;
  }
  HeardAlerts heard;
  const ChannelSettings channels = config.notify.channels;
  Notifier notifier(
      clock,
      {.channels = channels,
       .policy = std::move(policy).value(),
       .retry = config.notify.retry,
       .rate_limit = config.notify.rate_limit,
       .start_threads = true},
      std::move(store).value(), [channels, &clock] { return NewCurlSender(channels, clock); },
      [&heard](std::uint64_t id) { return heard.Lookup(id); }, metrics);
  heard.SetSink(&notifier);
  if (Status s = notifier.Start(); !s.ok()) {
    spdlog::critical("cannot start notifications: {}", s.ToString());
    return 1;
  }
  RabbitConsumer consumer(config.rabbitmq, heard, metrics);
  spdlog::info("role notify: consuming alert events from RabbitMQ {}:{} queue {}",
               config.rabbitmq.host, config.rabbitmq.port, config.rabbitmq.queue);

  boost::asio::io_context io(config.io_threads);
  std::unique_ptr<StreamHub> hub = NewStreamHub(clock, metrics);
  auto work = boost::asio::make_work_guard(io);
  NotifyRoleHandler handler(notifier, metrics);
  auto http = HttpServer::Start(io, config.http, handler, *hub);
  if (!http.ok()) {
    spdlog::critical("{}", http.status().ToString());
    return 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::promise<int> stop_signal;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) stop_signal.set_value(sig);
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < config.io_threads; ++i) threads.emplace_back([&io] { io.run(); });
  const std::uint16_t http_port = (*http)->port();
  spdlog::info("aquawatch ready (role notify): http://{}:{}", config.http.address, http_port);
  std::printf("{\"event\":\"ready\",\"role\":\"notify\",\"http_port\":%u,\"tcp_port\":0}\n",
              http_port);
  std::fflush(stdout);

  int sig = stop_signal.get_future().get();
  spdlog::info("signal {}: shutting down", sig);
  (*http)->Stop();
  (*http)->Drain(std::chrono::seconds(5));
  work.reset();
  io.stop();
  for (auto& t : threads) t.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace aquawatch
