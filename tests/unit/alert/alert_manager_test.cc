#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "alert/alert_manager.h"
#include "testing/alert_recorder.h"

namespace aquawatch {
namespace {

using Recorder = testing::AlertRecorder;

ThresholdTransition T(std::string_view sensor, Level from, Level to, double value,
                      std::int64_t time) {
  return {sensor, "site-1", "zone-1", ParameterId::kFreeChlorineMgL, from, to, value,
          0.2,    time,     time + 5};
}

TEST(AlertManager, OpensUpdatesAndResolvesOneAlertPerKey) {
  AlertManager m;
  Recorder rec;
  m.AddListener(&rec);
  m.OnThresholdTransition(T("s1", Level::kNormal, Level::kWarnLow, 0.25, 10));
  m.OnThresholdTransition(T("s1", Level::kWarnLow, Level::kCriticalLow, 0.1, 20));
  ASSERT_EQ(m.OpenCount(), 1u);
  auto open = m.List(AlertManager::Filter::kOpen, 10);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].level, Level::kCriticalLow);
  EXPECT_EQ(open[0].priority, AlertPriority::kHigh);
  EXPECT_EQ(open[0].opened_ns, 10);
  EXPECT_EQ(open[0].site, "site-1");
  m.OnThresholdTransition(T("s1", Level::kCriticalLow, Level::kNormal, 0.8, 30));
  EXPECT_EQ(m.OpenCount(), 0u);
  auto resolved = m.List(AlertManager::Filter::kResolved, 10);
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_TRUE(resolved[0].resolved());
  EXPECT_EQ(resolved[0].resolved_ns, 30);
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[0].type, AlertEvent::Type::kOpened);
  EXPECT_EQ(rec.events[1].type, AlertEvent::Type::kUpdated);
  EXPECT_EQ(rec.events[2].type, AlertEvent::Type::kResolved);
  EXPECT_EQ(rec.events[0].alert.priority, AlertPriority::kMedium);
  m.RemoveListener(&rec);
}

TEST(AlertManager, SeparateSensorsGetSeparateAlerts) {
  AlertManager m;
  m.OnThresholdTransition(T("s1", Level::kNormal, Level::kCriticalLow, 0.1, 1));
  m.OnThresholdTransition(T("s2", Level::kNormal, Level::kCriticalLow, 0.1, 2));
  EXPECT_EQ(m.OpenCount(), 2u);
  auto s2 = m.List(AlertManager::Filter::kAll, 10, "s2");
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s2[0].sensor, "s2");
  // Newest first.
  auto all = m.List(AlertManager::Filter::kAll, 10);
  EXPECT_EQ(all[0].sensor, "s2");
}

TEST(AlertManager, ResolveWithoutOpenAlertIsIgnored) {
  AlertManager m;
  m.OnThresholdTransition(T("s1", Level::kWarnLow, Level::kNormal, 0.5, 1));
  EXPECT_TRUE(m.List(AlertManager::Filter::kAll, 10).empty());
}

DetectorTransition Event(std::string_view sensor, std::string_view zone, bool open,
                         std::string_view classification, std::int64_t time) {
  return {sensor,     "site-1",     zone,
          kEventKind, open,         classification,
          "ph",       "ph +9.0 sd", AlertPriority::kMedium,
          time,       time + 5};
}

std::optional<Alert> OpenZoneAlert(AlertManager& m) {
  for (const Alert& a : m.List(AlertManager::Filter::kOpen, 100)) {
    if (a.kind == kZoneEventKind) return a;
  }
  return std::nullopt;
}

TEST(AlertManager, TwoSensorsOfOneZoneInAlarmRaiseAHighPriorityZoneAlert) {
  AlertManager m;
  Recorder rec;
  m.AddListener(&rec);
  m.OnDetectorTransition(Event("s1", "zone-a", true, "water_quality_deviation", 10));
  m.OnDetectorTransition(Event("s9", "zone-b", true, "water_quality_deviation", 11));
  EXPECT_FALSE(OpenZoneAlert(m)) << "one sensor per zone is no correlation";
  m.OnDetectorTransition(Event("s2", "zone-a", true, "probable_contamination", 12));
  auto zone = OpenZoneAlert(m);
  ASSERT_TRUE(zone);
  EXPECT_EQ(zone->zone, "zone-a");
  EXPECT_EQ(zone->sensor, "");
  EXPECT_EQ(zone->priority, AlertPriority::kHigh);
  EXPECT_EQ(zone->classification, "probable_contamination");
  EXPECT_EQ(zone->parameter, "s1, s2");
  EXPECT_EQ(zone->opened_ns, 12);
  EXPECT_EQ(m.OpenCount(), 4u);
  // A third sensor updates the zone alert rather than opening another.
  m.OnDetectorTransition(Event("s3", "zone-a", true, "water_quality_deviation", 13));
  EXPECT_EQ(rec.events.back().type, AlertEvent::Type::kUpdated);
  EXPECT_EQ(OpenZoneAlert(m)->parameter, "s1, s2, s3");
  // It resolves when fewer than two sensors are left in alarm.
  m.OnDetectorTransition(Event("s1", "zone-a", false, "", 20));
  EXPECT_TRUE(OpenZoneAlert(m));
  m.OnDetectorTransition(Event("s2", "zone-a", false, "", 21));
  EXPECT_FALSE(OpenZoneAlert(m));
  EXPECT_EQ(rec.events.back().type, AlertEvent::Type::kResolved);
  EXPECT_EQ(rec.events.back().alert.kind, kZoneEventKind);
  EXPECT_EQ(rec.events.back().alert.resolved_ns, 21);
  // Sensor faults and sensors without a zone never count.
  DetectorTransition fault = Event("s4", "zone-a", true, "flat_line", 30);
  fault.kind = "sensor_fault";
  m.OnDetectorTransition(fault);
  m.OnDetectorTransition(Event("s5", "", true, "water_quality_deviation", 31));
  m.OnDetectorTransition(Event("s6", "", true, "water_quality_deviation", 32));
  EXPECT_FALSE(OpenZoneAlert(m));
}

