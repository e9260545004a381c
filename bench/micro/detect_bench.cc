// The whole detector stack (QA/QC, baselines, event fusion) per reading, on synthetic quantised
// data for a 6-parameter station. Issue 4's target: >= 2,000,000 readings/s per core.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "detect/station_detector.h"

namespace aquawatch {
namespace {

void BM_StationDetector(benchmark::State& state) {
  std::vector<ParameterSpec> specs = {{"ph", 0.01, 0, 14},
                                      {"turbidity_ntu", 0.01, 0, 1000},
                                      {"dissolved_oxygen", 0.01, 0, 25},
                                      {"temperature_c", 0.1, -5, 50},
                                      {"conductivity", 1, 0, 10000},
                                      {"free_chlorine", 0.01, 0, 10}};
  DetectorTuning tuning;
  tuning.daily_days = static_cast<double>(state.range(0));
  auto detector = StationDetector::Create(specs, tuning);
  // 64 Ki pre-generated rows, replayed in a loop, so the benchmark measures the detector only.
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0, 1);
  const double level[6] = {7.3, 0.12, 9.1, 12.0, 450, 0.8};
  const double sd[6] = {0.01, 0.005, 0.05, 0.1, 2, 0.01};
  constexpr std::size_t kRows = 1 << 16;
  std::vector<double> rows(kRows * 6);
  for (std::size_t r = 0; r < kRows; ++r) {
    for (int p = 0; p < 6; ++p) {
      double v = level[p] + sd[p] * noise(rng);
      rows[r * 6 + p] = std::round(v / specs[p].resolution) * specs[p].resolution;
    }
  }
  std::size_t r = 0;
  std::int64_t t = 0;
  for (auto _ : state) {
    RowVerdict v = (*detector)->Process(t += 10'000'000'000, &rows[(r & (kRows - 1)) * 6]);
    benchmark::DoNotOptimize(v);
    ++r;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["state_bytes"] = static_cast<double>((*detector)->StateBytes());
}
BENCHMARK(BM_StationDetector)->Arg(7)->Arg(0);  // the daily cycle on (7 days) and off

}  // namespace
}  // namespace aquawatch
