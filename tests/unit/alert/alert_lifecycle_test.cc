// The alert lifecycle (docs/alerts.md) on a manual clock: acknowledgement, resolution by hand
// and after the hold, reopening, history, persistence across a restart, queries, and a store
// that fails for a while.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>

#include "alert/alert_manager.h"
#include "alert/sqlite_alert_store.h"
#include "testing/alert_recorder.h"
#include "testing/manual_clock.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kS = kNsPerSecond;
constexpr std::int64_t kStart = 1'800'000'000 * kS;  // 2027-01-15

class ManualClock final : public testing::ManualClock {
 public:
  ManualClock() : testing::ManualClock(kStart) {}
};

using Recorder = testing::AlertRecorder;

ThresholdTransition Chlorine(std::string_view sensor, Level from, Level to, double value,
                             std::int64_t time) {
  return {sensor, "site-1", "zone-1", ParameterId::kFreeChlorineMgL, from, to, value,
          0.2,    time,     time + 5};
}

std::unique_ptr<AlertStore> MemoryStore() {
  auto store = OpenSqliteAlertStore(":memory:");
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(store).value();
}

struct Fixture {
  explicit Fixture(AlertOptions options = {}) : m(clock, options, MemoryStore()) {
    m.AddListener(&rec);
  }
  ~Fixture() { m.RemoveListener(&rec); }

  // Opens a critical chlorine alert on `sensor` and returns its id.
  std::uint64_t OpenOne(std::string_view sensor = "s1") {
    m.OnThresholdTransition(Chlorine(sensor, Level::kNormal, Level::kCriticalLow, 0.05, 100));
    return rec.events.back().alert.id;
  }
  std::vector<std::string> Actions(std::uint64_t id) {
    auto history = m.History(id);
    EXPECT_TRUE(history.ok());
    std::vector<std::string> out;
    for (const AlertHistoryEntry& e : *history) out.push_back(e.action);
    return out;
  }

  ManualClock clock;
  Recorder rec;
  AlertManager m;
};

TEST(AlertLifecycle, AcknowledgeRecordsWhoWhenAndWhy) {
  Fixture f;
  const std::uint64_t id = f.OpenOne();
  f.clock.Advance(30 * kS);
  auto acked = f.m.Acknowledge(id, "alice", "crew on the way");
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_EQ(acked->state, AlertState::kAcknowledged);
  EXPECT_EQ(acked->acked_by, "alice");
  EXPECT_EQ(acked->ack_comment, "crew on the way");
  EXPECT_EQ(acked->acked_at_ns, kStart + 30 * kS);
  EXPECT_EQ(f.rec.events.back().type, AlertEvent::Type::kAcknowledged);
  EXPECT_FALSE(f.rec.events.back().from_reading);
  EXPECT_EQ(f.m.OpenCount(), 1u) << "acknowledged is still unresolved";

  // The stored alert says the same, and its history says who did what.
  auto stored = f.m.Get(id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->state, AlertState::kAcknowledged);
  auto history = f.m.History(id);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].action, "opened");
  EXPECT_EQ((*history)[0].actor, "");
  EXPECT_EQ((*history)[1].action, "acknowledged");
  EXPECT_EQ((*history)[1].actor, "alice");
  EXPECT_EQ((*history)[1].detail, "crew on the way");
  EXPECT_EQ((*history)[1].at_ns, kStart + 30 * kS);
}

