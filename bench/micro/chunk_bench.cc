// XOR chunk encoding and decoding speed, and bytes per stored value, on synthetic quantised data
// and (when the file is there) on every water-quality column of GECCO 2018. Issue 3's targets:
// >= 3,000,000 values/s appended per core, <= 2 bytes per value on real data.
#include <benchmark/benchmark.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "store/tsdb/chunk.h"

#ifndef AQUAWATCH_SOURCE_DIR
#define AQUAWATCH_SOURCE_DIR "."
#endif

namespace aquawatch {
namespace {

constexpr std::size_t kChunkSamples = 120;  // one head chunk, as in Prometheus

std::vector<double> SyntheticPh(std::size_t n) {
  std::mt19937 rng(2);
  std::normal_distribution<double> noise(0, 0.004);
  std::vector<double> v;
  double level = 7.3;
  for (std::size_t i = 0; i < n; ++i) {
    level += noise(rng) * 0.1;
    v.push_back(std::round((level + noise(rng)) / 0.01) * 0.01);
  }
  return v;
}

// The columns Tp..Cl_2 of gecco2018_train.csv (NA skipped), concatenated column by column.
std::vector<std::vector<double>> GeccoColumns() {
  std::ifstream in(std::string(AQUAWATCH_SOURCE_DIR) + "/../shared/data/gecco2018_train.csv");
  std::vector<std::vector<double>> cols(7);
  std::string line;
  if (!std::getline(in, line)) return {};
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell;
    std::getline(ss, cell, ',');  // time
    for (int c = 0; c < 7 && std::getline(ss, cell, ','); ++c) {
      if (cell != "NA" && !cell.empty()) cols[c].push_back(std::stod(cell));
    }
  }
  return cols;
}

// Encodes `values` in chunks of kChunkSamples at a 60 s spacing; returns total bytes.
std::size_t EncodeAll(const std::vector<double>& values, std::int64_t step_ms) {
  std::size_t bytes = 0;
  for (std::size_t start = 0; start < values.size(); start += kChunkSamples) {
    ChunkWriter w(TimeUnit::kMillis);
    std::size_t end = std::min(values.size(), start + kChunkSamples);
    for (std::size_t i = start; i < end; ++i) {
      (void)w.Append(1470217740000 + static_cast<std::int64_t>(i) * step_ms, values[i]);
    }
    bytes += w.bytes().size();
  }
  return bytes;
}

void BM_ChunkAppend(benchmark::State& state) {
  std::vector<double> values = SyntheticPh(1 << 16);
  std::size_t bytes = 0;
  for (auto _ : state) bytes = EncodeAll(values, 10000);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * values.size()));
  state.counters["bytes_per_value"] =
      static_cast<double>(bytes) / static_cast<double>(values.size());
}
BENCHMARK(BM_ChunkAppend);

void BM_ChunkRead(benchmark::State& state) {
  std::vector<double> values = SyntheticPh(kChunkSamples);
  ChunkWriter w(TimeUnit::kMillis);
  for (std::size_t i = 0; i < values.size(); ++i) {
    (void)w.Append(1470217740000 + static_cast<std::int64_t>(i) * 10000, values[i]);
  }
  std::string bytes(w.bytes());
  double sum = 0;
  for (auto _ : state) {
    auto r = ChunkReader::Open(bytes);
    while (r->Next()) sum += r->value();
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * values.size()));
}
BENCHMARK(BM_ChunkRead);

void BM_ChunkGeccoBytesPerValue(benchmark::State& state) {
  auto cols = GeccoColumns();
  if (cols.empty() || cols[0].empty()) {
    state.SkipWithError("../shared/data/gecco2018_train.csv not found next to the source tree");
    return;
  }
  std::size_t bytes = 0, values = 0;
  for (auto _ : state) {
    bytes = values = 0;
    for (const auto& c : cols) {
      bytes += EncodeAll(c, 60000);
      values += c.size();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * values));
  state.counters["bytes_per_value"] = static_cast<double>(bytes) / static_cast<double>(values);
}
BENCHMARK(BM_ChunkGeccoBytesPerValue)->Iterations(1);

}  // namespace
}  // namespace aquawatch
