// `aquawatch simulate`: runs a Fleet of simulated sensors in (optionally sped-up) real time and
// sends their readings to a server over HTTP, TCP line protocol or MQTT, injecting faults and
// contamination events and writing their ground-truth labels to a CSV file.
//
// Thread-safety: RunSimulate runs on the calling thread; `stop` may be raised from any thread or a
// signal handler. AddSimulateCommand is called once while the CLI is being built.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace aquawatch::sim {

struct SimulateOptions {
  std::size_t sensors = 1000;
  double interval_s = 10;
  std::string transport = "http";  // http | tcp | mqtt
  std::string target;              // empty: the transport's default on 127.0.0.1
  std::string format = "json";     // http only: json (/api/v1/readings) | line (/write)
  std::string db = "aquawatch";    // http line protocol: the db= parameter
  double duration_s = 0;           // wall-clock seconds; 0 = until stopped
  double contamination_every_s = 300;
  double contamination_duration_s = 300;
  double fault_rate = 0.05;  // faults per sensor-day
  std::string labels_file;   // empty: labels are only logged
  std::uint64_t seed = 1;
  double speedup = 1;
  std::size_t batch = 1000;  // readings per send, at most
  double log_every_s = 10;
};

// Runs until `duration_s` has passed or `stop` is raised. Returns the process exit code: 0 after a
// clean run (send errors are counted and logged, not fatal), 1 when the options are invalid or
// the transport or labels file cannot be opened.
int RunSimulate(const SimulateOptions& options, const std::atomic<bool>& stop);

// While alive, SIGINT and SIGTERM raise stop() instead of killing the process (and SIGPIPE is
// ignored, so a server closing a socket is an error, not a crash). One at a time per process;
// the previous handlers come back on destruction. Shared by `simulate` and `bench`.
class ScopedStopSignals {
 public:
  ScopedStopSignals();
  ~ScopedStopSignals();
  ScopedStopSignals(const ScopedStopSignals&) = delete;
  ScopedStopSignals& operator=(const ScopedStopSignals&) = delete;
  const std::atomic<bool>& stop() const;
};

// Registers subcommand `simulate` on `parent`. Its callback runs the simulation with SIGINT and
// SIGTERM raising the stop flag, and stores the exit code in *exit_code.
CLI::App* AddSimulateCommand(CLI::App& parent, int* exit_code);

}  // namespace aquawatch::sim