TEST(AlertLifecycle, ActionsThatTheStateForbidsAreConflicts) {
  Fixture f;
  const std::uint64_t id = f.OpenOne();
  ASSERT_TRUE(f.m.Acknowledge(id, "alice", "").ok());
  auto again = f.m.Acknowledge(id, "bob", "");
  EXPECT_EQ(again.status().code(), StatusCode::kConflict);
  EXPECT_NE(again.status().message().find("already acknowledged by alice"), std::string::npos);
  ASSERT_TRUE(f.m.Resolve(id, "alice", "flushed the main").ok());
  EXPECT_EQ(f.m.Resolve(id, "bob", "").status().code(), StatusCode::kConflict);
  EXPECT_EQ(f.m.Acknowledge(id, "bob", "").status().code(), StatusCode::kConflict);
  EXPECT_EQ(f.m.Acknowledge(999, "bob", "").status().code(), StatusCode::kNotFound);
  // Bad input names the field.
  auto nobody = f.m.Acknowledge(id, "", "");
  EXPECT_EQ(nobody.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(nobody.status().message().find("'by'"), std::string::npos);
  auto empty = f.m.Comment(id, "bob", "");
  EXPECT_NE(empty.status().message().find("'comment'"), std::string::npos);
  EXPECT_EQ(f.m.Acknowledge(id, std::string(kMaxActorBytes + 1, 'x'), "").status().code(),
            StatusCode::kInvalidArgument);
  // Nothing refused reached the history.
  EXPECT_EQ(f.Actions(id), (std::vector<std::string>{"opened", "acknowledged", "resolved"}));
}

TEST(AlertLifecycle, ResolvedByHandWhileTheConditionHoldsDoesNotOpenAgain) {
  Fixture f(AlertOptions{.reopen_window_ns = 600 * kS});
  const std::uint64_t id = f.OpenOne();
  auto resolved = f.m.Resolve(id, "alice", "known: plant maintenance");
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->resolved_by, "alice");
  EXPECT_EQ(resolved->resolved_ns, kStart);
  EXPECT_TRUE(resolved->active);
  EXPECT_EQ(f.m.OpenCount(), 0u);
  // The condition goes on: more readings below the limit do not open a second alert.
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kWarnLow, 0.15, 110));
  f.m.OnThresholdTransition(Chlorine("s1", Level::kWarnLow, Level::kCriticalLow, 0.05, 120));
  EXPECT_EQ(f.m.OpenCount(), 0u);
  EXPECT_EQ(f.m.List(AlertManager::Filter::kAll, 10).size(), 1u);
  // It clears, then comes back within the window: the same alert reopens.
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, 130));
  f.clock.Advance(60 * kS);
  f.m.Tick();
  f.m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 190));
  EXPECT_EQ(f.m.OpenCount(), 1u);
  EXPECT_EQ(f.rec.events.back().type, AlertEvent::Type::kReopened);
  EXPECT_EQ(f.rec.events.back().alert.id, id);
  EXPECT_EQ(f.rec.events.back().alert.reopened, 1u);
  EXPECT_EQ(f.rec.events.back().alert.resolved_by, "");
}

TEST(AlertLifecycle, ResolvesByItselfAfterTheConditionStaysClearForTheHold) {
  Fixture f(AlertOptions{.resolve_hold_ns = 120 * kS});
  const std::uint64_t id = f.OpenOne();
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, 200));
  EXPECT_EQ(f.m.OpenCount(), 1u) << "clear, but not for long enough";
  EXPECT_FALSE(f.rec.events.back().alert.active);
  // Back before the hold ran out: still the same alert, never resolved.
  f.clock.Advance(60 * kS);
  f.m.Tick();
  f.m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 260));
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.6, 300));
  f.clock.Advance(119 * kS);
  f.m.Tick();
  EXPECT_EQ(f.m.OpenCount(), 1u);
  f.clock.Advance(1 * kS);
  f.m.Tick();
  EXPECT_EQ(f.m.OpenCount(), 0u);
  auto stored = f.m.Get(id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->state, AlertState::kResolved);
  EXPECT_EQ((*stored)->resolved_ns, 300) << "the sensor time the condition cleared";
  EXPECT_EQ((*stored)->resolved_by, "");
  EXPECT_EQ(f.rec.events.back().type, AlertEvent::Type::kResolved);
  EXPECT_FALSE(f.rec.events.back().from_reading) << "the hold timer resolved it";
  EXPECT_EQ(f.Actions(id),
            (std::vector<std::string>{"opened", "cleared", "returned", "cleared", "resolved"}));
}

TEST(AlertLifecycle, AConditionReturningAfterTheWindowOpensANewAlert) {
  Fixture f(AlertOptions{.reopen_window_ns = 300 * kS});
  const std::uint64_t first = f.OpenOne();
  ASSERT_TRUE(f.m.Acknowledge(first, "alice", "").ok());
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, 200));
  EXPECT_EQ(f.m.OpenCount(), 0u);
  // Within the window: reopened, and the acknowledgement no longer holds.
  f.clock.Advance(299 * kS);
  f.m.Tick();
  f.m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 500));
  Alert reopened = f.rec.events.back().alert;
  EXPECT_EQ(reopened.id, first);
  EXPECT_EQ(reopened.state, AlertState::kOpen);
  EXPECT_EQ(reopened.acked_by, "");
  // Past the window: a new alert.
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, 600));
  f.clock.Advance(300 * kS);
  f.m.Tick();
  f.m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 900));
  EXPECT_EQ(f.rec.events.back().type, AlertEvent::Type::kOpened);
  EXPECT_NE(f.rec.events.back().alert.id, first);
  EXPECT_EQ(f.Actions(first), (std::vector<std::string>{"opened", "acknowledged", "resolved",
                                                        "reopened", "resolved"}));
}

