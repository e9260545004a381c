// The embedded store in process: values appended per second through the head (sealing into
// RocksDB included), series reads from sealed chunks and roll-ups, and bytes per stored value on
// disk. Issue 3's targets: >= 3,000,000 values/s appended per core; a sensor-day read p99
// <= 10 ms; a year of hourly roll-ups p99 <= 20 ms; <= 2 bytes per value on real data.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "store/tsdb/block_store.h"
#include "store/tsdb/head.h"
#include "store/tsdb/query.h"

#ifndef AQUAWATCH_SOURCE_DIR
#define AQUAWATCH_SOURCE_DIR "."
#endif

namespace aquawatch {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kT0 = 1'795'737'600 * kSec;  // 2026-11-27T00:00:00Z
const char* const kParams[] = {"ph",
                               "turbidity_ntu",
                               "dissolved_oxygen_mg_l",
                               "temperature_c",
                               "conductivity_us_cm",
                               "free_chlorine_mg_l"};

// A store in a fresh temporary directory, removed with it.
struct TempStore {
  std::string dir;
  std::unique_ptr<BlockStore> store;
  std::unique_ptr<ShardHead> head;
  TempStore() {
    std::string pattern = (std::filesystem::temp_directory_path() / "aqw-bench-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    store = std::move(BlockStore::Open(dir + "/store", BlockStoreOptions())).value();
    head = std::make_unique<ShardHead>(*store, HeadOptions());
  }
  ~TempStore() {
    head.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
  // Settled bytes on disk per value: memtables flushed, compacted. Also per level, as
  // counters named `<prefix>_raw`, `<prefix>_1m`, `<prefix>_1h`.
  double BytesPerValue(std::uint64_t values, benchmark::State& state, const std::string& prefix) {
    (void)head->SealBefore(std::numeric_limits<std::int64_t>::max(),
                           [this](std::uint32_t s) { return std::string_view(ids[s]); });
    (void)store->CompactAll();
    const double n = static_cast<double>(values);
    state.counters[prefix + "_raw"] = static_cast<double>(store->LevelBytes(StoreLevel::kRaw)) / n;
    state.counters[prefix + "_1m"] =
        static_cast<double>(store->LevelBytes(StoreLevel::kRollup1m)) / n;
    state.counters[prefix + "_1h"] =
        static_cast<double>(store->LevelBytes(StoreLevel::kRollup1h)) / n;
    return static_cast<double>(store->DiskBytes()) / n;
  }
  std::vector<std::string> ids;
};

// Quantised, slowly drifting water-quality values: what probes send.
struct Probe {
  explicit Probe(unsigned seed = 7) : rng(seed) {}
  std::mt19937 rng;
  std::normal_distribution<double> noise{0, 1};
  double level[6] = {7.3, 0.3, 8.5, 12.0, 450, 0.8};
  const double step[6] = {0.01, 0.01, 0.01, 0.1, 1, 0.01};
  // Readings as a probe sends them: decimal text like "7.31", i.e. the double nearest to
  // q / 100 (not q * 0.01, which is a different double).
  double Next(int p) {
    level[p] += noise(rng) * step[p] * 0.2;
    const double per_unit = std::round(1 / step[p]);
    return std::round((level[p] + noise(rng) * step[p]) * per_unit) / per_unit;
  }
};

// 10,000 sensors x 6 parameters at 10 s: every value goes through the head, and every 20
// minutes of data seals 60,000 chunks into RocksDB with their roll-ups. Values are drawn before
// the timed loop so the benchmark measures the store, not the random number generator.
void BM_StoreAppend(benchmark::State& state) {
  TempStore s;
  const std::uint32_t sensors = 10'000;
  for (std::uint32_t i = 0; i < sensors; ++i) s.ids.push_back("probe-" + std::to_string(i));
  Probe probe;
  constexpr std::size_t kRing = 1 << 16;
  std::vector<double> values_ring(kRing);
  for (std::size_t k = 0; k < kRing; ++k) values_ring[k] = probe.Next(static_cast<int>(k % 6));
  std::int64_t t = kT0;
  std::uint64_t values = 0;
  std::size_t next = 0;
  for (auto _ : state) {
    for (std::uint32_t i = 0; i < sensors; ++i) {
      for (int p = 0; p < 6; ++p) {
        const double v = values_ring[next++ & (kRing - 1)];
        Status st = s.head->Append(i, s.ids[i], kParams[p], {t, v, Quality::kGood},
                                   static_cast<std::size_t>(p));
        if (!st.ok()) state.SkipWithError(st.ToString().c_str());
      }
    }
    values += sensors * 6;
    t += 10 * kSec;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(values));
  state.counters["sealed_chunks"] = static_cast<double>(s.head->stats().sealed.load());
}
// 720 rounds = two hours of data: every chunk is sealed twice inside the timed loop.
BENCHMARK(BM_StoreAppend)->Unit(benchmark::kMillisecond)->Iterations(720);

// One sensor with `days` of data at 10 s in the store (six parameters).
std::unique_ptr<TempStore> LoadSensor(int days, std::int64_t spacing) {
  auto s = std::make_unique<TempStore>();
  s->ids.push_back("plant-1");
  Probe probe;
  const std::int64_t n = days * 86'400 * kSec / spacing;
  for (std::int64_t i = 0; i < n; ++i) {
    for (int p = 0; p < 6; ++p) {
      (void)s->head->Append(0, "plant-1", kParams[p], {kT0 + i * spacing, probe.Next(p)});
    }
  }
  return s;
}

void BM_ReadSensorDayRaw(benchmark::State& state) {
  auto s = LoadSensor(2, 10 * kSec);
  std::vector<SeriesPoint> out;
  SeriesRead read{"plant-1", "ph", kT0 + 86'400 * kSec / 2, kT0 + 3 * 86'400 * kSec / 2 - 1};
  for (auto _ : state) {
    out.clear();
    Status st = ReadSeries(*s->store, s->head->CopyOpen(0, "ph"), read, out);
    if (!st.ok() || out.size() != 8640) state.SkipWithError("wrong answer");
  }
  state.counters["points"] = static_cast<double>(out.size());
}
BENCHMARK(BM_ReadSensorDayRaw)->Unit(benchmark::kMicrosecond);

void BM_ReadYearHourly(benchmark::State& state) {
  auto s = LoadSensor(366, 600 * kSec);
  std::vector<SeriesPoint> out;
  SeriesRead read{"plant-1", "ph", kT0, kT0 + 365 * 86'400 * kSec - 1, 3'600 * kSec};
  for (auto _ : state) {
    out.clear();
    Status st = ReadSeries(*s->store, s->head->CopyOpen(0, "ph"), read, out);
    if (!st.ok() || out.size() != 8760) state.SkipWithError("wrong answer");
  }
  state.counters["points"] = static_cast<double>(out.size());
}
BENCHMARK(BM_ReadYearHourly)->Unit(benchmark::kMicrosecond);

// Bytes on disk per value for the GECCO 2018 columns (one series per column, timestamps as in
// the file) and for simulated probes, after sealing and compaction: chunks, roll-ups and keys.
void BM_StoreBytesPerValue(benchmark::State& state) {
  for (auto _ : state) {
    TempStore gecco;
    gecco.ids.push_back("gecco-2018");
    std::ifstream in(std::string(AQUAWATCH_SOURCE_DIR) + "/../shared/data/gecco2018_train.csv");
    std::string line;
    std::uint64_t values = 0;
    const char* names[] = {"temperature_c", "free_chlorine_mg_l", "ph",
                           "orp_mv",        "conductivity_us_cm", "turbidity_ntu"};
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::stringstream ss(line);
      std::string cell;
      std::getline(ss, cell, ',');
      std::tm tm{};
      std::istringstream ts(cell);
      ts >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
      if (ts.fail()) continue;
      const std::int64_t t = static_cast<std::int64_t>(timegm(&tm)) * kSec;
      for (int c = 0; c < 6 && std::getline(ss, cell, ','); ++c) {
        if (cell == "NA" || cell.empty()) continue;
        (void)gecco.head->Append(0, "gecco-2018", names[c], {t, std::stod(cell)});
        ++values;
      }
    }
    if (values > 0)
      state.counters["gecco_bytes_per_value"] = gecco.BytesPerValue(values, state, "gecco");
    state.counters["gecco_values"] = static_cast<double>(values);

    TempStore sim;
    const std::uint32_t sensors = 1000;
    std::vector<Probe> probes;
    for (std::uint32_t i = 0; i < sensors; ++i) probes.emplace_back(i);
    for (std::uint32_t i = 0; i < sensors; ++i) sim.ids.push_back("probe-" + std::to_string(i));
    std::uint64_t sim_values = 0;
    for (std::int64_t k = 0; k < 8640; ++k) {  // one day at 10 s
      for (std::uint32_t i = 0; i < sensors; ++i) {
        for (int p = 0; p < 6; ++p) {
          (void)sim.head->Append(i, sim.ids[i], kParams[p],
                                 {kT0 + k * 10 * kSec, probes[i].Next(p)});
        }
      }
      sim_values += sensors * 6;
    }
    state.counters["sim_bytes_per_value"] = sim.BytesPerValue(sim_values, state, "sim");
    state.counters["sim_values"] = static_cast<double>(sim_values);
  }
}
BENCHMARK(BM_StoreBytesPerValue)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
}  // namespace aquawatch
