#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>

#include "core/duration.h"
#include "detect/replay.h"
#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

Status ParseInt(const std::string& key, const std::string& text, long long lo, long long hi,
                long long* out) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) {
    return Status::InvalidArgument(
        fmt::format("{}: expected an integer from {} to {}, got \"{}\"", key, lo, hi, text));
  }
  *out = v;
  return Status::Ok();
}

Status ParseBool(const std::string& key, const std::string& text, bool* out) {
  if (text == "true" || text == "1" || text == "yes" || text == "on") {
    *out = true;
  } else if (text == "false" || text == "0" || text == "no" || text == "off") {
    *out = false;
  } else {
    return Status::InvalidArgument(
        fmt::format("{}: expected true or false, got \"{}\"", key, text));
  }
  return Status::Ok();
}

Status ParseDouble(const std::string& key, const std::string& text, double* out) {
  if (text == "none" || text == "") {
    *out = std::nan("");
    return Status::Ok();
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return Status::InvalidArgument(
        fmt::format("{}: expected a number (or \"none\"), got \"{}\"", key, text));
  }
  *out = v;
  return Status::Ok();
}

std::string PrecisionName(Precision p) {
  switch (p) {
    case Precision::kNanoseconds:
      return "ns";
    case Precision::kMicroseconds:
      return "us";
    case Precision::kMilliseconds:
      return "ms";
    case Precision::kSeconds:
      return "s";
    case Precision::kMinutes:
      return "m";
    case Precision::kHours:
      return "h";
  }
  return "ns";
}

ConfigOption DurationOption(std::string key, std::string help,
                            std::function<std::int64_t&(Config&)> field) {
  return {key, std::move(help),
          [key, field](Config& c, const std::string& v) -> Status {
            // A count and a unit, or "0" alone (e.g. keep forever).
            std::optional<std::int64_t> ns = ParseDuration(v);
            if (!ns) {
              return Status::InvalidArgument(fmt::format(
                  "{}: expected a duration like 90s, 20m, 1h or 30d (or 0), got \"{}\"", key, v));
            }
            field(c) = *ns;
            return Status::Ok();
          },
          [field](const Config& c) { return FormatDuration(field(const_cast<Config&>(c))); }};
}

ConfigOption StringOption(std::string key, std::string help,
                          std::function<std::string&(Config&)> field,
                          std::function<Status(const std::string&)> check = nullptr) {
  auto get_field = field;
  return {std::move(key), std::move(help),
          [field, check](Config& c, const std::string& v) -> Status {
            if (check) {
              Status s = check(v);
              if (!s.ok()) return s;
            }
            field(c) = v;
            return Status::Ok();
          },
          [get_field](const Config& c) { return get_field(const_cast<Config&>(c)); }};
}

// A string that must not be shown: `config print` and --help's defaults show "***" when set.
ConfigOption SecretOption(std::string key, std::string help,
                          std::function<std::string&(Config&)> field) {
  ConfigOption o =
      StringOption(std::move(key), std::move(help) + " (masked in config print)", field);
  o.get = [field](const Config& c) {
    return field(const_cast<Config&>(c)).empty() ? std::string() : std::string("***");
  };
  return o;
}

// A finite number >= `lo`.
ConfigOption RateOption(std::string key, std::string help, std::function<double&(Config&)> field,
                        double lo) {
  std::string k = key;
  return {std::move(key), std::move(help),
          [field, k, lo](Config& c, const std::string& v) -> Status {
            double d = 0;
            Status s = ParseDouble(k, v, &d);
            if (s.ok() && (std::isnan(d) || d < lo)) {
              s = Status::InvalidArgument(
                  fmt::format("{}: expected a number >= {}, got \"{}\"", k, lo, v));
            }
            if (s.ok()) field(c) = d;
            return s;
          },
          [field](const Config& c) { return fmt::format("{}", field(const_cast<Config&>(c))); }};
}

