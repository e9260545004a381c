// Config: every setting of `aquawatch serve`, from defaults, a YAML file, AQUAWATCH_* environment
// variables and command-line flags, in that order of precedence (later wins).
//
// One table (ConfigOptions) describes each setting once: its YAML key, environment variable,
// flag, help text and how to parse it; --help, `config print` and the loaders all read it.
// Thread-safety: built at start-up on one thread, then read-only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "alert/alert_manager.h"
#include "api/http_server.h"
#include "core/status.h"
#include "detect/station_detector.h"
#include "ingest/mqtt_listener.h"
#include "ingest/tcp_listener.h"
#include "notify/notifier.h"
#include "pipeline/pipeline.h"

namespace aquawatch {

struct Config {
  std::string role = "all";
  std::string log_level = "info";
  int io_threads = 2;
  HttpServerOptions http;
  bool tcp_enabled = true;
  TcpListenerOptions tcp;
  MqttListenerOptions mqtt;
  PipelineOptions pipeline;
  // The detection engine (docs/detection.md): on or off, and its tuning.
  bool detect_enabled = true;
  DetectorTuning detect;
  // The alert lifecycle (docs/alerts.md): a minute clear before an alert resolves by itself, and
  // a quarter of an hour in which a returning condition reopens it.
  AlertOptions alerts{.zone_min_sensors = 2,
                      .resolve_hold_ns = 60 * kNsPerSecond,
                      .reopen_window_ns = 15 * 60 * kNsPerSecond};
  // Notifications (docs/notifications.md): the channels' settings (secrets included, which
  // `config print` masks), retries, rate limit, and the file holding the routing policy.
  struct Notify {
    bool enabled = true;
    std::string policy_file;  // YAML or JSON; "" = no routes (nobody is told until one is set)
    ChannelSettings channels;
    RetryOptions retry;
    RateLimit rate_limit;
  } notify;
  // How alert events reach the notifier: "in_process" (role all only) or "rabbitmq".
  std::string alert_bus = "in_process";
  RabbitOptions rabbitmq;
};

struct ConfigOption {
  std::string key;  // YAML key, dotted: "http.port"
  std::string help;
  std::function<Status(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> get;

  std::string EnvName() const;   // AQUAWATCH_HTTP_PORT
  std::string FlagName() const;  // --http-port
};

const std::vector<ConfigOption>& ConfigOptions();

// Applies a YAML file's settings. Unknown keys are errors (a typo must not be ignored).
Status ApplyYamlFile(const std::string& path, Config& config);
// The same for YAML text; `origin` starts every error message ("config file /etc/aq.yaml").
Status ApplyYamlText(std::string_view text, std::string_view origin, Config& config);
// Applies AQUAWATCH_* variables from `environ`. Unknown AQUAWATCH_ names are errors, except
// AQUAWATCH_CONFIG (the file path).
Status ApplyEnvironment(char** environ, Config& config);
// Applies flag values (key -> text).
Status ApplyFlags(const std::map<std::string, std::string>& values, Config& config);
// Cross-field checks (e.g. shards <= partitions).
Status Validate(const Config& config);
// The notification policy of `notify.policy_file` (YAML or JSON; an empty policy when unset).
// Errors name the file and the place in it.
Result<NotifyPolicy> LoadNotifyPolicy(const Config& config);
// The effective configuration as YAML (secrets masked).
std::string RenderYaml(const Config& config);

}  // namespace aquawatch
