// Fuzz target for HTTP request targets and the readings query: the input is a request target
// ("/api/v1/sensors/s/readings?from=...&step=..."). It is split and decoded, and its query
// parameters run a real readings query against a small pipeline (opened once, in a temporary
// directory, with a day of one sensor's readings). Any input gives 200, 400 or 404 with a body,
// never a crash; the split never makes text longer than the target.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "alert/alert_manager.h"
#include "api/http_target.h"
#include "api/readings_query.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/metrics.h"
#include "pipeline/pipeline.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

constexpr std::int64_t kT0 = 1'764'237'600'000'000'000;  // 2025-11-27T10:00:00Z

struct Rig {
  aquawatch::MetricsRegistry metrics;
  aquawatch::AlertManager alerts;
  std::unique_ptr<aquawatch::Pipeline> pipeline;

  Rig() {
    char dir[] = "/tmp/aquawatch-fuzz-query-XXXXXX";
    Check(mkdtemp(dir) != nullptr);
    static std::string made = dir;
    std::atexit([] { std::filesystem::remove_all(made); });
    aquawatch::PipelineOptions options;
    options.data_dir = dir;
    options.shards = 1;
    options.partitions = 1;
    for (auto& r : options.store.retention_ns) r = 0;
    auto p = aquawatch::Pipeline::Open(aquawatch::DefaultEnv(), aquawatch::SystemClock(), metrics,
                                       alerts, options);
    Check(p.ok());
    pipeline = std::move(p).value();
    aquawatch::ReadingBatch batch;
    for (int i = 0; i < 8640; ++i) {  // a day at 10 s
      batch.BeginReading("s", kT0 + i * 10'000'000'000LL, "site", "zone");
      batch.AddField(aquawatch::ParameterId::kPh, 7.0 + (i % 10) / 10.0);
      batch.AddCustomField("toc_mg_l", i % 7);
    }
    std::atomic<bool> done{false};
    Check(pipeline->Submit(batch, [&](const aquawatch::WriteResult&) { done = true; }).ok());
    while (!done) std::this_thread::yield();
  }
};

Rig* rig = nullptr;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (rig == nullptr) {
    rig = new Rig();  // lives for the whole run; torn down at exit, before the statics it uses
    std::atexit([] {
      rig->pipeline->Stop();
      delete rig;  // joins the alert writer thread
      rig = nullptr;
    });
  }
  std::string_view target(reinterpret_cast<const char*>(data), size);
  aquawatch::HttpRequest req;
  aquawatch::SplitTarget(target, req);
  Check(req.path.size() <= target.size());
  for (const auto& [k, v] : req.query) Check(k.size() + v.size() <= target.size());
  aquawatch::HttpResponse r =
      aquawatch::QueryReadings(*rig->pipeline, "s", req, kT0 + 86'400'000'000'000LL);
  Check(r.status == 200 || r.status == 400 || r.status == 404);
  Check(!r.body.empty());
  return 0;
}