template <typename Int>
ConfigOption NumberOption(std::string key, std::string help, std::function<Int&(Config&)> field,
                          long long lo, long long hi) {
  std::string k = key;
  return {std::move(key), std::move(help),
          [field, k, lo, hi](Config& c, const std::string& v) -> Status {
            long long n = 0;
            Status s = ParseInt(k, v, lo, hi, &n);
            if (s.ok()) field(c) = static_cast<Int>(n);
            return s;
          },
          [field](const Config& c) { return std::to_string(field(const_cast<Config&>(c))); }};
}

// A count limit: a number from 1 to `hi`, or "none" for no limit (stored as the type's max).
ConfigOption CountLimitOption(std::string key, std::string help,
                              std::function<std::size_t&(Config&)> field, long long hi) {
  std::string k = key;
  return {std::move(key), std::move(help) + " (\"none\": no limit)",
          [field, k, hi](Config& c, const std::string& v) -> Status {
            if (v == "none") {
              field(c) = std::numeric_limits<std::size_t>::max();
              return Status::Ok();
            }
            long long n = 0;
            Status s = ParseInt(k, v, 1, hi, &n);
            if (s.ok()) field(c) = static_cast<std::size_t>(n);
            return s;
          },
          [field](const Config& c) {
            std::size_t n = field(const_cast<Config&>(c));
            return n == std::numeric_limits<std::size_t>::max() ? std::string("none")
                                                                : std::to_string(n);
          }};
}

std::string FormatLimit(double v) {
  if (std::isinf(v) || std::isnan(v)) return "none";
  return fmt::format("{}", v);
}

