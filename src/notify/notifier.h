// Notifier: tells people of alerts, by the NotifyPolicy (docs/notifications.md).
//
// It listens to the AlertManager. When an alert opens (or reopens, or its priority changes), the
// routes pick its escalation policies and the Notifier pages it: each stage's receivers are told
// once the alert has gone unacknowledged for the stage's delay, and every stage reached is told
// again each `repeat_every` until someone acknowledges or the alert resolves; then the pages end
// and, if the policy says so, everyone told hears of the resolution. A silenced or inhibited
// alert is not paged while it is suppressed. Quiet hours hold low-priority notifications back.
//
// Each notification is stored before it is sent and delivered by a worker of its lane: one
// thread for high-priority alerts, one for the rest, so a slow mail server never delays a
// contamination page. An attempt that fails is retried with exponential backoff up to
// max_attempts; a notification that cannot be delivered ends as failed, in the dead-letter list
// (GET /api/v1/notifications?state=failed), and can be retried by hand. Each channel has a
// token-bucket rate limit; a notification over it waits, it is never dropped. Every attempt is
// recorded. Delivery is at least once: a crash between sending and recording sends again.
//
// Thread-safety: every method may be called from any thread. OnAlertEvent only queues (the
// AlertManager calls it with its lock held); the Notifier never calls the alert lookup with its
// own lock held.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alert/alert_manager.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "notify/alert_bus.h"
#include "notify/notification_store.h"
#include "notify/notify_policy.h"

namespace aquawatch {

struct RetryOptions {
  std::uint32_t max_attempts = 8;
  std::int64_t initial_backoff_ns = 1 * kNsPerSecond;  // doubled after each failure
  std::int64_t max_backoff_ns = 300 * kNsPerSecond;
};

// A token bucket per channel: `per_second` on average, bursts of `burst`.
struct RateLimit {
  double per_second = 5;
  double burst = 50;
};

struct NotifyOptions {
  ChannelSettings channels;
  NotifyPolicy policy;  // the config's; one set over the API replaces it until reset
  RetryOptions retry;
  RateLimit rate_limit;
  bool start_threads = true;  // false: tests drive Step and DeliverDue themselves
};

// The alert as it is now (suppression included), or nullopt when it is unknown.
using AlertLookup = std::function<std::optional<Alert>(std::uint64_t alert_id)>;
// Makes one sender per delivery worker.
using SenderFactory = std::function<std::unique_ptr<ChannelSender>()>;

class Notifier final : public AlertListener, public AlertEventSink {
 public:
  // REQUIRES: `clock` and `metrics` outlive the notifier.
  Notifier(Clock& clock, NotifyOptions options, std::unique_ptr<NotificationStore> store,
           SenderFactory senders, AlertLookup lookup, MetricsRegistry& metrics);
  ~Notifier() override;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Reads the stored policy (if one was set over the API), the pages and the pending
  // notifications, then starts the threads (unless options.start_threads is false).
  Status Start();

  void OnAlertEvent(const AlertEvent& event) override;
  // From the alert bus: applies the event and stores what it decided before it returns, so the
  // bus acknowledges the message only once nothing can be lost (OK), or hands it back.
  Status Take(const AlertEvent& event) override;
  // After a restart: pages every unacknowledged alert of `unresolved` that has no page, in case
  // its opening was never heard (a crash between the alert's commit and the notifier's).
  void Reconcile(const std::vector<Alert>& unresolved);

  // One round of the scheduler: applies the queued alert events and tells the stages and
  // repeats that are due. The scheduler thread calls it; tests call it by hand.
  void Step();
  // Delivers, on the calling thread, every notification due now (tests, with threads off).
  void DeliverDue();