TEST(AlertLifecycle, OldDataReplayedFastCountsTheHoldAndWindowInSensorTime) {
  // A backfill: hours of sensor time arrive within one second of server time.
  Fixture f(AlertOptions{.resolve_hold_ns = 60 * kS, .reopen_window_ns = 900 * kS});
  const std::int64_t t = 1'700'000'000 * kS;
  f.m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, t));
  const std::uint64_t first = f.rec.events.back().alert.id;
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, t + 10 * kS));
  // Back five minutes (sensor time) later: past the hold, so the first alert had resolved; inside
  // the window, so it reopens.
  f.m.OnThresholdTransition(
      Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, t + 310 * kS));
  EXPECT_EQ(f.rec.events.back().type, AlertEvent::Type::kReopened);
  EXPECT_EQ(f.rec.events.back().alert.id, first);
  EXPECT_EQ(f.Actions(first),
            (std::vector<std::string>{"opened", "cleared", "resolved", "reopened"}));
  // Five hours later: a new alert, and the first resolved when its condition cleared.
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, t + 320 * kS));
  f.m.OnThresholdTransition(
      Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, t + 5 * 3600 * kS));
  EXPECT_EQ(f.rec.events.back().type, AlertEvent::Type::kOpened);
  EXPECT_NE(f.rec.events.back().alert.id, first);
  auto old = f.m.Get(first);
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_EQ((*old)->state, AlertState::kResolved);
  EXPECT_EQ((*old)->resolved_ns, t + 320 * kS);
}

TEST(AlertLifecycle, ARiseInPriorityNeedsANewAcknowledgement) {
  Fixture f;
  f.m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kWarnLow, 0.18, 100));
  const std::uint64_t id = f.rec.events.back().alert.id;
  ASSERT_TRUE(f.m.Acknowledge(id, "alice", "watching it").ok());
  f.m.OnThresholdTransition(Chlorine("s1", Level::kWarnLow, Level::kCriticalLow, 0.05, 110));
  const Alert& a = f.rec.events.back().alert;
  EXPECT_EQ(a.priority, AlertPriority::kHigh);
  EXPECT_EQ(a.state, AlertState::kOpen);
  EXPECT_EQ(a.acked_by, "");
  // A fall in priority keeps an acknowledgement.
  ASSERT_TRUE(f.m.Acknowledge(id, "alice", "").ok());
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kWarnLow, 0.15, 120));
  EXPECT_EQ(f.rec.events.back().alert.state, AlertState::kAcknowledged);
}

TEST(AlertLifecycle, CommentsReachResolvedAlertsLongGone) {
  Fixture f;  // no reopen window: a resolved, cleared alert leaves memory at the next tick
  const std::uint64_t id = f.OpenOne();
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, 200));
  f.m.Tick();
  ASSERT_TRUE(f.m.Comment(id, "regulator", "sampled at the tap: 0.4 mg/L").ok());
  ASSERT_TRUE(f.m.Comment(id, "alice", "closing the work order").ok());
  auto history = f.m.History(id);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 4u);
  EXPECT_EQ((*history)[2].actor, "regulator");
  EXPECT_EQ((*history)[3].seq, 3u);
  EXPECT_EQ(f.m.Comment(12345, "alice", "?").status().code(), StatusCode::kNotFound);
}

TEST(AlertLifecycle, QueriesFilterAndPageNewestFirst) {
  Fixture f;
  for (int i = 0; i < 5; ++i) {
    f.m.OnThresholdTransition(
        Chlorine("s" + std::to_string(i), Level::kNormal, Level::kWarnLow, 0.18, 100 + i));
  }
  DetectorTransition fault{"s9",        "site-2", "zone-2", "sensor_fault",         true,
                           "flat_line", "ph",     "flat",   AlertPriority::kMedium, 150,
                           155};
  f.m.OnDetectorTransition(fault);
  ASSERT_TRUE(f.m.Acknowledge(2, "alice", "").ok());

  AlertQuery q;
  q.limit = 2;
  auto page = f.m.Query(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 6u);
  EXPECT_EQ((*page)[1].id, 5u);
  q.before_id = page->back().id;
  page = f.m.Query(q);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, 4u);

  AlertQuery acked;
  acked.states = {AlertState::kAcknowledged};
  EXPECT_EQ(f.m.Query(acked)->size(), 1u);
  AlertQuery by_kind;
  by_kind.kind = "sensor_fault";
  by_kind.site = "site-2";
  by_kind.zone = "zone-2";
  ASSERT_EQ(f.m.Query(by_kind)->size(), 1u);
  EXPECT_EQ(f.m.Query(by_kind)->front().sensor, "s9");
  AlertQuery high;
  high.priority = AlertPriority::kHigh;
  EXPECT_TRUE(f.m.Query(high)->empty());
  AlertQuery window;
  window.opened_from_ns = 102;
  window.opened_to_ns = 104;
  auto in_window = f.m.Query(window);
  ASSERT_EQ(in_window->size(), 2u);
  EXPECT_EQ((*in_window)[0].sensor, "s3");
  EXPECT_EQ((*in_window)[1].sensor, "s2");
}

