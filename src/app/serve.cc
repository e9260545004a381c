#include "app/serve.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <cstdio>
#include <future>
#include <thread>

#include "alert/alert_manager.h"
#include "alert/sqlite_alert_store.h"
#include "api/http_server.h"
#include "api/rest.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/metrics.h"
#include "ingest/ingest_channel.h"
#include "ingest/mqtt_listener.h"
#include "ingest/tcp_listener.h"
#include "notify/channels.h"
#include "notify/notifier.h"
#include "pipeline/pipeline.h"
#include "store/catalog/catalog_feeder.h"

namespace aquawatch {
namespace {

// Rules edited through the API override the configured ones; sensors on another profile than
// the default are handed to the pipeline by id.
Status LoadRulesFromCatalog(const Catalog& catalog, PipelineOptions& options) {
  auto rules = catalog.ListProfileRules();
  if (!rules.ok()) return rules.status();
  for (const ProfileRuleRecord& r : *rules) {
    auto profile = SiteProfileIndex(r.profile);
    ParameterId id = ParameterFromName(r.parameter);
    if (!profile || id == ParameterId::kCustom) {
      spdlog::warn("catalog: ignoring a rule for {} / {}: unknown profile or parameter", r.profile,
                   r.parameter);
      continue;
    }
    ThresholdRule& rule = options.rules.For(*profile).For(id);
    rule = {false,           r.critical_low, r.warn_low,      r.warn_high,
            r.critical_high, r.hysteresis,   r.min_duration_s};
    UpdateEnabled(rule);
  }
  std::string after;
  for (;;) {
    auto page = catalog.ListSensors(after, 10000);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (const SensorRecord& s : *page) {
      auto profile = SiteProfileIndex(s.profile);
      if (profile && *profile != DefaultSiteProfileIndex()) {
        options.sensor_profiles.emplace_back(s.id, *profile);
      }
    }
    after = page->back().id;
  }
  spdlog::info("catalog: {} edited rules, {} sensors on a non-default profile", rules->size(),
               options.sensor_profiles.size());
  return Status::Ok();
}

}  // namespace

// How long shutdown waits for each input to finish what it has taken.
constexpr std::chrono::milliseconds kShutdownDrain{10'000};

int RunServe(const Config& config) {
  if (config.role == "notify") return RunNotifyRole(config);
  Env& env = DefaultEnv();
  Clock& clock = SystemClock();
  MetricsRegistry metrics;
  metrics.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes", "",
                           [] { return ProcessResidentBytes(); });
  // Services start in dependency order: storage and detection, then the outputs, then inputs.
  spdlog::info("opening data directory {} ({} shards, {} partitions)", config.pipeline.data_dir,
               config.pipeline.shards, config.pipeline.partitions);
  // The catalog of sensors (docs/format/catalog.md) comes first: it holds the rules edited
  // through the API and each sensor's profile, which the shards need before they replay.
  if (Status s = env.CreateDirs(config.pipeline.data_dir); !s.ok()) {
    spdlog::critical("cannot create the data directory: {}", s.ToString());
    return 1;
  }
  auto opened_catalog = Catalog::Open(config.pipeline.data_dir + "/catalog.db");
  if (!opened_catalog.ok()) {
    spdlog::critical("cannot open the catalog: {}", opened_catalog.status().ToString());
    return 1;
  }
  std::unique_ptr<Catalog> catalog = std::move(opened_catalog).value();
  // Alerts and their history (docs/format/alerts.md), loaded before the shards replay so the
  // replay reconciles with them instead of raising them again.
  auto alert_store = OpenSqliteAlertStore(config.pipeline.data_dir + "/alerts.db");
  if (!alert_store.ok()) {
    spdlog::critical("cannot open the alert store: {}", alert_store.status().ToString());
    return 1;
  }
  AlertManager alerts(clock, config.alerts, std::move(alert_store).value());
  if (Status s = alerts.Load(); !s.ok()) {
    spdlog::critical("cannot read alerts back: {}", s.ToString());
    return 1;
  }
  metrics.AddCallbackGauge("aquawatch_alerts_open", "Unresolved (open or acknowledged) alerts", "",
                           [&alerts] { return static_cast<double>(alerts.OpenCount()); });
  metrics.AddCallbackCounter("aquawatch_alert_store_failures_total",
                             "Failed writes to the alert store (each retried; nothing dropped)", "",
                             [&alerts] { return static_cast<double>(alerts.store_failures()); });
  PipelineOptions pipeline_options = config.pipeline;
  // Validate() has checked the tuning, so the model exists when detection is on.
  pipeline_options.station_model =
      config.detect_enabled ? CanonicalStationModel(config.detect) : nullptr;
  if (Status s = LoadRulesFromCatalog(*catalog, pipeline_options); !s.ok()) {
    spdlog::critical("cannot read rules and profiles from the catalog: {}", s.ToString());
    return 1;
  }
  auto opened = Pipeline::Open(env, clock, metrics, alerts, pipeline_options);
  if (!opened.ok()) {
    spdlog::critical("cannot open storage: {}", opened.status().ToString());
    return 1;
  }
  std::unique_ptr<Pipeline> pipeline = std::move(opened).value();
  // Notifications (docs/notifications.md): pages under way and undelivered notifications
  // resume; the notifier hears the alerts recovery reconciles.
  auto notify_policy = LoadNotifyPolicy(config);  // Validate() has read it once
  auto notify_store = OpenNotificationStore(config.pipeline.data_dir + "/notifications.db");
  if (!notify_policy.ok() || !notify_store.ok()) {
    spdlog::critical("cannot start notifications: {}", !notify_policy.ok()
                                                           ? notify_policy.status().ToString()
                                                           : notify_store.status().ToString());
    return 1;
  }
  const ChannelSettings channels = config.notify.channels;
  Notifier notifier(
      clock,
      {.channels = channels,
       .policy = std::move(notify_policy).value(),
       .retry = config.notify.retry,
       .rate_limit = config.notify.rate_limit,
       .start_threads = config.notify.enabled},
      std::move(notify_store).value(),
      [channels, &clock] { return NewCurlSender(channels, clock); },
      [&alerts](std::uint64_t id) { return alerts.Current(id); }, metrics);
  if (Status s = notifier.Start(); !s.ok()) {
    spdlog::critical("cannot start notifications: {}", s.ToString());
    return 1;
  }
  // The hand-off from the alert manager to the notifier: direct, or through RabbitMQ's durable
  // priority queue (the same path role notify takes in another process).
  std::unique_ptr<RabbitPublisher> bus_publisher;
  std::unique_ptr<RabbitConsumer> bus_consumer;
  if (config.alert_bus == "rabbitmq") {
    bus_publisher = std::make_unique<RabbitPublisher>(config.rabbitmq, metrics);
    alerts.AddListener(bus_publisher.get());
    spdlog::info("alert bus: publishing alert events to RabbitMQ {}:{} queue {}",
                 config.rabbitmq.host, config.rabbitmq.port, config.rabbitmq.queue);
  }
  if (config.notify.enabled && bus_publisher) {
    bus_consumer = std::make_unique<RabbitConsumer>(config.rabbitmq, notifier, metrics);
  } else if (config.notify.enabled) {
    alerts.AddListener(&notifier);
  }
  if (config.notify.enabled) {
    if (notifier.policy().routes.empty()) {
      spdlog::warn(
          "notify: no routes in the notification policy; nobody is told of alerts "
          "until notify.policy_file or PUT /api/v1/notify/policy sets some");
    }
  } else {
    spdlog::warn("notify: notifications are off (notify.enabled=false)");
  }
  alerts.FinishRecovery();  // the shards have replayed; no reading has been taken yet
  if (config.notify.enabled) notifier.Reconcile(alerts.List(AlertManager::Filter::kOpen, 100000));
  CatalogFeeder feeder(*catalog);
  pipeline->SetSightingSink(&feeder);
  metrics.AddCallbackCounter("aquawatch_catalog_sightings_total",
                             "Sightings of sensors written to the catalog", "",
                             [&feeder] { return static_cast<double>(feeder.recorded()); });
  metrics.AddCallbackCounter("aquawatch_catalog_sightings_dropped_total",
                             "Sightings dropped because the catalog fell behind", "",
                             [&feeder] { return static_cast<double>(feeder.dropped()); });
  RecoveryStats rec = pipeline->recovery();
  spdlog::info(
      "recovered in {:.3f} s: checkpoints of {} sensors ({} bytes), then {} readings replayed "
      "({} log records, {} torn bytes cut)",
      rec.seconds, rec.checkpoint_sensors, rec.checkpoint_bytes, rec.readings, rec.records,
      rec.truncated_bytes);
  // What the last start did; fixed for the life of the process.
  const struct {
    const char* name;
    const char* help;
    double value;
  } recovery_gauges[] = {
      {"aquawatch_recovery_seconds",
       "Time the last start spent loading checkpoints and replaying logs", rec.seconds},
      {"aquawatch_recovery_checkpoint_sensors",
       "Sensors restored from checkpoints at the last start",
       static_cast<double>(rec.checkpoint_sensors)},
      {"aquawatch_recovery_readings", "Readings replayed at the last start",
       static_cast<double>(rec.readings)},
      {"aquawatch_recovery_torn_bytes",
       "Bytes of unacknowledged torn log tail cut at the last start",
       static_cast<double>(rec.truncated_bytes)},
      {"aquawatch_recovery_quarantined_records",
       "Damaged log records moved to quarantine/ at the last start",
       static_cast<double>(rec.quarantined_records)},
      {"aquawatch_recovery_quarantined_bytes",
       "Bytes of damaged log moved to quarantine/ at the last start",
       static_cast<double>(rec.quarantined_bytes)},
      {"aquawatch_recovery_quarantined_checkpoints",
       "Damaged checkpoints moved to quarantine/ at the last start",
       static_cast<double>(rec.quarantined_checkpoints)},
  };
  for (const auto& g : recovery_gauges) {
    metrics.AddCallbackGauge(g.name, g.help, "", [v = g.value] { return v; });
  }

  // The io_context outlives everything that owns sockets (WebSocket sessions live in the hub), so
  // it is created first and destroyed last.
  boost::asio::io_context io(config.io_threads);
  std::unique_ptr<StreamHub> hub = NewStreamHub(clock, metrics);
  alerts.AddListener(hub.get());
  pipeline->SetLiveValueListener(hub.get());

  auto work = boost::asio::make_work_guard(io);
  ApiOptions api_options;
  api_options.max_body_bytes = config.http.max_body_bytes;
  api_options.limits = config.pipeline.limits;
  std::unique_ptr<HttpHandler> api =
      NewApiHandler(*pipeline, alerts, notifier, *catalog, metrics, clock, api_options);
  auto http = HttpServer::Start(io, config.http, *api, *hub);
  if (!http.ok()) {
    spdlog::critical("{}", http.status().ToString());
    return 1;
  }

  IngestChannel tcp_channel(*pipeline, metrics, "tcp", clock, config.pipeline.limits);
  std::unique_ptr<TcpListener> tcp;
  if (config.tcp_enabled) {
    auto started = TcpListener::Start(io, config.tcp, tcp_channel, clock);
    if (!started.ok()) {
      spdlog::critical("{}", started.status().ToString());
      return 1;
    }
    tcp = std::move(started).value();
  }

  IngestChannel mqtt_channel(*pipeline, metrics, "mqtt", clock, config.pipeline.limits);
  std::unique_ptr<MqttListener> mqtt;
  if (!config.mqtt.broker.empty()) {
    auto started = MqttListener::Start(config.mqtt, mqtt_channel, clock);
    if (!started.ok()) {
      spdlog::critical("{}", started.status().ToString());
      return 1;
    }
    mqtt = std::move(started).value();
  }

  // Signals are caught before the ready line, so a supervisor that stops us right after it
  // still gets a clean shutdown.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::promise<int> stop_signal;
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) stop_signal.set_value(sig);
  });

  std::vector<std::thread> threads;
  for (int i = 0; i < config.io_threads; ++i) threads.emplace_back([&io] { io.run(); });

  std::uint16_t http_port = (*http)->port();
  spdlog::info("aquawatch ready: http://{}:{} (API, /metrics, WebSocket /api/v1/stream){}{}",
               config.http.address, http_port,
               tcp ? fmt::format(", line protocol tcp {}:{}", config.tcp.address, tcp->port()) : "",
               mqtt ? fmt::format(", mqtt {} {}", config.mqtt.broker, config.mqtt.topic) : "");
  // A machine-readable line on stdout for scripts and tests that asked for port 0.
  std::printf("{\"event\":\"ready\",\"http_port\":%u,\"tcp_port\":%u}\n", http_port,
              tcp ? tcp->port() : 0u);
  std::fflush(stdout);

  int sig = stop_signal.get_future().get();
  spdlog::info("signal {}: shutting down", sig);

  // Stop input first; answer every request already taken while the shards still run; then stop
  // the shards (they finish their queues, sync and checkpoint); then close the outputs.
  (*http)->Stop();
  if (tcp) tcp->Stop();
  if (mqtt) mqtt->Stop(kShutdownDrain);
  std::size_t http_left = (*http)->Drain(kShutdownDrain);
  std::size_t tcp_left = tcp ? tcp->Drain(kShutdownDrain) : 0;
  if (http_left + tcp_left > 0) {
    spdlog::warn("shutdown: {} http and {} tcp connections still busy after {} s; closing them",
                 http_left, tcp_left, kShutdownDrain.count() / 1000);
  }
  pipeline->Stop();
  feeder.Stop();  // writes the last sightings
  hub->CloseAll();
  alerts.RemoveListener(hub.get());
  if (bus_publisher) {
    alerts.RemoveListener(bus_publisher.get());
    bus_publisher.reset();  // publishes what is queued (up to 5 s)
  }
  bus_consumer.reset();
  alerts.RemoveListener(&notifier);
  work.reset();
  io.stop();
  for (auto& t : threads) t.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace aquawatch
