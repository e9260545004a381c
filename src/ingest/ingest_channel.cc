#include "ingest/ingest_channel.h"

#include <spdlog/spdlog.h>
#include <zlib.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <limits>

namespace aquawatch {

IngestChannel::IngestChannel(Pipeline& pipeline, MetricsRegistry& metrics, std::string name,
                             Clock& clock, const IngestLimits& limits)
    : pipeline_(pipeline),
      name_(std::move(name)),
      clock_(clock),
      limits_(limits),
      accepted_(metrics.AddCounter("aquawatch_readings_accepted_total",
                                   "Readings accepted and durable, per listener",
                                   fmt::format("listener=\"{}\"", name_))),
      rejected_(metrics.AddCounter(
          "aquawatch_readings_rejected_total",
          "Readings (lines) rejected by the decoders or refused as too late, per listener",
          fmt::format("listener=\"{}\"", name_))),
      backpressure_(metrics.AddCounter(
          "aquawatch_backpressure_total",
          "Batches refused because a shard queue was full (the sender was told to retry)",
          fmt::format("listener=\"{}\"", name_))),
      failed_(metrics.AddCounter("aquawatch_readings_failed_total",
                                 "Readings taken but not made durable (storage failure)",
                                 fmt::format("listener=\"{}\"", name_))),
      batch_readings_(metrics.AddHistogram(
          "aquawatch_ingest_batch_readings", "Readings per decoded batch, per listener",
          fmt::format("listener=\"{}\"", name_), ExponentialBuckets(1, 4, 10))) {
  for (int l = 1; l < kLimitCount; ++l) {
    limited_[l] = &metrics.AddCounter(
        "aquawatch_readings_limited_total",
        "Readings refused by a limit (docs/operations.md), per listener and limit",
        fmt::format("listener=\"{}\",limit=\"{}\"", name_, LimitLabel(static_cast<Limit>(l))));
  }
}

void IngestChannel::CountLimits(const std::array<std::uint32_t, kLimitCount>& by_limit) {
  for (int l = 1; l < kLimitCount; ++l) {
    if (by_limit[l] > 0) limited_[l]->Add(by_limit[l]);
  }
}

DecodeOutcome IngestChannel::Decode(WireFormat format, std::string_view text,
                                    const LineProtocolOptions& lp, ReadingBatch& out,
                                    std::vector<DecodeError>& errors) {
  std::size_t first_error = errors.size();
  ReadingLimits limits;
  limits.max_fields = limits_.max_fields_per_line;
  limits.min_time_ns = limits_.min_time_ns;
  limits.max_future_ns = limits_.max_future_ns;
  const std::int64_t now = clock_.NowNs();
  limits.max_time_ns = now > std::numeric_limits<std::int64_t>::max() - limits_.max_future_ns
                           ? std::numeric_limits<std::int64_t>::max()
                           : now + limits_.max_future_ns;
  DecodeOutcome outcome;
  if (format == WireFormat::kJson) {
    outcome = DecodeJson(text, JsonOptions{lp.default_time_ns, limits}, out, errors);
  } else {
    LineProtocolOptions options = lp;
    options.limits = limits;
    outcome = DecodeLineProtocol(text, options, out, errors);
  }
  if (outcome.accepted > 0) batch_readings_.Observe(static_cast<double>(outcome.accepted));
  if (outcome.rejected > 0) {
    rejected_.Add(outcome.rejected);
    CountLimits(outcome.rejected_by_limit);
    // At most one log line per second per listener: a misconfigured sender must not flood it.
    std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
    std::int64_t last = last_log_ns_.load(std::memory_order_relaxed);
    if (now - last >= 1'000'000'000 && last_log_ns_.compare_exchange_strong(last, now)) {
      std::uint64_t skipped = unlogged_rejections_.exchange(0);
      if (errors.size() > first_error) {
        const DecodeError& e = errors[first_error];
        spdlog::warn("{}: rejected {} line(s) (+{} since the last report); first: line {}{}: {}",
                     name_, outcome.rejected, skipped, e.line,
                     e.field.empty() ? "" : fmt::format(", field \"{}\"", e.field), e.reason);
      }
    } else {
      unlogged_rejections_.fetch_add(outcome.rejected, std::memory_order_relaxed);
    }
  }
  return outcome;
}

Status IngestChannel::Submit(const ReadingBatch& batch, Pipeline::Done done) {
  std::size_t n = batch.size();
  Status s = pipeline_.Submit(batch, [this, n, done = std::move(done)](const WriteResult& r) {
    if (r.status.ok()) {
      accepted_.Add(n - r.refused);
      if (r.refused > 0) {
        rejected_.Add(r.refused);
        CountLimits(r.refused_by_limit);
      }
    } else {
      failed_.Add(n);
    }
    done(r);
  });
  if (!s.ok()) backpressure_.Add();
  return s;
}

Result<std::string> Gunzip(std::string_view compressed, std::size_t max_bytes) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header (not raw zlib).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Status::Internal("inflateInit2 failed");
  std::string out;
  out.resize(std::max<std::size_t>(compressed.size() * 4, 4096));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  zs.avail_in = static_cast<uInt>(compressed.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.total_out == out.size()) {
      if (out.size() >= max_bytes) {
        inflateEnd(&zs);
        return Status::InvalidArgument(
            fmt::format("gzip body inflates to more than {} bytes", max_bytes));
      }
      out.resize(std::min(out.size() * 2, max_bytes));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      return Status::InvalidArgument("gzip body is truncated");
    }
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      std::string msg = zs.msg != nullptr ? zs.msg : "corrupt data";
      inflateEnd(&zs);
      return Status::InvalidArgument("gzip body cannot be decompressed: " + msg);
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

}  // namespace aquawatch
