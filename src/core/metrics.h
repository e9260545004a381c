// Metrics: counters, gauges and histograms rendered in the Prometheus text format.
//
// Metrics are registered once at start-up (registration takes a lock) and updated on the hot
// path with relaxed atomics, once per batch rather than once per reading.
// Thread-safety: every method may be called from any thread. References returned by the Add*
// methods stay valid for the registry's lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace aquawatch {

class Counter {
 public:
  void Add(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A cumulative histogram with fixed upper bounds (seconds, bytes, counts...).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  std::uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i] (cumulative), i in [0, bounds().size()).
  std::uint64_t CumulativeCount(std::size_t i) const;
  // Estimated quantile (0..1) by linear interpolation within the bucket.
  double Quantile(double q) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // non-cumulative, +Inf last
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Exponential bucket bounds: start, start*factor, ... (count of them).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  // `labels` is the Prometheus label set without braces, e.g. `listener="tcp"`, or empty.
  Counter& AddCounter(const std::string& name, const std::string& help,
                      const std::string& labels = {});
  Gauge& AddGauge(const std::string& name, const std::string& help, const std::string& labels = {});
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          const std::string& labels, std::vector<double> bounds);
  // A gauge computed when scraped. `fn` runs on the scraping thread and must be thread-safe.
  void AddCallbackGauge(const std::string& name, const std::string& help, const std::string& labels,
                        std::function<double()> fn);

  // A counter read when scraped, for monotonic totals kept elsewhere (e.g. the store's atomics).
  void AddCallbackCounter(const std::string& name, const std::string& help,
                          const std::string& labels, std::function<double()> fn);

  std::string RenderPrometheus() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram, kCallback, kCallbackCounter };
  struct Series {
    Kind kind;
    std::string name, help, labels;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
    std::function<double()> callback;
  };
  mutable std::mutex mu_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  std::vector<Series> series_;  // in registration order; rendered grouped by name
};

// Resident set size of this process, from /proc/self/statm.
double ProcessResidentBytes();

}  // namespace aquawatch
