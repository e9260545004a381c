#include "core/metrics.h"

#include <unistd.h>

#include <fmt/format.h>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

namespace aquawatch {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double old = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(old, old + value, std::memory_order_relaxed)) {
  }
}

std::uint64_t Histogram::CumulativeCount(std::size_t i) const {
  std::uint64_t total = 0;
  for (std::size_t k = 0; k <= i; ++k) total += buckets_[k].load(std::memory_order_relaxed);
  return total;
}

double Histogram::Quantile(double q) const {
  std::uint64_t n = 0;
  for (std::size_t k = 0; k <= bounds_.size(); ++k) n += buckets_[k].load();
  if (n == 0) return 0;
  double rank = q * static_cast<double>(n);
  std::uint64_t seen = 0;
  for (std::size_t k = 0; k < bounds_.size(); ++k) {
    std::uint64_t in_bucket = buckets_[k].load();
    if (static_cast<double>(seen + in_bucket) >= rank && in_bucket > 0) {
      double lower = k == 0 ? 0 : bounds_[k - 1];
      double frac = (rank - static_cast<double>(seen)) / static_cast<double>(in_bucket);
      return lower + (bounds_[k] - lower) * frac;
    }
    seen += in_bucket;
  }
  return bounds_.empty() ? 0 : bounds_.back();  // in the +Inf bucket: report the last bound
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> b;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) b.push_back(v);
  return b;
}

Counter& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                     const std::string& labels) {
  std::lock_guard lock(mu_);
  Counter& c = counters_.emplace_back();
  series_.push_back({Kind::kCounter, name, help, labels, &c, nullptr, nullptr, {}});
  return c;
}

Gauge& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                 const std::string& labels) {
  std::lock_guard lock(mu_);
  Gauge& g = gauges_.emplace_back();
  series_.push_back({Kind::kGauge, name, help, labels, nullptr, &g, nullptr, {}});
  return g;
}

Histogram& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                         const std::string& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Histogram& h = histograms_.emplace_back(std::move(bounds));
  series_.push_back({Kind::kHistogram, name, help, labels, nullptr, nullptr, &h, {}});
  return h;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       const std::string& labels, std::function<double()> fn) {
  std::lock_guard lock(mu_);
  series_.push_back(
      {Kind::kCallback, name, help, labels, nullptr, nullptr, nullptr, std::move(fn)});
}

void MetricsRegistry::AddCallbackCounter(const std::string& name, const std::string& help,
                                         const std::string& labels, std::function<double()> fn) {
  std::lock_guard lock(mu_);
  series_.push_back(
      {Kind::kCallbackCounter, name, help, labels, nullptr, nullptr, nullptr, std::move(fn)});
}

namespace {

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  return fmt::format("{}", v);
}

std::string WithLabels(const std::string& labels, const std::string& extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  if (labels.empty()) return "{" + extra + "}";
  if (extra.empty()) return "{" + labels + "}";
  return "{" + labels + "," + extra + "}";
}

}  // namespace

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  // Group series by name, keeping first-registration order of names.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const Series*>> by_name;
  for (const Series& s : series_) {
    auto& v = by_name[s.name];
    if (v.empty()) order.push_back(s.name);
    v.push_back(&s);
  }
  std::string out;
  out.reserve(16384);
  for (const std::string& name : order) {
    const auto& group = by_name[name];
    const Series& first = *group.front();
    const char* type = "gauge";
    if (first.kind == Kind::kCounter || first.kind == Kind::kCallbackCounter) type = "counter";
    if (first.kind == Kind::kHistogram) type = "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, first.help, name, type);
    for (const Series* s : group) {
      switch (s->kind) {
        case Kind::kCounter:
          out += fmt::format("{}{} {}\n", name, WithLabels(s->labels), s->counter->Value());
          break;
        case Kind::kGauge:
          out +=
              fmt::format("{}{} {}\n", name, WithLabels(s->labels), FormatValue(s->gauge->Value()));
          break;
        case Kind::kCallback:
        case Kind::kCallbackCounter:
          out += fmt::format("{}{} {}\n", name, WithLabels(s->labels), FormatValue(s->callback()));
          break;
        case Kind::kHistogram: {
          const Histogram& h = *s->histogram;
          for (std::size_t i = 0; i < h.bounds().size(); ++i) {
            out += fmt::format("{}_bucket{} {}\n", name,
                               WithLabels(s->labels, "le=\"" + FormatValue(h.bounds()[i]) + "\""),
                               h.CumulativeCount(i));
          }
          out += fmt::format("{}_bucket{} {}\n", name, WithLabels(s->labels, "le=\"+Inf\""),
                             h.Count());
          out += fmt::format("{}_sum{} {}\n", name, WithLabels(s->labels), FormatValue(h.Sum()));
          out += fmt::format("{}_count{} {}\n", name, WithLabels(s->labels), h.Count());
          break;
        }
      }
    }
  }
  return out;
}

double ProcessResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages_total = 0, pages_resident = 0;
  int n = std::fscanf(f, "%ld %ld", &pages_total, &pages_resident);
  std::fclose(f);
  if (n != 2) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

}  // namespace aquawatch
