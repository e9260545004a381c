// `aquawatch bench`: an end-to-end load generator run in its own process against a live server
// (aquawatch, or InfluxDB 1.x as a peer). It pre-generates realistic readings from a Fleet, sends
// them over HTTP, TCP line protocol or MQTT for a fixed duration (optionally paced to a rate) and
// measures sustained accepted readings/s, HTTP ack latency, alert latency (probe readings that
// must raise a critical alert, observed over the server's WebSocket stream) and server memory per
// sensor (from the server's own RSS metric).
//
// Thread-safety: RunBench runs on the calling thread and starts its own worker threads (one per
// connection, one prober, one WebSocket reader), all joined before it returns; `stop` may be
// raised from any thread or a signal handler. AddBenchCommand is called once while building the
// CLI. The helpers are pure functions.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace aquawatch::sim {

struct BenchOptions {
  std::string target;              // empty: the transport's default on 127.0.0.1
  std::string transport = "http";  // http | tcp | mqtt
  std::string format = "json";     // http only: json (/api/v1/readings) | line (/write)
  double rate = 0;                 // readings/s; 0 = as fast as possible
  std::size_t sensors = 100000;
  double duration_s = 30;
  std::size_t batch = 5000;
  int connections = 2;
  int params = 6;
  double interval_s = 10;  // simulated time between a sensor's readings
  // Stop once every sensor has sent this many readings (sensor time rounds × interval_s), or at
  // the duration, whichever comes first; 0 = the duration alone. A fleet run uses it to reach
  // a steady state in sensor time however fast the server takes readings.
  std::int64_t rounds = 0;
  std::string peer;  // "" (aquawatch) or "influxdb"
  int alert_probes = 20;
  // Receive the server's webhook notifications on 127.0.0.1:<port> and time the probes' alerts
  // to them; 0 = off.
  std::uint16_t webhook_port = 0;
  std::string json_file;
  std::string metrics_url;  // empty: <api>/metrics
  std::string api_url;      // REST + WebSocket base; empty: the http target, or http://host:8080
  std::size_t pregen_mb = 256;  // memory for pre-encoded payloads; reused with shifted timestamps
  std::uint64_t seed = 1;
};

// Runs the benchmark, prints a summary table on stdout (and JSON to options.json_file). Returns 0
// on a completed run, 1 when nothing could be sent or the options are invalid.
int RunBench(const BenchOptions& options, const std::atomic<bool>& stop);

// Registers subcommand `bench` on `parent`; its callback runs RunBench with SIGINT/SIGTERM
// stopping the load early, and stores the exit code in *exit_code.
CLI::App* AddBenchCommand(CLI::App& parent, int* exit_code);

// Sum of every sample of metric `name` in Prometheus text exposition format whose label set
// contains `label` (e.g. `le="0.01"`; empty: any), or nullopt when there is none.
std::optional<double> SumPrometheusMetric(std::string_view text, std::string_view name,
                                          std::string_view label = {});
// The largest sample of metric `name`, or nullopt when the metric does not appear.
std::optional<double> MaxPrometheusMetric(std::string_view text, std::string_view name);

// The q-quantile (0-1) of `sorted` by nearest rank; 0 for an empty vector.
double Quantile(const std::vector<double>& sorted, double q);

}  // namespace aquawatch::sim