std::vector<ConfigOption> BuildOptions() {
  std::vector<ConfigOption> o;
  o.push_back(StringOption(
      "role",
      "Which parts run: \"all\" (everything, embedded storage) or \"notify\" (notifications "
      "only, fed by RabbitMQ: needs alert_bus rabbitmq)",
      [](Config& c) -> std::string& { return c.role; },
      [](const std::string& v) {
        if (v == "all" || v == "notify") return Status::Ok();
        return Status::InvalidArgument(fmt::format(
            "role: \"{}\" is not available yet; \"all\" and \"notify\" are implemented", v));
      }));
  o.push_back(StringOption(
      "alert_bus",
      "How alert events reach the notifier: in_process, or rabbitmq (a durable priority queue)",
      [](Config& c) -> std::string& { return c.alert_bus; },
      [](const std::string& v) {
        if (v == "in_process" || v == "rabbitmq") return Status::Ok();
        return Status::InvalidArgument(
            fmt::format("alert_bus: \"{}\" is not in_process or rabbitmq", v));
      }));
  o.push_back(StringOption("rabbitmq.host", "RabbitMQ broker host (alert_bus rabbitmq)",
                           [](Config& c) -> std::string& { return c.rabbitmq.host; }));
  o.push_back(NumberOption<int>(
      "rabbitmq.port", "RabbitMQ AMQP port", [](Config& c) -> int& { return c.rabbitmq.port; }, 1,
      65535));
  o.push_back(StringOption("rabbitmq.user", "RabbitMQ user",
                           [](Config& c) -> std::string& { return c.rabbitmq.user; }));
  o.push_back(SecretOption("rabbitmq.password", "RabbitMQ password",
                           [](Config& c) -> std::string& { return c.rabbitmq.password; }));
  o.push_back(StringOption("rabbitmq.vhost", "RabbitMQ virtual host",
                           [](Config& c) -> std::string& { return c.rabbitmq.vhost; }));
  o.push_back(StringOption("rabbitmq.queue", "Durable priority queue for alert events",
                           [](Config& c) -> std::string& { return c.rabbitmq.queue; }));
  o.push_back(NumberOption<int>(
      "rabbitmq.prefetch", "Unacknowledged alert events the notify side holds at once",
      [](Config& c) -> int& { return c.rabbitmq.prefetch; }, 1, 65535));
  o.push_back(StringOption("data_dir", "Directory for the shard logs",
                           [](Config& c) -> std::string& { return c.pipeline.data_dir; }));
  o.push_back(StringOption(
      "log_level", "trace, debug, info, warn, error",
      [](Config& c) -> std::string& { return c.log_level; },
      [](const std::string& v) {
        static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
        for (const char* l : levels) {
          if (v == l) return Status::Ok();
        }
        return Status::InvalidArgument("log_level: expected trace, debug, info, warn or error");
      }));
  o.push_back(NumberOption<int>(
      "io_threads", "Threads serving HTTP, WebSocket and TCP",
      [](Config& c) -> int& { return c.io_threads; }, 1, 64));
  o.push_back(StringOption("http.address", "Address the HTTP API listens on",
                           [](Config& c) -> std::string& { return c.http.address; }));
  o.push_back(NumberOption<std::uint16_t>(
      "http.port", "HTTP port (0 = any free port)",
      [](Config& c) -> std::uint16_t& { return c.http.port; }, 0, 65535));
  o.push_back(NumberOption<std::size_t>(
      "http.max_body_bytes", "Largest request body, after gzip decompression",
      [](Config& c) -> std::size_t& { return c.http.max_body_bytes; }, 1024, 1ll << 30));
  o.push_back(
      {"tcp.enabled", "Accept line protocol over TCP",
       [](Config& c, const std::string& v) { return ParseBool("tcp.enabled", v, &c.tcp_enabled); },
       [](const Config& c) { return std::string(c.tcp_enabled ? "true" : "false"); }});
  o.push_back(StringOption("tcp.address", "Address the TCP line-protocol listener binds",
                           [](Config& c) -> std::string& { return c.tcp.address; }));
  o.push_back(NumberOption<std::uint16_t>(
      "tcp.port", "TCP line-protocol port (0 = any free port)",
      [](Config& c) -> std::uint16_t& { return c.tcp.port; }, 0, 65535));
  o.push_back({"tcp.precision", "Timestamp precision of TCP line protocol: ns, us, ms, s",
               [](Config& c, const std::string& v) -> Status {
                 auto p = ParsePrecision(v);
                 if (!p.ok())
                   return Status::InvalidArgument("tcp.precision: " + p.status().message());
                 c.tcp.precision = *p;
                 return Status::Ok();
               },
               [](const Config& c) { return PrecisionName(c.tcp.precision); }});
  o.push_back(StringOption("mqtt.broker",
                           "MQTT broker URI, e.g. tcp://127.0.0.1:1883 (empty = off)",
                           [](Config& c) -> std::string& { return c.mqtt.broker; }));
  o.push_back(StringOption("mqtt.topic", "MQTT topic filter to subscribe to",
                           [](Config& c) -> std::string& { return c.mqtt.topic; }));
  o.push_back(StringOption("mqtt.client_id",
                           "MQTT client id (unique per process: two clients with one id knock "
                           "each other off)",
                           [](Config& c) -> std::string& { return c.mqtt.client_id; }));
  o.push_back(NumberOption<int>(
      "mqtt.qos", "MQTT subscription QoS (0 or 1)", [](Config& c) -> int& { return c.mqtt.qos; }, 0,
      1));
  o.push_back(NumberOption<int>(
      "pipeline.shards", "Shard threads (fixed once data exists)",
      [](Config& c) -> int& { return c.pipeline.shards; }, 1, 256));
  o.push_back(NumberOption<int>(
      "pipeline.partitions", "Partitions sensors hash into (fixed once data exists)",
      [](Config& c) -> int& { return c.pipeline.partitions; }, 1, 65536));
  o.push_back(NumberOption<std::size_t>(
      "pipeline.max_queued_readings", "Readings a shard may hold before listeners get backpressure",
      [](Config& c) -> std::size_t& { return c.pipeline.max_queued_readings; }, 1, 1ll << 30));
  o.push_back(NumberOption<std::size_t>(
      "pipeline.max_urgent_readings",
      "Readings past a critical limit a shard may hold in its urgent lane, served ahead of the "
      "normal queue",
      [](Config& c) -> std::size_t& { return c.pipeline.max_urgent_readings; }, 1, 1ll << 30));
  o.push_back(NumberOption<std::size_t>(
      "pipeline.max_group_readings",
      "Readings a shard applies and syncs in one group commit (one loop iteration)",
      [](Config& c) -> std::size_t& { return c.pipeline.max_group_readings; }, 1, 1ll << 30));
  o.push_back(NumberOption<std::size_t>(
      "pipeline.max_queued_batches", "Batches a shard may hold before listeners get backpressure",
      [](Config& c) -> std::size_t& { return c.pipeline.max_queued_batches; }, 2, 1 << 20));
  o.push_back(NumberOption<std::uint64_t>(
      "pipeline.log_segment_bytes", "Size at which a shard log starts a new segment file",
      [](Config& c) -> std::uint64_t& { return c.pipeline.log.segment_bytes; }, 4096, 1ll << 40));
  o.push_back({"pipeline.log_sync_interval_ms",
               "0: fdatasync every group at once; N: at most one fdatasync per N ms per shard "
               "(acknowledgements wait for it)",
               [](Config& c, const std::string& v) -> Status {
                 long long ms = 0;
                 Status s = ParseInt("pipeline.log_sync_interval_ms", v, 0, 10000, &ms);
                 if (s.ok()) c.pipeline.log_sync_interval_ns = ms * 1'000'000;
                 return s;
               },
               [](const Config& c) {
                 return std::to_string(c.pipeline.log_sync_interval_ns / 1'000'000);
               }});
  o.push_back(DurationOption(
      "store.chunk_span", "Time window of one chunk per series; must divide one hour",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.head.chunk_span_ns; }));
  o.push_back(DurationOption(
      "store.late_window",
      "How far behind a series' newest reading a late one is still stored; older ones are refused",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.head.late_window_ns; }));
  o.push_back(DurationOption(
      "store.retention_raw", "Age at which raw readings are dropped (0: keep forever)",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.retention_ns[0]; }));
  o.push_back(DurationOption(
      "store.retention_1m", "Age at which 1-minute roll-ups are dropped (0: keep forever)",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.retention_ns[1]; }));
  o.push_back(DurationOption(
      "store.retention_1h", "Age at which 1-hour roll-ups are dropped (0: keep forever)",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.retention_ns[2]; }));
  o.push_back(DurationOption(
      "store.maintenance_interval",
      "How often retention runs; a series idle this long has its open chunk sealed",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.maintenance_interval_ns; }));
  o.push_back(
      {"store.checkpoint_mb", "A shard checkpoints once its log has grown this many MiB",
       [](Config& c, const std::string& v) -> Status {
         long long mb = 0;
         Status s = ParseInt("store.checkpoint_mb", v, 1, 1 << 20, &mb);
         if (s.ok()) c.pipeline.store.checkpoint_bytes = static_cast<std::uint64_t>(mb) << 20;
         return s;
       },
       [](const Config& c) { return std::to_string(c.pipeline.store.checkpoint_bytes >> 20); }});
  o.push_back(DurationOption(
      "store.checkpoint_interval",
      "A shard with new writes checkpoints at least this often (bounds restart time)",
      [](Config& c) -> std::int64_t& { return c.pipeline.store.checkpoint_interval_ns; }));
  o.push_back({"store.strict_recovery",
               "Refuse to start on a damaged log record or checkpoint instead of moving it to "
               "quarantine/ and going on (docs/reliability.md)",
               [](Config& c, const std::string& v) {
                 return ParseBool("store.strict_recovery", v, &c.pipeline.log.strict_recovery);
               },
               [](const Config& c) {
                 return std::string(c.pipeline.log.strict_recovery ? "true" : "false");
               }});
  o.push_back(DurationOption(
      "store.storage_retry_interval",
      "How often a shard whose storage failed (e.g. a full disk) tries to take writes again",
      [](Config& c) -> std::int64_t& { return c.pipeline.storage_retry_interval_ns; }));
  o.push_back(CountLimitOption(
      "ingest.max_fields_per_line", "Numeric fields one line (reading) may carry",
      [](Config& c) -> std::size_t& { return c.pipeline.limits.max_fields_per_line; }, 1ll << 40));
  o.push_back(DurationOption(
      "ingest.max_future",
      "How far ahead of the server clock a reading's time may be; later ones are refused",
      [](Config& c) -> std::int64_t& { return c.pipeline.limits.max_future_ns; }));
  o.push_back({"ingest.min_time", "Readings dated before this instant (RFC 3339) are refused",
               [](Config& c, const std::string& v) -> Status {
                 auto t = ParseRfc3339(v);
                 if (!t.ok() || *t < 0) {
                   return Status::InvalidArgument(
                       fmt::format("ingest.min_time: expected an RFC 3339 time after 1970, like "
                                   "2000-01-01T00:00:00Z, got \"{}\"",
                                   v));
                 }
                 c.pipeline.limits.min_time_ns = *t;
                 return Status::Ok();
               },
               [](const Config& c) { return FormatRfc3339(c.pipeline.limits.min_time_ns); }});
  o.push_back(CountLimitOption(
      "ingest.max_parameters_per_sensor", "Distinct parameters (series) one sensor may have",
      [](Config& c) -> std::size_t& { return c.pipeline.limits.max_parameters_per_sensor; },
      1ll << 40));
  o.push_back(CountLimitOption(
      "ingest.max_sensors", "Distinct sensors the server takes; new ones past it are refused",
      [](Config& c) -> std::size_t& { return c.pipeline.limits.max_sensors; }, 1ll << 40));
  o.push_back(CountLimitOption(
      "ingest.max_label_values", "Distinct site, zone and custom field names",
      [](Config& c) -> std::size_t& { return c.pipeline.limits.max_label_values; }, 1ll << 40));
  o.push_back(NumberOption<std::size_t>(
      "store.block_cache_mb", "RocksDB block cache for sealed chunks, in MiB",
      [](Config& c) -> std::size_t& { return c.pipeline.store.block_cache_mb; }, 8, 1 << 20));
  o.push_back(DurationOption(
      "alerts.resolve_hold",
      "An alert resolves by itself once its condition has been clear this long (0: at once)",
      [](Config& c) -> std::int64_t& { return c.alerts.resolve_hold_ns; }));
  o.push_back(DurationOption(
      "alerts.reopen_window",
      "A condition returning within this time of its alert's resolution reopens that alert "
      "(0: always a new alert)",
      [](Config& c) -> std::int64_t& { return c.alerts.reopen_window_ns; }));
  o.push_back(NumberOption<std::size_t>(
      "alerts.zone_min_sensors",
      "Sensors of one zone in an event at once that raise a zone_event alert (0: never)",
      [](Config& c) -> std::size_t& { return c.alerts.zone_min_sensors; }, 0, 1 << 20));
  o.push_back({"notify.enabled",
               "Send notifications of alerts by the policy (docs/notifications.md)",
               [](Config& c, const std::string& v) {
                 return ParseBool("notify.enabled", v, &c.notify.enabled);
               },
               [](const Config& c) { return c.notify.enabled ? "true" : "false"; }});
  o.push_back(
      StringOption("notify.policy_file",
                   "Receivers, escalation policies, routes and quiet hours (YAML or JSON); PUT "
                   "/api/v1/notify/policy replaces it until DELETE",
                   [](Config& c) -> std::string& { return c.notify.policy_file; }));
  o.push_back(StringOption("notify.public_url",
                           "Base URL of this server in messages' links to an alert",
                           [](Config& c) -> std::string& { return c.notify.channels.public_url; }));
  o.push_back(
      DurationOption("notify.timeout", "Longest one delivery attempt may take",
                     [](Config& c) -> std::int64_t& { return c.notify.channels.timeout_ns; }));
  o.push_back(
      StringOption("notify.sms.base_url",
                   "SMS gateway in the shape of Twilio's Messages API, e.g. "
                   "https://api.twilio.com",
                   [](Config& c) -> std::string& { return c.notify.channels.sms.base_url; }));
  o.push_back(
      StringOption("notify.sms.account_sid", "SMS gateway account (the user of HTTP Basic auth)",
                   [](Config& c) -> std::string& { return c.notify.channels.sms.account_sid; }));
  o.push_back(
      SecretOption("notify.sms.auth_token", "SMS gateway token (the password of HTTP Basic auth)",
                   [](Config& c) -> std::string& { return c.notify.channels.sms.auth_token; }));
  o.push_back(StringOption("notify.sms.from", "Phone number SMS are sent from",
                           [](Config& c) -> std::string& { return c.notify.channels.sms.from; }));
  o.push_back(StringOption("notify.email.url",
                           "SMTP server, smtp://host:port (smtps:// for implicit TLS)",
                           [](Config& c) -> std::string& { return c.notify.channels.email.url; }));
  o.push_back(StringOption("notify.email.from", "Sender address of notification mail",
                           [](Config& c) -> std::string& { return c.notify.channels.email.from; }));
  o.push_back(
      StringOption("notify.email.username", "SMTP user (empty: no authentication)",
                   [](Config& c) -> std::string& { return c.notify.channels.email.username; }));
  o.push_back(SecretOption("notify.email.password", "SMTP password", [](Config& c) -> std::string& {
    return c.notify.channels.email.password;
  }));
  o.push_back(
      {"notify.email.starttls", "Require STARTTLS on an smtp:// server",
       [](Config& c, const std::string& v) {
         return ParseBool("notify.email.starttls", v, &c.notify.channels.email.starttls);
       },
       [](const Config& c) { return c.notify.channels.email.starttls ? "true" : "false"; }});
  o.push_back(NumberOption<std::uint32_t>(
      "notify.retry.max_attempts", "Attempts before a notification is a dead letter",
      [](Config& c) -> std::uint32_t& { return c.notify.retry.max_attempts; }, 1, 1000));
  o.push_back(DurationOption(
      "notify.retry.initial_backoff", "Wait after the first failed attempt (doubled after each)",
      [](Config& c) -> std::int64_t& { return c.notify.retry.initial_backoff_ns; }));
  o.push_back(
      DurationOption("notify.retry.max_backoff", "Longest wait between attempts",
                     [](Config& c) -> std::int64_t& { return c.notify.retry.max_backoff_ns; }));
  o.push_back(RateOption(
      "notify.rate_limit.per_second",
      "Notifications per second each channel sends on average (0: no limit); more wait",
      [](Config& c) -> double& { return c.notify.rate_limit.per_second; }, 0));
  o.push_back(RateOption(
      "notify.rate_limit.burst", "Notifications each channel may send at once before the limit",
      [](Config& c) -> double& { return c.notify.rate_limit.burst; }, 1));
  o.push_back({"detect.enabled",
               "Run the detection engine (QA/QC, baselines, events) on every reading",
               [](Config& c, const std::string& v) {
                 return ParseBool("detect.enabled", v, &c.detect_enabled);
               },
               [](const Config& c) { return c.detect_enabled ? "true" : "false"; }});
  // One option per detector tuning field, from the table `replay --set` also reads.
  for (const auto& field : TuningFields(DetectorTuning{})) {
    // A copy, not a structured binding: clang 14 (the fuzz build) cannot capture those.
    const std::string name = field.first;
    std::string key = "detect." + name;
    o.push_back(
        {key,
         fmt::format("Detection engine: {}, {} (docs/detection.md)", name, TuningFieldRange(name)),
         [key, name](Config& c, const std::string& v) {
           Status s = SetTuningField(c.detect, name, v);
           return s.ok() ? s : Status::InvalidArgument(fmt::format("{}: {}", key, s.message()));
         },
         [name](const Config& c) {
           for (const auto& [k, value] : TuningFields(c.detect)) {
             if (k == name) return value;
           }
           return std::string();
         }});
  }
  // One option per rule field of every canonical parameter of every site profile.
  for (std::size_t prof = 0; prof < kSiteProfiles.size(); ++prof) {
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      auto id = static_cast<ParameterId>(p);
      for (const RuleField& rf : kRuleFields) {
        std::string key =
            fmt::format("rules.{}.{}.{}", kSiteProfiles[prof].name, ParameterName(id), rf.name);
        auto field = rf.field;
        const bool is_limit = rf.is_limit;
        std::string help =
            is_limit ? fmt::format("{} of {} ({}) for {} sites; \"none\" removes it", rf.name,
                                   ParameterName(id), CanonicalParameter(id).unit,
                                   kSiteProfiles[prof].name)
                     : fmt::format("{} of the {} rule for {} sites{}", rf.name, ParameterName(id),
                                   kSiteProfiles[prof].name,
                                   field == &ThresholdRule::min_duration_s ? " (seconds)" : "");
        o.push_back({key, std::move(help),
                     [key, prof, id, field, is_limit](Config& c, const std::string& v) -> Status {
                       double d = 0;
                       Status s = ParseDouble(key, v, &d);
                       if (!s.ok()) return s;
                       if (std::isnan(d)) d = is_limit ? NoLimit(field) : 0;  // "none"
                       ThresholdRule& rule = c.pipeline.rules.For(prof).For(id);
                       rule.*field = d;
                       UpdateEnabled(rule);
                       return Status::Ok();
                     },
                     [prof, id, field](const Config& c) {
                       return FormatLimit(c.pipeline.rules.For(prof).For(id).*field);
                     }});
      }
    }
  }
  return o;
}

