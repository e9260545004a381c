// The Notifier on a manual clock, with a real AlertManager and a recording sender: routes,
// escalation stages, repeats until acknowledged, resolution notices, retries with backoff into
// the dead-letter list, rate limits that hold back and never drop, quiet hours, silences, the
// high lane first, and pages and pending notifications that survive a restart.
#include <gtest/gtest.h>

#include <deque>

#include "alert/alert_manager.h"
#include "alert/sqlite_alert_store.h"
#include "notify/notifier.h"
#include "testing/manual_clock.h"
#include "testing/temp_dir.h"

namespace aquawatch {
namespace {

constexpr std::int64_t kS = kNsPerSecond;
constexpr std::int64_t kMin = 60 * kS;
constexpr std::int64_t kStart = 1'800'000'000 * kS;  // 2027-01-15T08:00:00Z

constexpr std::string_view kPolicy = R"({
  "receivers": [
    {"name": "operator", "targets": [{"channel": "sms", "to": "+15550100"},
                                     {"channel": "email", "to": "ops@example.org"}]},
    {"name": "supervisor", "targets": [{"channel": "pagerduty", "routing_key": "R0UT1NG"}]},
    {"name": "log", "targets": [{"channel": "webhook", "url": "http://127.0.0.1:9/hook"}]}
  ],
  "policies": [
    {"name": "contamination", "repeat_every": "5m",
     "stages": [{"after": "0s", "receivers": ["operator"]},
                {"after": "15m", "receivers": ["supervisor"]}]},
    {"name": "routine", "send_resolved": false, "stages": [{"after": "0s", "receivers": ["log"]}]}
  ],
  "routes": [
    {"match": {"priority": ["high"]}, "policy": "contamination"},
    {"policy": "routine"}
  ],
  "quiet_hours": {"hours": "22:00-07:00", "priority": ["low"]}
})";

struct Sent {
  std::uint64_t notification_id, alert_id;
  std::string receiver;
  ChannelKind channel;
  std::uint32_t stage, repeat;
  bool resolved;
};

// Records what it is asked to send and answers from a script (ok when the script is empty).
struct SendLog {
  std::vector<Sent> sent;
  std::deque<AttemptResult> script;
};

class RecordingSender final : public ChannelSender {
 public:
  explicit RecordingSender(SendLog& log) : log_(log) {}
  AttemptResult Send(const Delivery& d) override {
    log_.sent.push_back({d.notification_id, d.alert->id, std::string(d.receiver), d.target->channel,
                         d.stage, d.repeat, d.resolved});
    if (log_.script.empty()) return {.ok = true, .retryable = false, .status = 200, .detail = ""};
    AttemptResult r = log_.script.front();
    log_.script.pop_front();
    return r;
  }

 private:
  SendLog& log_;
};

