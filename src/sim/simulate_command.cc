#include "sim/simulate_command.h"

#include <fmt/chrono.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "sim/fleet.h"
#include "sim/transport.h"

namespace aquawatch::sim {
namespace {

using Clock = std::chrono::steady_clock;

// Signal handlers may only touch lock-free atomics; this is the one they raise.
std::atomic<bool> g_signal_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnStopSignal(int) { g_signal_stop.store(true); }

std::string DefaultTarget(std::string_view transport) {
  if (transport == "tcp") return "127.0.0.1:8089";
  if (transport == "mqtt") return "tcp://127.0.0.1:1883";
  return "http://127.0.0.1:8080";
}

// Writes labels as CSV rows (flushed, so a killed run still leaves its labels) and logs
// contamination events where a user watching the console will see them.
class CsvLabelSink : public LabelSink {
 public:
  explicit CsvLabelSink(std::FILE* file) : file_(file) {
    if (file_ != nullptr) {
      std::fputs(std::string(LabelCsvHeader()).c_str(), file_);
      std::fflush(file_);
    }
  }
  void Add(const Label& label) override {
    if (file_ != nullptr) {
      std::fputs(FormatLabelCsv(label).c_str(), file_);
      std::fflush(file_);
    }
    if (label.kind == LabelKind::kContamination) {
      std::chrono::sys_seconds start{std::chrono::seconds(label.start_time_ns / 1'000'000'000)};
      spdlog::info(
          "injected contamination on sensor {} at {:%Y-%m-%dT%H:%M:%S}Z ({} ns) for {:.0f} s",
          label.sensor, start, label.start_time_ns,
          static_cast<double>(label.end_time_ns - label.start_time_ns) / 1e9);
    } else {
      spdlog::debug("injected {} fault on sensor {} [{}, {}] ns", LabelKindName(label.kind),
                    label.sensor, label.start_time_ns, label.end_time_ns);
    }
  }

 private:
  std::FILE* file_;
};

std::int64_t SecondsToNs(double s) { return static_cast<std::int64_t>(s * 1e9); }

}  // namespace

ScopedStopSignals::ScopedStopSignals() {
  g_signal_stop.store(false);
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGPIPE, SIG_IGN);
}

ScopedStopSignals::~ScopedStopSignals() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

const std::atomic<bool>& ScopedStopSignals::stop() const { return g_signal_stop; }

int RunSimulate(const SimulateOptions& o, const std::atomic<bool>& stop) {
  auto transport = ParseTransport(o.transport);
  if (!transport.ok()) {
    spdlog::error("simulate: {}", transport.status().message());
    return 1;
  }
  if (o.sensors == 0 || o.interval_s < 0.001 || o.speedup <= 0 || o.batch == 0) {
    spdlog::error("simulate: --sensors, --batch, --speedup must be positive, --interval >= 1 ms");
    return 1;
  }
  if (o.format != "json" && o.format != "line") {
    spdlog::error("simulate: --format must be json or line");
    return 1;
  }

  std::FILE* labels_file = nullptr;
  if (!o.labels_file.empty()) {
    labels_file = std::fopen(o.labels_file.c_str(), "w");
    if (labels_file == nullptr) {
      spdlog::error("simulate: cannot open labels file {}", o.labels_file);
      return 1;
    }
  }
  CsvLabelSink labels(labels_file);
  struct CloseFile {
    std::FILE* f;
    ~CloseFile() {
      if (f != nullptr) std::fclose(f);
    }
  } close_labels{labels_file};

  SenderOptions so;
  so.transport = *transport;
  so.target = o.target.empty() ? DefaultTarget(o.transport) : o.target;
  so.http_format = o.format == "line" ? WireFormat::kLineProtocol : WireFormat::kJson;
  so.http_db = o.db;
  so.stop = &stop;
  so.retry_for = std::chrono::milliseconds(30000);
  auto sender = NewSender(so);
  if (!sender.ok()) {
    spdlog::error("simulate: cannot open {} transport to {}: {}", o.transport, so.target,
                  sender.status().message());
    return 1;
  }

  // Timestamps are "now" at speedup 1; ms-aligned because JSON carries milliseconds. Faster
  // than real time, a run with a duration starts in the past so that it ends at "now": servers
  // refuse readings dated ahead of their clock (ingest.max_future).
  std::int64_t origin = NowNs() / 1'000'000 * 1'000'000;
  if (o.speedup > 1 && o.duration_s > 0) {
    origin -=
        static_cast<std::int64_t>(o.duration_s * (o.speedup - 1) * 1e9) / 1'000'000 * 1'000'000;
  } else if (o.speedup > 1) {
    spdlog::warn(
        "simulate: --speedup {} without --duration runs ahead of the clock; a server refuses "
        "readings dated more than ingest.max_future ahead",
        o.speedup);
  }
  FleetOptions fo;
  fo.sensors = o.sensors;
  fo.interval_ns = std::max<std::int64_t>(SecondsToNs(o.interval_s), 1'000'000);
  fo.start_time_ns = origin;
  fo.seed = o.seed;
  fo.fault_rate_per_sensor_day = o.fault_rate;
  fo.contamination_every_ns = SecondsToNs(o.contamination_every_s);
  fo.contamination_duration_ns = SecondsToNs(o.contamination_duration_s);
  fo.labels = &labels;
  Fleet fleet(fo);

  spdlog::info(
      "simulate: {} sensors every {} s over {} to {} (speedup {}, contamination every {} s, "
      "{} faults per sensor-day)",
      o.sensors, o.interval_s, o.transport, so.target, o.speedup, o.contamination_every_s,
      o.fault_rate);

  const auto wall0 = Clock::now();
  auto next_log = wall0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(o.log_every_s));
  std::uint64_t sent = 0, accepted = 0, rejected = 0, failed_batches = 0, lost = 0;
  std::uint64_t sent_at_log = 0;
  std::string last_error;
  ReadingBatch batch;
  SendReport report;
  const auto tick = std::chrono::milliseconds(100);