TEST(AlertLifecycle, ARestartKeepsAlertsAndTheirHistoryWithoutDuplicates) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/alerts.db";
  ManualClock clock;
  std::uint64_t acked_id = 0, gone_id = 0, resolved_id = 0;
  {
    auto store = OpenSqliteAlertStore(path);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    AlertManager m(clock, {}, std::move(store).value());
    Recorder rec;
    m.AddListener(&rec);
    m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 100));
    acked_id = rec.events.back().alert.id;
    m.OnThresholdTransition(Chlorine("s2", Level::kNormal, Level::kCriticalLow, 0.05, 101));
    gone_id = rec.events.back().alert.id;
    m.OnThresholdTransition(Chlorine("s3", Level::kNormal, Level::kWarnLow, 0.15, 102));
    resolved_id = rec.events.back().alert.id;
    m.OnThresholdTransition(Chlorine("s3", Level::kWarnLow, Level::kNormal, 0.5, 103));
    ASSERT_TRUE(m.Acknowledge(acked_id, "alice", "on it").ok());
    m.RemoveListener(&rec);
  }  // the manager stores what is pending as it stops

  clock.Advance(3600 * kS);
  auto store = OpenSqliteAlertStore(path);
  ASSERT_TRUE(store.ok());
  AlertManager m(clock, {}, std::move(store).value());
  Recorder rec;
  m.AddListener(&rec);
  ASSERT_TRUE(m.Load().ok());
  EXPECT_EQ(m.OpenCount(), 2u);
  // The shards recover: s1 is still critical (a re-raise, and a replayed dip and return), s2's
  // condition is not reported at all.
  m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 100));
  m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kNormal, 0.5, 110));
  m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.04, 120));
  EXPECT_TRUE(rec.events.empty()) << "nothing is announced while recovering";
  m.FinishRecovery();

  auto acked = m.Get(acked_id);
  ASSERT_TRUE(acked.ok() && acked->has_value());
  EXPECT_EQ((*acked)->state, AlertState::kAcknowledged);
  EXPECT_EQ((*acked)->acked_by, "alice");
  EXPECT_EQ(m.History(acked_id)->size(), 2u) << "the replay rewrote no history";
  auto gone = m.Get(gone_id);
  EXPECT_EQ((*gone)->state, AlertState::kResolved) << "its condition was not found again";
  EXPECT_EQ((*m.Get(resolved_id))->state, AlertState::kResolved);
  EXPECT_EQ(m.OpenCount(), 1u);
  EXPECT_EQ(m.List(AlertManager::Filter::kAll, 10).size(), 3u) << "no duplicates";
  // New alerts get new ids.
  m.OnThresholdTransition(Chlorine("s4", Level::kNormal, Level::kCriticalLow, 0.05, 200));
  EXPECT_GT(rec.events.back().alert.id, resolved_id);
  m.RemoveListener(&rec);
}

Silence SilenceOf(std::string_view sensor, std::int64_t starts, std::int64_t ends) {
  Silence s;
  s.sensor = sensor;
  s.starts_at_ns = starts;
  s.ends_at_ns = ends;
  s.created_by = "alice";
  s.comment = "calibration";
  return s;
}