const ConfigOption* FindOption(const std::string& key) {
  for (const ConfigOption& o : ConfigOptions()) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

void Flatten(const YAML::Node& node, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      Flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
  } else if (node.IsScalar()) {
    out.emplace_back(prefix, node.Scalar());
  } else if (node.IsNull()) {
    out.emplace_back(prefix, "");
  } else {
    out.emplace_back(prefix, "\x01sequence");  // reported as an error by the caller
  }
}

}  // namespace

std::string ConfigOption::EnvName() const {
  std::string name = "AQUAWATCH_";
  for (char c : key) name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  return name;
}

std::string ConfigOption::FlagName() const {
  std::string name = "--";
  for (char c : key) name.push_back(c == '.' || c == '_' ? '-' : c);
  return name;
}

const std::vector<ConfigOption>& ConfigOptions() {
  static const std::vector<ConfigOption> options = BuildOptions();
  return options;
}

Status ApplyYamlFile(const std::string& path, Config& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(fmt::format("config file {}: cannot be read", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ApplyYamlText(text, "config file " + path, config);
}

Status ApplyYamlText(std::string_view text, std::string_view origin, Config& config) {
  std::vector<std::pair<std::string, std::string>> pairs;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) return Status::Ok();
    if (!root.IsMap()) {
      return Status::InvalidArgument(fmt::format("{}: expected a mapping", origin));
    }
    // Inside the try: a key that is not a scalar (`[a, b]: 1`) throws on conversion.
    Flatten(root, "", pairs);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("{}: {}", origin, e.what()));
  }
  for (const auto& [key, value] : pairs) {
    const ConfigOption* o = FindOption(key);
    if (o == nullptr) {
      return Status::InvalidArgument(
          fmt::format("{}: unknown setting \"{}\" (see aquawatch serve --help)", origin, key));
    }
    if (value == "\x01sequence") {
      return Status::InvalidArgument(
          fmt::format("{}: \"{}\" must be a single value, not a list", origin, key));
    }
    Status s = o->set(config, value);
    if (!s.ok()) return Status::InvalidArgument(fmt::format("{}: {}", origin, s.message()));
  }
  return Status::Ok();
}