std::vector<std::string> Sensors(const std::vector<Alert>& alerts) {
  std::vector<std::string> out;
  for (const Alert& a : alerts) out.push_back(a.sensor.empty() ? "zone:" + a.zone : a.sensor);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(AlertManager, AZoneIncidentGroupsTheSensorsAlertsThatOverlapIt) {
  AlertManager m;
  m.OnDetectorTransition(Event("s1", "zone-a", true, "water_quality_deviation", 10));
  m.OnDetectorTransition(Event("s9", "zone-b", true, "water_quality_deviation", 11));
  m.OnDetectorTransition(Event("s2", "zone-a", true, "probable_contamination", 12));
  m.OnDetectorTransition(Event("s3", "zone-a", true, "water_quality_deviation", 13));
  const Alert incident = *OpenZoneAlert(m);
  m.OnDetectorTransition(Event("s1", "zone-a", false, "", 20));
  m.OnDetectorTransition(Event("s2", "zone-a", false, "", 21));  // the incident ends here
  ASSERT_FALSE(OpenZoneAlert(m));
  // After it: s3 clears, then s4 is alone in the zone (no incident).
  m.OnDetectorTransition(Event("s3", "zone-a", false, "", 25));
  m.OnDetectorTransition(Event("s4", "zone-a", true, "water_quality_deviation", 30));
  ASSERT_FALSE(OpenZoneAlert(m));
  auto a = m.Get(incident.id);
  ASSERT_TRUE(a.ok() && a->has_value());
  auto members = m.Grouped(**a);
  ASSERT_TRUE(members.ok());
  // s1 began before the incident and counts; s9 is another zone; s4 came after it ended.
  EXPECT_EQ(Sensors(*members), (std::vector<std::string>{"s1", "s2", "s3"}));

  auto s3 = m.List(AlertManager::Filter::kAll, 10, "s3");
  ASSERT_EQ(s3.size(), 1u);
  auto incidents = m.Grouped(s3[0]);
  ASSERT_TRUE(incidents.ok());
  EXPECT_EQ(Sensors(*incidents), (std::vector<std::string>{"zone:zone-a"}));
  auto s4 = m.List(AlertManager::Filter::kAll, 10, "s4");
  ASSERT_EQ(s4.size(), 1u);
  EXPECT_TRUE(m.Grouped(s4[0])->empty());
  // A second incident in the zone groups only its own members.
  m.OnDetectorTransition(Event("s5", "zone-a", true, "water_quality_deviation", 40));
  auto second = OpenZoneAlert(m);
  ASSERT_TRUE(second);
  ASSERT_NE(second->id, incident.id);
  EXPECT_EQ(Sensors(*m.Grouped(*second)), (std::vector<std::string>{"s4", "s5"}));
  EXPECT_EQ(m.Grouped(s3[0])->size(), 1u) << "s3 had cleared before the second";
  s4 = m.List(AlertManager::Filter::kAll, 10, "s4");
  EXPECT_EQ(Sensors(*m.Grouped(s4[0])), (std::vector<std::string>{"zone:zone-a"}));
  // Threshold alerts are not grouped.
  m.OnThresholdTransition(T("s1", Level::kNormal, Level::kCriticalLow, 0.1, 41));
  auto threshold = m.List(AlertManager::Filter::kOpen, 10, "s1");
  ASSERT_EQ(threshold.size(), 1u);
  EXPECT_TRUE(m.Grouped(threshold[0])->empty());
}

TEST(AlertManager, ZoneCorrelationCanBeTurnedOff) {
  AlertManager m(AlertOptions{.zone_min_sensors = 0});
  m.OnDetectorTransition(Event("s1", "zone-a", true, "water_quality_deviation", 10));
  m.OnDetectorTransition(Event("s2", "zone-a", true, "water_quality_deviation", 11));
  EXPECT_FALSE(OpenZoneAlert(m));
}

}  // namespace
}  // namespace aquawatch
