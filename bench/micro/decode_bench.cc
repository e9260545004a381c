// Decoder throughput: line protocol and JSON batches of 5000 typical readings, the shape an
// ingest listener hands to the decoders. Items are readings; bytes are input bytes.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

constexpr int kBatchReadings = 5000;
constexpr std::int64_t kTime = 1764237600000000000;

std::string MakeLineProtocolBatch() {
  std::string text;
  char line[512];
  for (int i = 0; i < kBatchReadings; ++i) {
    std::snprintf(line, sizeof line,
                  "water,sensor=s%06d,site=plant1 ph=7.21,turbidity_ntu=0.12,"
                  "dissolved_oxygen_mg_l=8.4,temperature_c=14.2,conductivity_us_cm=512,"
                  "free_chlorine_mg_l=0.8 ",
                  i);
    text += line;
    text += std::to_string(kTime + i);
    text += '\n';
  }
  return text;
}

std::string MakeJsonBatch() {
  std::string text = "{\"readings\":[\n";
  char reading[512];
  for (int i = 0; i < kBatchReadings; ++i) {
    std::snprintf(reading, sizeof reading,
                  "%s{\"sensor\":\"s%06d\",\"site\":\"plant1\",\"time\":%s,\"values\":{"
                  "\"ph\":7.21,\"turbidity_ntu\":0.12,\"dissolved_oxygen_mg_l\":8.4,"
                  "\"temperature_c\":14.2,\"conductivity_us_cm\":512,"
                  "\"free_chlorine_mg_l\":0.8}}\n",
                  i == 0 ? "" : ",", i, std::to_string(kTime / 1'000'000 + i).c_str());
    text += reading;
  }
  text += "]}\n";
  return text;
}

void BM_DecodeLineProtocol(benchmark::State& state) {
  const std::string text = MakeLineProtocolBatch();
  ReadingBatch batch;
  std::vector<DecodeError> errors;
  LineProtocolOptions options;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    batch.Clear();
    errors.clear();
    DecodeOutcome out = DecodeLineProtocol(text, options, batch, errors);
    if (out.accepted != kBatchReadings) state.SkipWithError("line protocol batch rejected");
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatchReadings);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_DecodeLineProtocol);

void BM_DecodeJson(benchmark::State& state) {
  const std::string text = MakeJsonBatch();
  ReadingBatch batch;
  std::vector<DecodeError> errors;
  JsonOptions options;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    batch.Clear();
    errors.clear();
    DecodeOutcome out = DecodeJson(text, options, batch, errors);
    if (out.accepted != kBatchReadings) state.SkipWithError("JSON batch rejected");
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * kBatchReadings);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_DecodeJson);

void BM_DecodeRfc3339(benchmark::State& state) {
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    Result<std::int64_t> t = ParseRfc3339("2026-11-27T11:00:00.123456789+01:00");
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeRfc3339);

}  // namespace
}  // namespace aquawatch