NotifyPolicy TestPolicy() {
  auto p = ParseNotifyPolicyText(kPolicy);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

std::unique_ptr<AlertStore> MemoryAlertStore() {
  auto store = OpenSqliteAlertStore(":memory:");
  EXPECT_TRUE(store.ok());
  return std::move(store).value();
}

struct Fixture {
  explicit Fixture(NotifyOptions options = DefaultOptions(), std::string store_path = ":memory:")
      : clock(kStart),
        alerts(clock, {}, MemoryAlertStore()),
        options_(std::move(options)),
        store_path_(std::move(store_path)) {
    Restart();
  }
  ~Fixture() {
    if (notifier) alerts.RemoveListener(notifier.get());
  }

  static NotifyOptions DefaultOptions() {
    NotifyOptions o;
    o.policy = TestPolicy();
    o.start_threads = false;
    o.retry = {.max_attempts = 3, .initial_backoff_ns = 1 * kS, .max_backoff_ns = 60 * kS};
    o.rate_limit = {.per_second = 0};  // off unless a test sets it
    return o;
  }

  // A new Notifier over the same store (a restart of the notify side).
  void Restart() {
    if (notifier) {
      alerts.RemoveListener(notifier.get());
      notifier.reset();
    }
    auto store = OpenNotificationStore(store_path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    notifier = std::make_unique<Notifier>(
        clock, options_, std::move(store).value(),
        [this] { return std::make_unique<RecordingSender>(log); },
        [this](std::uint64_t id) { return alerts.Current(id); }, metrics);
    ASSERT_TRUE(notifier->Start().ok());
    alerts.AddListener(notifier.get());
  }

  void Pump() {
    notifier->Step();
    notifier->DeliverDue();
  }
  void Wait(std::int64_t ns) {
    clock.Advance(ns);
    Pump();
  }

  std::uint64_t OpenCritical(std::string_view sensor = "s1") {
    alerts.OnThresholdTransition({sensor, "site-1", "zone-1", ParameterId::kFreeChlorineMgL,
                                  Level::kNormal, Level::kCriticalLow, 0.05, 0.2, clock.NowNs(),
                                  clock.NowNs()});
    return alerts.List(AlertManager::Filter::kOpen, 1, sensor).at(0).id;
  }
  std::uint64_t OpenLowFault(std::string_view sensor = "s9") {
    alerts.OnDetectorTransition({sensor, "site-1", "zone-1", "sensor_fault", true, "flat_line",
                                 "turbidity_ntu", "flat for 2h", AlertPriority::kLow, clock.NowNs(),
                                 clock.NowNs()});
    return alerts.List(AlertManager::Filter::kOpen, 1, sensor).at(0).id;
  }

  std::vector<std::string> SentTo() const {
    std::vector<std::string> out;
    for (const Sent& s : log.sent) {
      out.push_back(s.receiver + "/" + std::string(ChannelName(s.channel)) +
                    (s.resolved ? "/resolved" : "") + (s.repeat ? "/repeat" : ""));
    }
    return out;
  }

  std::vector<NotificationRecord> Records(std::vector<NotificationState> states = {}) {
    NotificationQuery q;
    q.states = std::move(states);
    q.limit = 1000;
    auto got = notifier->Query(q);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::vector<NotificationRecord>{};
  }

  testing::ManualClock clock;
  MetricsRegistry metrics;
  AlertManager alerts;
  SendLog log;
  std::unique_ptr<Notifier> notifier;

 private:
  NotifyOptions options_;
  std::string store_path_;
};

using V = std::vector<std::string>;

TEST(Notifier, HighAlertTellsTheFirstStageAtOnce) {
  Fixture f;
  std::uint64_t id = f.OpenCritical();
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"operator/sms", "operator/email"}));
  for (const Sent& s : f.log.sent) EXPECT_EQ(s.alert_id, id);
  auto records = f.Records({NotificationState::kDelivered});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].attempts, 1u);
  EXPECT_EQ(records[0].policy, "contamination");
  auto attempts = f.notifier->Attempts(records[0].id);
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_TRUE((*attempts)[0].ok);
  EXPECT_EQ((*attempts)[0].status, 200);
}

TEST(Notifier, EscalatesAndRepeatsUntilAcknowledged) {
  Fixture f;
  std::uint64_t id = f.OpenCritical();
  f.Pump();
  f.log.sent.clear();
  f.Wait(5 * kMin);  // repeat 1 to the operator
  EXPECT_EQ(f.SentTo(), (V{"operator/sms/repeat", "operator/email/repeat"}));
  f.log.sent.clear();
  f.Wait(5 * kMin);  // repeat 2
  f.log.sent.clear();
  f.Wait(5 * kMin);  // 15 min unacknowledged: the supervisor is paged
  EXPECT_EQ(f.SentTo(), (V{"supervisor/pagerduty"}));
  f.log.sent.clear();
  f.Wait(5 * kMin);  // now both stages are repeated
  EXPECT_EQ(f.SentTo(),
            (V{"operator/sms/repeat", "operator/email/repeat", "supervisor/pagerduty/repeat"}));
  f.log.sent.clear();

  ASSERT_TRUE(f.alerts.Acknowledge(id, "alice", "on my way").ok());
  f.Wait(30 * kMin);
  EXPECT_TRUE(f.log.sent.empty()) << "an acknowledged alert pages nobody";
}

TEST(Notifier, AcknowledgedInTimeTheSupervisorIsNeverPaged) {
  Fixture f;
  std::uint64_t id = f.OpenCritical();
  f.Pump();
  f.Wait(2 * kMin);
  ASSERT_TRUE(f.alerts.Acknowledge(id, "alice", "").ok());
  f.log.sent.clear();
  f.Wait(60 * kMin);
  EXPECT_TRUE(f.log.sent.empty());
}

TEST(Notifier, ResolutionIsToldToEveryoneTold) {
  Fixture f;
  std::uint64_t id = f.OpenCritical();
  f.Pump();
  f.Wait(15 * kMin);
  f.log.sent.clear();
  ASSERT_TRUE(f.alerts.Resolve(id, "alice", "flushed").ok());
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"operator/sms/resolved", "operator/email/resolved",
                           "supervisor/pagerduty/resolved"}));
  f.log.sent.clear();
  f.Wait(60 * kMin);
  EXPECT_TRUE(f.log.sent.empty());
}

