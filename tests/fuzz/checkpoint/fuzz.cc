// Fuzz target for checkpoint loading: the input is written as a shard's newest checkpoint and a
// pipeline is opened on it, the whole path a start takes (framing, CRCs, every entry type into
// the sensor table, detector state and head chunks). Opening must succeed (a damaged
// checkpoint is quarantined) or fail with an error, never crash; what it loaded must answer
// queries. Slow by design (it opens RocksDB each run): a few dozen runs per second.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "alert/alert_manager.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/metrics.h"
#include "pipeline/pipeline.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::string& DataDir() {
  static const std::string dir = [] {
    char d[] = "/tmp/aquawatch-fuzz-checkpoint-XXXXXX";
    Check(mkdtemp(d) != nullptr);
    static std::string made = d;
    std::atexit([] { std::filesystem::remove_all(made); });
    return std::string(d);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string shard_dir = DataDir() + "/wal/shard-000";
  std::filesystem::remove_all(DataDir() + "/wal");
  std::filesystem::create_directories(shard_dir);
  {
    std::ofstream out(shard_dir + "/checkpoint-0000000000000002.ckpt", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  aquawatch::MetricsRegistry metrics;
  aquawatch::AlertManager alerts;
  aquawatch::PipelineOptions options;
  options.data_dir = DataDir();
  options.shards = 1;
  options.partitions = 1;
  for (auto& r : options.store.retention_ns) r = 0;
  options.store.checkpoint_on_stop = false;
  auto p = aquawatch::Pipeline::Open(aquawatch::DefaultEnv(), aquawatch::SystemClock(), metrics,
                                     alerts, options);
  if (!p.ok()) {
    Check(!p.status().message().empty());
    return 0;
  }
  aquawatch::Pipeline& pipeline = **p;
  const auto sensors = pipeline.ListSensors("", 100);
  for (const auto& s : sensors) {
    Check(pipeline.Latest(s.id).has_value());
    for (const auto& [name, value] : s.values) {
      aquawatch::SeriesRead read;
      read.sensor = s.id;
      read.parameter = name;
      read.from_ns = 0;
      read.to_ns = INT64_MAX / 2;
      read.max_points = 10'000;
      std::vector<aquawatch::SeriesPoint> points;
      (void)pipeline.ReadSeries(read, points);
      Check(points.size() <= 10'000);
    }
  }
  pipeline.Stop();
  return 0;
}