Status ApplyEnvironment(char** environ, Config& config) {
  std::map<std::string, const ConfigOption*> by_env;
  for (const ConfigOption& o : ConfigOptions()) by_env[o.EnvName()] = &o;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("AQUAWATCH_", 0) != 0) continue;
    std::size_t eq = entry.find('=');
    std::string name(entry.substr(0, eq));
    std::string value(eq == std::string_view::npos ? "" : entry.substr(eq + 1));
    if (name == "AQUAWATCH_CONFIG" || name.rfind("AQUAWATCH_TEST_", 0) == 0) continue;
    auto it = by_env.find(name);
    if (it == by_env.end()) {
      return Status::InvalidArgument(fmt::format("environment: unknown variable {}", name));
    }
    Status s = it->second->set(config, value);
    if (!s.ok())
      return Status::InvalidArgument(fmt::format("environment {}: {}", name, s.message()));
  }
  return Status::Ok();
}

Status ApplyFlags(const std::map<std::string, std::string>& values, Config& config) {
  for (const auto& [key, value] : values) {
    const ConfigOption* o = FindOption(key);
    if (o == nullptr) return Status::InvalidArgument("unknown setting " + key);
    Status s = o->set(config, value);
    if (!s.ok()) return Status::InvalidArgument(fmt::format("{}: {}", o->FlagName(), s.message()));
  }
  return Status::Ok();
}