TEST(AlertSilences, ASilenceHidesItsProbeNotItsSite) {
  Fixture f;
  auto made = f.m.CreateSilence(SilenceOf("s1", 0, kStart + 2 * 3600 * kS));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->id, 1u);
  EXPECT_EQ(made->starts_at_ns, kStart) << "0 starts it now";
  f.OpenOne("s1");
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by, "silence 1");
  f.OpenOne("s2");  // same site and zone
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by, "");
  // The API shows why, as of now; once the silence ends the alert is no longer suppressed.
  auto listed = f.m.List(AlertManager::Filter::kOpen, 10, "s1");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].suppressed_by, "silence 1");
  f.clock.Advance(2 * 3600 * kS);
  EXPECT_EQ(f.m.List(AlertManager::Filter::kOpen, 10, "s1")[0].suppressed_by, "");
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kWarnLow, 0.15, 200));
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by, "");
}

TEST(AlertSilences, PendingExpiredAndEndedEarly) {
  Fixture f;
  auto later = f.m.CreateSilence(SilenceOf("s1", kStart + 60 * kS, kStart + 120 * kS));
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(SilenceStateName(*later, f.clock.NowNs()), "pending");
  f.OpenOne("s1");
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by, "") << "not in force yet";
  f.clock.Advance(60 * kS);
  EXPECT_EQ(f.m.List(AlertManager::Filter::kOpen, 10, "s1")[0].suppressed_by, "silence 1");
  auto ended = f.m.ExpireSilence(later->id, "bob");
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(ended->expired_by, "bob");
  EXPECT_EQ(SilenceStateName(*ended, f.clock.NowNs()), "expired");
  EXPECT_EQ(f.m.List(AlertManager::Filter::kOpen, 10, "s1")[0].suppressed_by, "");
  EXPECT_EQ(f.m.ExpireSilence(later->id, "bob").status().code(), StatusCode::kConflict);
  EXPECT_EQ(f.m.ExpireSilence(77, "bob").status().code(), StatusCode::kNotFound);
  auto all = f.m.ListSilences(10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].expired_by, "bob");
}

TEST(AlertSilences, BadSilencesNameTheField) {
  Fixture f;
  Silence everything = SilenceOf("", 0, kStart + kS);
  EXPECT_NE(f.m.CreateSilence(everything).status().message().find("'matchers'"), std::string::npos);
  Silence kind = SilenceOf("s1", 0, kStart + kS);
  kind.kind = "thresholds";
  EXPECT_NE(f.m.CreateSilence(kind).status().message().find("'matchers.kind'"), std::string::npos);
  Silence backwards = SilenceOf("s1", kStart + 10 * kS, kStart + 5 * kS);
  EXPECT_NE(f.m.CreateSilence(backwards).status().message().find("'ends_at'"), std::string::npos);
  Silence past = SilenceOf("s1", kStart - 10 * kS, kStart - 5 * kS);
  EXPECT_NE(f.m.CreateSilence(past).status().message().find("already past"), std::string::npos);
  Silence anonymous = SilenceOf("s1", 0, kStart + kS);
  anonymous.created_by.clear();
  EXPECT_NE(f.m.CreateSilence(anonymous).status().message().find("'by'"), std::string::npos);
  Silence silent = SilenceOf("s1", 0, kStart + kS);
  silent.comment.clear();
  EXPECT_NE(f.m.CreateSilence(silent).status().message().find("'comment'"), std::string::npos);
  EXPECT_TRUE(f.m.ListSilences(10)->empty());
}

TEST(AlertSilences, SilencesSurviveARestart) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/alerts.db";
  ManualClock clock;
  {
    AlertManager m(clock, {}, std::move(OpenSqliteAlertStore(path)).value());
    Silence site;
    site.site = "site-1";
    site.priority = AlertPriority::kMedium;
    site.ends_at_ns = kStart + 3600 * kS;
    site.created_by = "alice";
    site.comment = "flushing programme";
    ASSERT_TRUE(m.CreateSilence(site).ok());
  }
  AlertManager m(clock, {}, std::move(OpenSqliteAlertStore(path)).value());
  ASSERT_TRUE(m.Load().ok());
  m.FinishRecovery();
  Recorder rec;
  m.AddListener(&rec);
  m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kWarnLow, 0.15, 100));
  EXPECT_EQ(rec.events.back().alert.suppressed_by, "silence 1") << "medium, on site-1";
  m.OnThresholdTransition(Chlorine("s2", Level::kNormal, Level::kCriticalLow, 0.05, 100));
  EXPECT_EQ(rec.events.back().alert.suppressed_by, "") << "high priority is not matched";
  auto made = m.CreateSilence(SilenceOf("s9", 0, kStart + kS));
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->id, 2u) << "ids go on after a restart";
  m.RemoveListener(&rec);
}

