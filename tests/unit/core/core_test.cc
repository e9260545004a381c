#include <gtest/gtest.h>

#include "core/crc32c.h"
#include "core/metrics.h"
#include "core/reading.h"
#include "core/status.h"

namespace aquawatch {
namespace {

TEST(Crc32c, MatchesKnownVector) {
  // The standard check value of CRC-32C.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(Crc32c, IncrementalEqualsWhole) {
  std::string data(1000, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  std::uint32_t whole = Crc32c(data);
  std::uint32_t part = Crc32c(data.data(), 333);
  part = Crc32c(data.data() + 333, data.size() - 333, part);
  EXPECT_EQ(whole, part);
}

TEST(Status, CarriesCodeAndMessage) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status bad = Status::InvalidArgument("field \"ph\" is bad");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.ToString(), "invalid argument: field \"ph\" is bad");
  Result<int> r = 5;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 5);
  Result<int> e = Status::NotFound("x");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}

TEST(Parameters, NamesRoundTrip) {
  for (int p = 0; p < kCanonicalParameterCount; ++p) {
    auto id = static_cast<ParameterId>(p);
    EXPECT_EQ(ParameterFromName(ParameterName(id)), id);
  }
  EXPECT_EQ(ParameterFromName("toc_mg_l"), ParameterId::kCustom);
  EXPECT_EQ(ParameterFromName("PH"), ParameterId::kCustom);
}

TEST(SensorId, ValidatesLengthAndCharacters) {
  EXPECT_TRUE(SensorIdError("plant-1:probe_2.a").empty());
  EXPECT_FALSE(SensorIdError("").empty());
  EXPECT_FALSE(SensorIdError(std::string(129, 'a')).empty());
  EXPECT_TRUE(SensorIdError(std::string(128, 'a')).empty());
  EXPECT_FALSE(SensorIdError("has space").empty());
  EXPECT_FALSE(SensorIdError("a/b").empty());
}

TEST(ReadingBatch, StoresColumnsAndCancels) {
  ReadingBatch b;
  b.BeginReading("s1", 100, "site", "zone");
  b.AddField(ParameterId::kPh, 7.1);
  b.AddCustomField("toc_mg_l", 2.5);
  b.BeginReading("s2", 200);
  b.AddField(ParameterId::kTurbidityNtu, 0.2);
  b.AddCustomField("junk", 1);
  b.CancelReading();
  b.BeginReading("s3", 300);
  b.AddField(ParameterId::kOrpMv, 650);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.sensor(0), "s1");
  EXPECT_EQ(b.site(0), "site");
  EXPECT_EQ(b.zone(0), "zone");
  EXPECT_EQ(b.field_end(0) - b.field_begin(0), 2u);
  EXPECT_EQ(b.field_name(b.field_begin(0) + 1), "toc_mg_l");
  EXPECT_EQ(b.sensor(1), "s3");
  EXPECT_EQ(b.time_ns(1), 300);
  EXPECT_EQ(b.site(1), "");
  EXPECT_EQ(b.field_value(b.field_begin(1)), 650);

  ReadingBatch copy;
  copy.AppendFrom(b, 0);
  EXPECT_EQ(copy.sensor(0), "s1");
  EXPECT_EQ(copy.field_name(1), "toc_mg_l");
  EXPECT_EQ(copy.field_value(1), 2.5);
}

TEST(Metrics, RendersPrometheusText) {
  MetricsRegistry m;
  m.AddCounter("x_total", "Things", "listener=\"tcp\"").Add(3);
  m.AddCounter("x_total", "Things", "listener=\"http\"").Add(4);
  Histogram& h = m.AddHistogram("lat_seconds", "Latency", "", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = m.RenderPrometheus();
  EXPECT_NE(text.find("# TYPE x_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("x_total{listener=\"tcp\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("x_total{listener=\"http\"} 4\n"), std::string::npos);
  // HELP/TYPE once per family.
  EXPECT_EQ(text.find("# TYPE x_total"), text.rfind("# TYPE x_total"));
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, HistogramQuantileInterpolates) {
  Histogram h({1, 2, 4});
  for (int i = 0; i < 100; ++i) h.Observe(1.5);
  double q = h.Quantile(0.5);
  EXPECT_GT(q, 1.0);
  EXPECT_LE(q, 2.0);
}

}  // namespace
}  // namespace aquawatch