TEST(Notifier, RoutesPickThePolicyAndSendResolvedCanBeOff) {
  Fixture f;
  // A warning (medium) goes to the routine policy, which does not send resolutions.
  f.alerts.OnThresholdTransition({"s2", "site-1", "zone-1", ParameterId::kFreeChlorineMgL,
                                  Level::kNormal, Level::kWarnLow, 0.15, 0.2, kStart, kStart});
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"log/webhook"}));
  std::uint64_t id = f.alerts.List(AlertManager::Filter::kOpen, 1, "s2").at(0).id;
  f.log.sent.clear();
  ASSERT_TRUE(f.alerts.Resolve(id, "alice", "").ok());
  f.Wait(kS);
  EXPECT_TRUE(f.log.sent.empty());
}

TEST(Notifier, RetriesWithBackoffThenDeadLetterThenRetryByHand) {
  Fixture f;
  f.log.script = {{.ok = false, .retryable = true, .status = 503, .detail = "HTTP 503: busy"},
                  {.ok = false, .retryable = true, .status = 503, .detail = "HTTP 503: busy"},
                  {.ok = false, .retryable = true, .status = 503, .detail = "HTTP 503: busy"}};
  // One target only: a warning goes to the webhook.
  f.alerts.OnThresholdTransition({"s2", "site-1", "zone-1", ParameterId::kFreeChlorineMgL,
                                  Level::kNormal, Level::kWarnLow, 0.15, 0.2, kStart, kStart});
  f.Pump();
  ASSERT_EQ(f.log.sent.size(), 1u);
  f.Wait(kS / 2);
  EXPECT_EQ(f.log.sent.size(), 1u) << "the first backoff is 1 s";
  f.Wait(kS / 2);
  EXPECT_EQ(f.log.sent.size(), 2u);
  f.Wait(kS);
  EXPECT_EQ(f.log.sent.size(), 2u) << "then 2 s";
  f.Wait(kS);
  EXPECT_EQ(f.log.sent.size(), 3u);
  auto failed = f.Records({NotificationState::kFailed});
  ASSERT_EQ(failed.size(), 1u) << "after max_attempts it is a dead letter";
  EXPECT_EQ(failed[0].attempts, 3u);
  EXPECT_EQ(failed[0].last_error, "HTTP 503: busy");
  auto attempts = f.notifier->Attempts(failed[0].id);
  ASSERT_TRUE(attempts.ok());
  EXPECT_EQ(attempts->size(), 3u);
  EXPECT_EQ(f.notifier->PendingCount(), 0u);

  // Retried by hand once the endpoint is back (the script is empty: it succeeds).
  auto retried = f.notifier->Retry(failed[0].id);
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  EXPECT_EQ(f.notifier->Retry(failed[0].id).status().code(), StatusCode::kConflict);
  f.Pump();
  auto done = f.notifier->Get(failed[0].id);
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_EQ((*done)->state, NotificationState::kDelivered);
  EXPECT_EQ((*done)->attempts, 4u);
  EXPECT_EQ(f.notifier->Retry(failed[0].id).status().code(), StatusCode::kConflict);
  EXPECT_EQ(f.notifier->Retry(999).status().code(), StatusCode::kNotFound);
}

TEST(Notifier, PermanentFailureIsADeadLetterAtOnce) {
  Fixture f;
  f.log.script = {{.ok = false, .retryable = false, .status = 400, .detail = "HTTP 400: bad"}};
  f.alerts.OnThresholdTransition({"s2", "site-1", "zone-1", ParameterId::kFreeChlorineMgL,
                                  Level::kNormal, Level::kWarnLow, 0.15, 0.2, kStart, kStart});
  f.Pump();
  f.Wait(10 * kMin);
  EXPECT_EQ(f.log.sent.size(), 1u);
  auto failed = f.Records({NotificationState::kFailed});
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].attempts, 1u);
}