Status Validate(const Config& config) {
  if (config.pipeline.partitions < config.pipeline.shards) {
    return Status::InvalidArgument(
        fmt::format("pipeline.partitions ({}) must be at least pipeline.shards ({})",
                    config.pipeline.partitions, config.pipeline.shards));
  }
  if (Status s = ValidateHeadOptions(config.pipeline.store.head); !s.ok()) return s;
  if (config.pipeline.store.maintenance_interval_ns < 1'000'000'000LL) {
    return Status::InvalidArgument("store.maintenance_interval must be at least 1s");
  }
  if (auto model = StationModel::Create(CanonicalSpecs(), config.detect); !model.ok()) {
    return Status::InvalidArgument("detect: " + model.status().message());
  }
  if (auto policy = LoadNotifyPolicy(config); !policy.ok()) return policy.status();
  if (config.role == "notify" && config.alert_bus != "rabbitmq") {
    return Status::InvalidArgument(
        "role notify takes its alerts from RabbitMQ: set alert_bus rabbitmq (--alert-bus "
        "rabbitmq)");
  }
  for (std::size_t prof = 0; prof < kSiteProfiles.size(); ++prof) {
    for (int p = 0; p < kCanonicalParameterCount; ++p) {
      Status st =
          ValidateRule(config.pipeline.rules.For(prof).by_parameter[static_cast<std::size_t>(p)],
                       fmt::format("rules.{}.{}", kSiteProfiles[prof].name,
                                   ParameterName(static_cast<ParameterId>(p))));
      if (!st.ok()) return st;
    }
  }
  return Status::Ok();
}

