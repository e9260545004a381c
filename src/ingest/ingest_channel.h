// IngestChannel: decode → submit for one listener (http, tcp, mqtt), with its metrics and logs.
//
// Every listener goes through a channel so rejected lines are counted and logged the same way
// everywhere, and "accepted" means the same thing everywhere: durable in a shard log.
// Thread-safety: Decode and Submit may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/ingest_limits.h"
#include "core/metrics.h"
#include "ingest/decode/decode.h"
#include "pipeline/pipeline.h"

namespace aquawatch {

enum class WireFormat { kLineProtocol, kJson };

class IngestChannel {
 public:
  // `limits`: the decoders' share (fields per line, time window); the pipeline has the rest.
  IngestChannel(Pipeline& pipeline, MetricsRegistry& metrics, std::string name, Clock& clock,
                const IngestLimits& limits = {});

  // Decodes `text` into `out` (appending); counts and logs (rate-limited) the rejected lines.
  // The limits replace lp.limits: the time window is taken from the clock now.
  DecodeOutcome Decode(WireFormat format, std::string_view text, const LineProtocolOptions& lp,
                       ReadingBatch& out, std::vector<DecodeError>& errors);

  // Submits `batch`; when its readings are durable they are counted as accepted and `done`
  // runs. Unavailable (nothing taken) is counted as backpressure; readings the shards refused
  // are counted by limit.
  Status Submit(const ReadingBatch& batch, Pipeline::Done done);

  // Counts readings rejected before decoding (e.g. a line longer than the listener's buffer).
  void CountRejected(std::uint64_t n) { rejected_.Add(n); }

  const std::string& name() const { return name_; }
  Pipeline& pipeline() { return pipeline_; }

 private:
  void CountLimits(const std::array<std::uint32_t, kLimitCount>& by_limit);

  Pipeline& pipeline_;
  const std::string name_;
  Clock& clock_;
  const IngestLimits limits_;
  // aquawatch_readings_limited_total per limit (index: Limit).
  std::array<Counter*, kLimitCount> limited_{};
  Counter& accepted_;
  Counter& rejected_;
  Counter& backpressure_;
  Counter& failed_;
  Histogram& batch_readings_;
  std::atomic<std::int64_t> last_log_ns_{0};
  std::atomic<std::uint64_t> unlogged_rejections_{0};
};

// Decompresses a gzip body, refusing output larger than `max_bytes`.
Result<std::string> Gunzip(std::string_view compressed, std::size_t max_bytes);

}  // namespace aquawatch