TEST(Notifier, RateLimitHoldsBackAndDropsNothing) {
  NotifyOptions o = Fixture::DefaultOptions();
  o.rate_limit = {.per_second = 1, .burst = 1};
  Fixture f(o);
  for (int i = 0; i < 3; ++i) {
    f.alerts.OnThresholdTransition({"w" + std::to_string(i), "site-1", "zone-1",
                                    ParameterId::kFreeChlorineMgL, Level::kNormal, Level::kWarnLow,
                                    0.15, 0.2, kStart, kStart});
  }
  f.Pump();
  EXPECT_EQ(f.log.sent.size(), 1u);
  auto held = f.Records({NotificationState::kPending});
  EXPECT_EQ(held.size(), 2u);
  f.Wait(kS + 1);
  EXPECT_EQ(f.log.sent.size(), 2u);
  f.Wait(kS + 1);
  EXPECT_EQ(f.log.sent.size(), 3u);
  EXPECT_EQ(f.Records({NotificationState::kDelivered}).size(), 3u);
}

TEST(Notifier, QuietHoursHoldLowPriorityUntilMorning) {
  Fixture f;
  f.clock.Set(kStart + 15 * 60 * kMin);  // 23:00 UTC
  f.OpenLowFault();
  f.Pump();
  EXPECT_TRUE(f.log.sent.empty());
  auto held = f.Records({NotificationState::kPending});
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].held_by, "quiet_hours");
  EXPECT_EQ(held[0].next_attempt_at_ns, kStart + 23 * 60 * kMin);  // 07:00 next day
  // A contamination alert at night is told at once.
  std::uint64_t critical = f.OpenCritical();
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"operator/sms", "operator/email"}));
  ASSERT_TRUE(f.alerts.Acknowledge(critical, "night shift", "").ok());
  f.log.sent.clear();
  f.clock.Set(kStart + 23 * 60 * kMin);
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"log/webhook"}));
}

TEST(Notifier, ASilencedAlertIsPagedOnlyOnceTheSilenceEnds) {
  Fixture f;
  Silence s;
  s.sensor = "s1";
  s.ends_at_ns = kStart + 60 * kMin;
  s.created_by = "alice";
  s.comment = "calibration";
  ASSERT_TRUE(f.alerts.CreateSilence(s).ok());
  f.OpenCritical("s1");
  f.Pump();
  f.Wait(30 * kMin);
  EXPECT_TRUE(f.log.sent.empty());
  f.Wait(30 * kMin + kS);
  // Every stage whose delay has passed is told when the silence ends.
  EXPECT_EQ(f.SentTo(), (V{"operator/sms", "operator/email", "supervisor/pagerduty"}));
}

TEST(Notifier, TheHighLaneGoesFirst) {
  NotifyOptions o = Fixture::DefaultOptions();
  Fixture f(o);
  f.clock.Set(kStart);
  f.alerts.OnThresholdTransition({"w1", "site-1", "zone-1", ParameterId::kFreeChlorineMgL,
                                  Level::kNormal, Level::kWarnLow, 0.15, 0.2, kStart, kStart});
  f.OpenCritical("c1");
  f.notifier->Step();
  f.notifier->DeliverDue();
  EXPECT_EQ(f.SentTo(), (V{"operator/sms", "operator/email", "log/webhook"}));
}

TEST(Notifier, PagesAndPendingNotificationsSurviveARestart) {
  testing::TempDir dir;
  NotifyOptions o = Fixture::DefaultOptions();
  Fixture f(o, dir.path() + "/notifications.db");
  std::uint64_t id = f.OpenCritical();
  f.Pump();
  ASSERT_EQ(f.log.sent.size(), 2u);
  // A low fault at night waits for the morning; then the notify side restarts.
  f.clock.Set(kStart + 15 * 60 * kMin);
  ASSERT_TRUE(f.alerts.Acknowledge(id, "alice", "").ok());
  f.Pump();
  std::uint64_t critical2 = f.OpenCritical("s5");
  f.Pump();
  f.OpenLowFault();
  f.Pump();
  f.log.sent.clear();
  f.Restart();
  f.Pump();
  EXPECT_TRUE(f.log.sent.empty()) << "nothing is told twice after a restart";
  f.Wait(15 * kMin);  // s5 unacknowledged for 15 min: its page resumed
  // A step that reaches a new stage tells the stage, not a repeat as well.
  EXPECT_EQ(f.SentTo(), (V{"supervisor/pagerduty"}));
  ASSERT_TRUE(f.alerts.Acknowledge(critical2, "bob", "").ok());
  f.log.sent.clear();
  f.clock.Set(kStart + 23 * 60 * kMin);
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"log/webhook"})) << "the held low fault is still sent in the morning";
}