namespace {

// YAML as the JSON the policy parser reads: maps, lists, and scalars (true/false and numbers
// stay strings unless they read as such, which the parser then checks by field).
boost::json::value YamlToJson(const YAML::Node& node) {
  if (node.IsMap()) {
    boost::json::object o;
    for (const auto& kv : node) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
    return o;
  }
  if (node.IsSequence()) {
    boost::json::array a;
    for (const auto& item : node) a.push_back(YamlToJson(item));
    return a;
  }
  if (node.IsNull()) return nullptr;
  const std::string& text = node.Scalar();
  if (node.Tag() != "!") {  // unquoted: true and false are booleans
    if (text == "true") return true;
    if (text == "false") return false;
  }
  return boost::json::string(text);
}

}  // namespace

Result<NotifyPolicy> LoadNotifyPolicy(const Config& config) {
  const std::string& path = config.notify.policy_file;
  if (path.empty()) return NotifyPolicy();
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Status::InvalidArgument(fmt::format("notify.policy_file {}: cannot be read", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::json::value doc;
  try {
    doc = YamlToJson(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("notify.policy_file {}: {}", path, e.what()));
  }
  auto policy = ParseNotifyPolicy(doc);
  if (!policy.ok()) {
    return Status::InvalidArgument(
        fmt::format("notify.policy_file {}: {}", path, policy.status().message()));
  }
  return policy;
}

std::string RenderYaml(const Config& config) {
  // Nested output from the dotted keys, in table order.
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string> open;  // current nesting
  for (const ConfigOption& o : ConfigOptions()) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t dot; (dot = o.key.find('.', start)) != std::string::npos; start = dot + 1) {
      parts.push_back(o.key.substr(start, dot - start));
    }
    std::string leaf = o.key.substr(start);
    std::size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    while (open.size() > common) {
      out << YAML::EndMap;
      open.pop_back();
    }
    for (std::size_t i = common; i < parts.size(); ++i) {
      out << YAML::Key << parts[i] << YAML::Value << YAML::BeginMap;
      open.push_back(parts[i]);
    }
    out << YAML::Key << leaf << YAML::Value << o.get(config);
  }
  while (!open.empty()) {
    out << YAML::EndMap;
    open.pop_back();
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace aquawatch
