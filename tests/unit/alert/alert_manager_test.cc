#include <gtest/gtest.h>

#include "alert/alert_manager.h"

namespace aquawatch {
namespace {

class Recorder : public AlertListener {
 public:
  void OnAlertEvent(const AlertEvent& e) override { events.push_back(e); }
  std::vector<AlertEvent> events;
};

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
  EXPECT_FALSE(resolved[0].open);
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

TEST(AlertManager, KeepsABoundedHistoryOfResolvedAlerts) {
  AlertManager m(/*max_resolved_kept=*/3);
  for (int i = 0; i < 10; ++i) {
    m.OnThresholdTransition(T("s1", Level::kNormal, Level::kWarnLow, 0.25, i * 2));
    m.OnThresholdTransition(T("s1", Level::kWarnLow, Level::kNormal, 0.8, i * 2 + 1));
  }
  m.OnThresholdTransition(T("s9", Level::kNormal, Level::kWarnLow, 0.25, 100));
  EXPECT_EQ(m.List(AlertManager::Filter::kResolved, 100).size(), 3u);
  EXPECT_EQ(m.List(AlertManager::Filter::kOpen, 100).size(), 1u);
}

}  // namespace
}  // namespace aquawatch