  auto log_progress = [&](bool final) {
    double elapsed = std::chrono::duration<double>(Clock::now() - wall0).count();
    spdlog::info(
        "simulate{}: {:.0f} s, sent {} readings ({} since last line), accepted {}, rejected {}, "
        "failed batches {} ({} readings){}{}",
        final ? " done" : "", elapsed, sent, sent - sent_at_log, accepted, rejected, failed_batches,
        lost, last_error.empty() ? "" : "; last error: ", last_error);
    sent_at_log = sent;
    last_error.clear();
  };

  while (!stop.load()) {
    auto now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - wall0).count();
    if (o.duration_s > 0 && elapsed >= o.duration_s) break;
    std::int64_t sim_now = origin + static_cast<std::int64_t>(elapsed * o.speedup * 1e9);
    // Send everything due, in batches of at most --batch readings.
    while (!stop.load()) {
      batch.Clear();
      std::size_t n = fleet.Step(sim_now, batch, o.batch);
      if (n == 0) break;
      Status s = sender.value()->Send(batch, &report);
      sent += n;
      accepted += report.accepted;
      rejected += report.rejected;
      if (!s.ok()) {
        last_error = s.message();
        if (!report.acknowledged) {
          ++failed_batches;
          lost += n;
        }
      }
      if (n < o.batch || Clock::now() >= next_log) break;
    }
    if (Clock::now() >= next_log) {
      log_progress(false);
      next_log +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.log_every_s));
    }
    auto wake = now + tick;
    while (!stop.load() && Clock::now() < wake) {
      std::this_thread::sleep_for(std::min<Clock::duration>(wake - Clock::now(), tick));
    }
  }
  Status flushed = sender.value()->Flush();
  if (!flushed.ok()) last_error = flushed.message();
  log_progress(true);
  return 0;
}

CLI::App* AddSimulateCommand(CLI::App& parent, int* exit_code) {
  auto opts = std::make_shared<SimulateOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "simulate", "Simulate a fleet of water-quality sensors sending to a server");
  cmd->add_option("--sensors", opts->sensors, "Number of sensors")->capture_default_str();
  cmd->add_option("--interval", opts->interval_s, "Seconds between a sensor's readings")
      ->capture_default_str();
  cmd->add_option("--transport", opts->transport, "http, tcp or mqtt")
      ->check(CLI::IsMember({"http", "tcp", "mqtt"}))
      ->capture_default_str();
  cmd->add_option("--target", opts->target,
                  "Server: http://127.0.0.1:8080 (http), 127.0.0.1:8089 (tcp), "
                  "tcp://127.0.0.1:1883 (mqtt)");
  cmd->add_option("--format", opts->format,
                  "HTTP body: json (POST /api/v1/readings) or line (POST /write)")
      ->check(CLI::IsMember({"json", "line"}))
      ->capture_default_str();
  cmd->add_option("--db", opts->db, "db= parameter of /write with --format line")
      ->capture_default_str();
  cmd->add_option("--duration", opts->duration_s, "Wall-clock seconds to run; 0 = until SIGINT")
      ->capture_default_str();
  cmd->add_option("--contamination-every", opts->contamination_every_s,
                  "Inject a contamination event every this many simulated seconds; 0 = never")
      ->capture_default_str();
  cmd->add_option("--contamination-duration", opts->contamination_duration_s,
                  "Seconds each contamination event lasts")
      ->capture_default_str();
  cmd->add_option("--fault-rate", opts->fault_rate,
                  "Sensor faults (stuck, drift, spike, dropout) per sensor-day")
      ->capture_default_str();
  cmd->add_option("--labels", opts->labels_file,
                  "Write ground-truth labels (sensor,kind,start_time_ns,end_time_ns) to this CSV");
  cmd->add_option("--seed", opts->seed, "Random seed")->capture_default_str();
  cmd->add_option("--speedup", opts->speedup,
                  "Simulated time runs this many times faster; with --duration the run starts in "
                  "the past so that it ends now")
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch, "At most this many readings per send")
      ->capture_default_str();
  cmd->callback([opts, exit_code] {
    ScopedStopSignals signals;
    int rc = RunSimulate(*opts, signals.stop());
    if (exit_code != nullptr) *exit_code = rc;
  });
  return cmd;
}

}  // namespace aquawatch::sim