TEST(NotifyPolicy, ErrorsNameThePlace) {
  auto bad = [](std::string_view text) {
    auto p = ParseNotifyPolicyText(text);
    EXPECT_FALSE(p.ok()) << text;
    return p.ok() ? std::string() : p.status().message();
  };
  EXPECT_EQ(bad(R"({"routes": [{"policy": "night"}]})"),
            "routes[0].policy: no policy named \"night\"");
  EXPECT_EQ(bad(R"({"receivers": [{"name": "a", "targets": [{"channel": "sms"}]}]})"),
            "receivers[0].targets[0].to: required for sms");
  EXPECT_EQ(bad(R"({"receivers": [{"name": "a", "targets": [{"channel": "fax", "to": "1"}]}]})"),
            "receivers[0].targets[0].channel: \"fax\" is not webhook, slack, pagerduty, sms, email "
            "or alertmanager");
  EXPECT_EQ(
      bad(R"({"policies": [{"name": "p", "stages": [{"after": "0s", "receivers": ["x"]}]}]})"),
      "policies[0].stages[0].receivers[0]: no receiver named \"x\"");
  EXPECT_EQ(bad(R"({"quiet_hours": {"hours": "22:00-7:00"}})"),
            "quiet_hours.hours: \"22:00-7:00\" is not a range like 22:00-07:00");
  EXPECT_EQ(bad(R"({"quiet_hours": {"hours": "22:00-07:00", "priority": ["high"]}})"),
            "quiet_hours.priority: high-priority alerts are never held back");
  EXPECT_EQ(bad(R"({"rutes": []})"), "rutes: unknown field");
  EXPECT_EQ(bad(R"({"receivers": [{"name": "a", "targets": [{"channel": "webhook",
            "url": "ftp://x"}]}]})"),
            "receivers[0].targets[0].url: must start with http:// or https://");
  EXPECT_EQ(bad(R"({"receivers": [{"name": "a", "targets": [{"channel": "email", "to": "x"}]}],
                   "policies": [{"name": "p", "stages": [{"after": "5m", "receivers": ["a"]},
                                                          {"after": "1m", "receivers": ["a"]}]}]})"),
            "policies[0].stages[1].after: must be later than the stage before");
  EXPECT_EQ(bad("{"), "policy: not valid JSON: incomplete JSON");
}

TEST(NotifyPolicy, RoundTripsAndMatchesTimeOfDay) {
  NotifyPolicy p = TestPolicy();
  auto again = ParseNotifyPolicyText(NotifyPolicyJson(p));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(NotifyPolicyJson(*again), NotifyPolicyJson(p));
  auto night = ParseNotifyPolicyText(R"({
    "utc_offset": "+02:00",
    "receivers": [{"name": "a", "targets": [{"channel": "email", "to": "a@x"}]}],
    "policies": [{"name": "day", "stages": [{"receivers": ["a"]}]},
                 {"name": "night", "stages": [{"receivers": ["a"]}]}],
    "routes": [{"match": {"hours": "08:00-20:00"}, "policy": "day"}, {"policy": "night"}]})");
  ASSERT_TRUE(night.ok()) << night.status().ToString();
  Alert a;
  // 07:00 UTC is 09:00 at +02:00: daytime.
  EXPECT_EQ(night->PoliciesFor(a, night->LocalMinute(kStart - kS * 3600))[0]->name, "day");
  EXPECT_EQ(night->PoliciesFor(a, night->LocalMinute(kStart + 12 * 3600 * kS))[0]->name, "night");
}

TEST(Notifier, PolicySetOverTheApiSurvivesARestartAndResets) {
  testing::TempDir dir;
  Fixture f(Fixture::DefaultOptions(), dir.path() + "/notifications.db");
  auto only_log = ParseNotifyPolicyText(R"({
    "receivers": [{"name": "log", "targets": [{"channel": "webhook", "url": "http://x/y"}]}],
    "policies": [{"name": "all", "stages": [{"receivers": ["log"]}]}],
    "routes": [{"policy": "all"}]})");
  ASSERT_TRUE(only_log.ok());
  ASSERT_TRUE(f.notifier->SetPolicy(*only_log, "alice").ok());
  f.Restart();
  EXPECT_TRUE(f.notifier->policy_from_api());
  f.OpenCritical();
  f.Pump();
  EXPECT_EQ(f.SentTo(), (V{"log/webhook"}));
  ASSERT_TRUE(f.notifier->ResetPolicy("alice").ok());
  f.Restart();
  EXPECT_FALSE(f.notifier->policy_from_api());
  EXPECT_EQ(f.notifier->policy().routes.size(), 2u);
}

}  // namespace
}  // namespace aquawatch