  Result<std::vector<NotificationRecord>> Query(const NotificationQuery& q) const;
  Result<std::optional<NotificationRecord>> Get(std::uint64_t id) const;
  Result<std::vector<NotificationAttempt>> Attempts(std::uint64_t id) const;
  // Sends a failed or cancelled notification again (its attempts so far are kept). NotFound;
  // Conflict when it is pending or delivered.
  Result<NotificationRecord> Retry(std::uint64_t id);

  NotifyPolicy policy() const;
  bool policy_from_api() const;
  // Replaces the policy (stored first); pages under way keep their stage and count their delays
  // by the new policy from the next step. `by` is who set it.
  Status SetPolicy(NotifyPolicy policy, std::string_view by);
  // Back to the config's policy.
  Status ResetPolicy(std::string_view by);

  std::size_t PendingCount() const;

 private:
  enum Lane { kHighLane = 0, kNormalLane = 1, kLaneCount = 2 };
  struct Queued {
    NotificationRecord record;
    bool in_flight = false;
  };
  struct PageState {
    Page page;
    std::int64_t recheck_at_ns = 0;  // suppressed: look again then
  };

  static Lane LaneOf(const NotificationRecord& r);
  // All REQUIRE mu_ held.
  void ApplyEvent(const AlertEvent& e, std::int64_t now, NotifyChanges& changes);
  void StartPages(const Alert& a, std::int64_t now, NotifyChanges& changes);
  void EndPages(const Alert& a, std::int64_t now, std::string_view why, NotifyChanges& changes);
  // Tells the stages and repeats of `ps` that are due; false when the page has ended.
  bool Advance(PageState& ps, const Alert& a, std::int64_t now, NotifyChanges& changes);
  void Notify(const Alert& a, const EscalationPolicy& policy, std::uint32_t stage,
              std::uint32_t repeat, bool resolved, const std::vector<std::string>& receivers,
              std::int64_t now, NotifyChanges& changes);
  std::int64_t DueAt(const PageState& ps) const;
  void Enqueue(NotificationRecord r);
  Status Commit(NotifyChanges& changes);
  // Tokens for one send on `channel` now, or the time one will be there.
  std::int64_t TakeToken(ChannelKind channel, std::int64_t now);

  // Delivery: picks the next due notification of `lane` (nullopt when none is due now; *wait_ns
  // says how long until one is).
  std::optional<NotificationRecord> PickDue(Lane lane, std::int64_t now, std::int64_t* wait_ns);
  void Deliver(NotificationRecord r, ChannelSender& sender);
  void SchedulerLoop();
  void WorkerLoop(Lane lane);

  Clock& clock_;
  const NotifyOptions options_;
  const std::unique_ptr<NotificationStore> store_;
  const SenderFactory senders_;
  const AlertLookup lookup_;

  mutable std::mutex mu_;
  NotifyPolicy policy_;  // in force
  bool policy_from_api_ = false;
  std::vector<AlertEvent> inbox_;
  std::map<std::uint64_t, std::vector<PageState>> pages_;       // by alert id
  std::map<std::uint64_t, Queued> queued_;                      // pending notifications, by id
  std::multimap<std::int64_t, std::uint64_t> due_[kLaneCount];  // next attempt -> id
  std::uint64_t next_id_ = 1;
  struct Bucket {
    double tokens = 0;
    std::int64_t refilled_at_ns = 0;
  };
  Bucket buckets_[kChannelCount];
  bool stop_ = false;
  std::condition_variable wake_scheduler_, wake_workers_[kLaneCount];
  std::unique_ptr<ChannelSender> test_sender_;  // DeliverDue's, made on first use

  // Metrics.
  Counter* delivered_[kChannelCount];
  Counter* failed_[kChannelCount];
  Counter* retried_[kChannelCount];
  Counter& cancelled_;
  Counter& store_failures_;
  Histogram* latency_[kChannelCount][3];  // by channel and alert priority
  Histogram* attempt_seconds_[kChannelCount];

  std::vector<std::thread> threads_;
};

}  // namespace aquawatch