TEST(AlertInhibition, AnOfflineOrFaultyProbesThresholdAlertsAreInhibited) {
  Fixture f;
  DetectorTransition offline{"s1",
                             "site-1",
                             "zone-1",
                             "sensor_offline",
                             true,
                             "offline",
                             "",
                             "no reading for 300 s",
                             AlertPriority::kMedium,
                             90,
                             95};
  f.m.OnDetectorTransition(offline);
  const std::uint64_t offline_id = f.rec.events.back().alert.id;
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by, "");
  f.OpenOne("s1");
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by,
            fmt::format("alert {} (sensor_offline)", offline_id));
  f.OpenOne("s2");
  EXPECT_EQ(f.rec.events.back().alert.suppressed_by, "") << "other sensors are not inhibited";
  // Back online: the threshold alert speaks again.
  offline.open = false;
  f.m.OnDetectorTransition(offline);
  EXPECT_EQ(f.m.List(AlertManager::Filter::kOpen, 10, "s1")[0].suppressed_by, "");
  // A fault inhibits too.
  DetectorTransition fault{"s1",        "site-1", "zone-1", "sensor_fault",         true,
                           "flat_line", "ph",     "flat",   AlertPriority::kMedium, 300,
                           305};
  f.m.OnDetectorTransition(fault);
  f.m.OnThresholdTransition(Chlorine("s1", Level::kCriticalLow, Level::kWarnLow, 0.15, 310));
  EXPECT_NE(f.rec.events.back().alert.suppressed_by.find("(sensor_fault)"), std::string::npos);
}

// A store that refuses writes while `failing` is set: the manager's retry and its promise that
// nothing is lost. (A stand-in for a full disk, which SQLite reports the same way.)
class FlakyStore final : public AlertStore {
 public:
  explicit FlakyStore(std::unique_ptr<AlertStore> inner) : inner_(std::move(inner)) {}
  Result<LiveAlerts> LoadLive(std::int64_t since) const override { return inner_->LoadLive(since); }
  Status Write(const std::vector<AlertChange>& changes) override {
    if (failing) return Status::IoError("disk full");
    return inner_->Write(changes);
  }
  Result<std::vector<Alert>> List(const AlertQuery& q) const override { return inner_->List(q); }
  Result<std::optional<Alert>> Get(std::uint64_t id) const override { return inner_->Get(id); }
  Result<std::vector<AlertHistoryEntry>> History(std::uint64_t id) const override {
    return inner_->History(id);
  }
  Status PutSilence(const Silence& s) override { return inner_->PutSilence(s); }
  Result<std::vector<Silence>> ListSilences(std::size_t limit) const override {
    return inner_->ListSilences(limit);
  }
  Result<std::vector<Silence>> LoadSilences(std::int64_t now, std::uint64_t* max) const override {
    return inner_->LoadSilences(now, max);
  }
  std::atomic<bool> failing{false};

 private:
  std::unique_ptr<AlertStore> inner_;
};

TEST(AlertLifecycle, AFailingStoreDelaysButLosesNothing) {
  ManualClock clock;
  auto flaky = std::make_unique<FlakyStore>(MemoryStore());
  FlakyStore* store = flaky.get();
  AlertManager m(clock, {}, std::move(flaky));
  Recorder rec;
  m.AddListener(&rec);
  m.OnThresholdTransition(Chlorine("s1", Level::kNormal, Level::kCriticalLow, 0.05, 100));
  const std::uint64_t id = rec.events.back().alert.id;
  ASSERT_TRUE(m.Sync().ok());
  store->failing = true;
  // Alerts still reach listeners at once; the store catches up later.
  m.OnThresholdTransition(Chlorine("s2", Level::kNormal, Level::kCriticalLow, 0.05, 101));
  EXPECT_EQ(rec.events.back().type, AlertEvent::Type::kOpened);
  auto ack = m.Acknowledge(id, "alice", "");
  EXPECT_EQ(ack.status().code(), StatusCode::kUnavailable) << ack.status().ToString();
  EXPECT_EQ(m.Sync(std::chrono::milliseconds(200)).code(), StatusCode::kUnavailable);
  EXPECT_GT(m.store_failures(), 0u);
  store->failing = false;
  ASSERT_TRUE(m.Sync(std::chrono::seconds(10)).ok());
  EXPECT_EQ(m.List(AlertManager::Filter::kOpen, 10).size(), 2u);
  EXPECT_EQ((*m.Get(id))->state, AlertState::kAcknowledged) << "the acknowledgement was kept";
  m.RemoveListener(&rec);
}

}  // namespace
}  // namespace aquawatch
