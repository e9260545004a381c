#include "notify/notifier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>

namespace aquawatch {
namespace {

constexpr std::int64_t kNsPerMinute = 60 * kNsPerSecond;
// The scheduler looks at its pages at least this often (stage delays are seconds or more).
constexpr std::chrono::milliseconds kSchedulerPeriod{200};
// A suppressed page is looked at again after this long (a silence may have ended).
constexpr std::int64_t kSuppressedRecheckNs = 1 * kNsPerSecond;

std::string Labels(ChannelKind c) { return fmt::format("channel=\"{}\"", ChannelName(c)); }

// Nanoseconds from local minute `minute` (at `now`) to the end of `r`.
std::int64_t UntilEndOf(const TimeOfDayRange& r, int minute, std::int64_t now) {
  int minutes = (r.to_min - minute + 24 * 60) % (24 * 60);
  if (minutes == 0) minutes = 24 * 60;
  // To the start of the local minute the range ends at.
  return minutes * kNsPerMinute - now % kNsPerMinute;
}

}  // namespace

Notifier::Notifier(Clock& clock, NotifyOptions options, std::unique_ptr<NotificationStore> store,
                   SenderFactory senders, AlertLookup lookup, MetricsRegistry& metrics)
    : clock_(clock),
      options_(std::move(options)),
      store_(std::move(store)),
      senders_(std::move(senders)),
      lookup_(std::move(lookup)),
      policy_(options_.policy),
      cancelled_(metrics.AddCounter("aquawatch_notifications_cancelled_total",
                                    "Notifications not sent because their alert was acknowledged "
                                    "or resolved first")),
      store_failures_(metrics.AddCounter("aquawatch_notification_store_failures_total",
                                         "Failed writes to notifications.db")) {
  for (int c = 0; c < kChannelCount; ++c) {
    const auto channel = static_cast<ChannelKind>(c);
    delivered_[c] = &metrics.AddCounter("aquawatch_notifications_delivered_total",
                                        "Notifications delivered", Labels(channel));
    failed_[c] = &metrics.AddCounter("aquawatch_notifications_failed_total",
                                     "Notifications given up on (in the dead-letter list, GET "
                                     "/api/v1/notifications?state=failed)",
                                     Labels(channel));
    retried_[c] = &metrics.AddCounter("aquawatch_notification_retries_total",
                                      "Failed attempts that will be tried again", Labels(channel));
    attempt_seconds_[c] = &metrics.AddHistogram("aquawatch_notification_attempt_seconds",
                                                "Time one delivery attempt took", Labels(channel),
                                                ExponentialBuckets(0.0001, 2, 18));
    for (int p = 0; p < 3; ++p) {
      latency_[c][p] = &metrics.AddHistogram(
          "aquawatch_notification_latency_seconds",
          "From the arrival of the reading that caused an alert to its notification's delivery",
          fmt::format("channel=\"{}\",priority=\"{}\"", ChannelName(channel),
                      PriorityName(static_cast<AlertPriority>(p))),
          ExponentialBuckets(0.0001, 2, 20));
    }
    buckets_[c].tokens = options_.rate_limit.burst;
  }
  metrics.AddCallbackGauge("aquawatch_notifications_pending",
                           "Notifications waiting to be delivered (due, held or backing off)", "",
                           [this] { return static_cast<double>(PendingCount()); });
}

Notifier::~Notifier() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_scheduler_.notify_all();
  for (auto& cv : wake_workers_) cv.notify_all();
  for (auto& t : threads_) t.join();
}

Status Notifier::Start() {
  auto stored_policy = store_->LoadPolicy();
  if (!stored_policy.ok()) return stored_policy.status();
  auto pages = store_->LoadPages();
  if (!pages.ok()) return pages.status();
  auto pending = store_->LoadPending();
  if (!pending.ok()) return pending.status();
  auto max_id = store_->MaxId();
  if (!max_id.ok()) return max_id.status();
  {
    std::lock_guard lock(mu_);
    if (*stored_policy) {
      auto parsed = ParseNotifyPolicyText(**stored_policy);
      if (!parsed.ok()) {
        return Status::Corruption(
            "notifications.db: the policy set over the API no longer reads: " +
            parsed.status().message());
      }
      policy_ = std::move(parsed).value();
      policy_from_api_ = true;
    }
    for (Page& p : *pages) pages_[p.alert_id].push_back(PageState{.page = std::move(p)});
    for (NotificationRecord& r : *pending) Enqueue(std::move(r));
    next_id_ = *max_id + 1;
  }
  if (policy_from_api_) {
    spdlog::info(
        "notify: using the policy set over the API ({} routes); DELETE "
        "/api/v1/notify/policy returns to the config's",
        policy_.routes.size());
  }
  if (!pages->empty() || !pending->empty()) {
    spdlog::info("notify: resumed {} pages and {} pending notifications", pages->size(),
                 pending->size());
  }
  if (options_.start_threads) {
    threads_.emplace_back([this] { SchedulerLoop(); });
    threads_.emplace_back([this] { WorkerLoop(kHighLane); });
    threads_.emplace_back([this] { WorkerLoop(kNormalLane); });
  }
  return Status::Ok();
}

void Notifier::OnAlertEvent(const AlertEvent& event) {
  switch (event.type) {
    case AlertEvent::Type::kCommented:
      return;  // nothing to tell
    default:
      break;
  }
  {
    std::lock_guard lock(mu_);
    inbox_.push_back(event);
  }
  wake_scheduler_.notify_one();
}

Notifier::Lane Notifier::LaneOf(const NotificationRecord& r) {
  return r.priority == AlertPriority::kHigh && !r.resolved ? kHighLane : kNormalLane;
}

void Notifier::Step() {
  const std::int64_t now = clock_.NowNs();
  NotifyChanges changes;
  std::vector<std::uint64_t> due;
  {
    std::lock_guard lock(mu_);
    std::vector<AlertEvent> events;
    events.swap(inbox_);
    for (const AlertEvent& e : events) ApplyEvent(e, now, changes);
    for (const auto& [alert_id, states] : pages_) {
      for (const PageState& ps : states) {
        if (DueAt(ps) <= now) {
          due.push_back(alert_id);
          break;
        }
      }
    }
    (void)Commit(changes);  // logged and counted; sending goes on
  }
  if (due.empty()) return;
  // The alerts as they are now, looked up without our lock (the lookup takes the manager's).
  std::vector<std::pair<std::uint64_t, std::optional<Alert>>> current;
  current.reserve(due.size());
  for (std::uint64_t id : due) current.emplace_back(id, lookup_(id));
  std::lock_guard lock(mu_);
  for (auto& [id, alert] : current) {
    auto it = pages_.find(id);
    if (it == pages_.end()) continue;  // ended meanwhile
    if (!alert || alert->resolved() || alert->state == AlertState::kAcknowledged) {
      // An event ends these pages too; this covers alerts that are gone or were acted on while
      // we were down.
      changes.ended_pages.push_back(id);
      pages_.erase(it);
      continue;
    }
    std::vector<PageState>& states = it->second;
    const std::size_t before = states.size();
    std::erase_if(states, [&](PageState& ps) {
      return DueAt(ps) <= now && !Advance(ps, *alert, now, changes);
    });
    if (states.size() != before) {
      // Store the pages that are left, without the ended ones.
      changes.ended_pages.push_back(id);
      for (const PageState& ps : states) changes.pages.push_back(ps.page);
    }
    if (states.empty()) pages_.erase(it);
  }
  (void)Commit(changes);  // logged and counted; sending goes on
}

void Notifier::ApplyEvent(const AlertEvent& e, std::int64_t now, NotifyChanges& changes) {
  const Alert& a = e.alert;
  switch (e.type) {
    case AlertEvent::Type::kOpened:
      StartPages(a, now, changes);
      break;
    case AlertEvent::Type::kReopened:
      // A new episode: the stages start over.
      if (pages_.erase(a.id) > 0) changes.ended_pages.push_back(a.id);
      StartPages(a, now, changes);
      break;
    case AlertEvent::Type::kUpdated:
      // A priority change may route it elsewhere, and clears an acknowledgement.
      if (!a.resolved() && a.state != AlertState::kAcknowledged) StartPages(a, now, changes);
      break;
    case AlertEvent::Type::kAcknowledged:
      EndPages(a, now, "alert acknowledged", changes);
      break;
    case AlertEvent::Type::kResolved:
      EndPages(a, now, "alert resolved", changes);
      break;
    case AlertEvent::Type::kCommented:
      break;
  }
}

// Makes the pages match the routes: a page for each policy the routes pick (kept if it is
// already under way), none for the others.
void Notifier::StartPages(const Alert& a, std::int64_t now, NotifyChanges& changes) {
  std::vector<const EscalationPolicy*> routed = policy_.PoliciesFor(a, policy_.LocalMinute(now));
  std::vector<PageState>& states = pages_[a.id];
  std::vector<PageState> kept;
  for (const EscalationPolicy* p : routed) {
    auto it = std::find_if(states.begin(), states.end(),
                           [&](const PageState& ps) { return ps.page.policy == p->name; });
    if (it != states.end()) {
      kept.push_back(std::move(*it));
    } else {
      kept.push_back(
          PageState{.page = {.alert_id = a.id, .policy = p->name, .started_at_ns = now}});
    }
  }
  const bool changed =
      kept.size() != states.size() || !std::equal(kept.begin(), kept.end(), states.begin(),
                                                  [](const PageState& x, const PageState& y) {
                                                    return x.page.policy == y.page.policy;
                                                  });
  states = std::move(kept);
  if (states.empty()) pages_.erase(a.id);
  if (!changed) return;
  changes.ended_pages.push_back(a.id);
  for (PageState& ps : pages_[a.id]) {
    // The first stage is usually due at once: tell it now, not a scheduler round later.
    if (DueAt(ps) <= now) {
      Advance(ps, a, now, changes);  // its policy exists: the routes just picked it
    } else {
      changes.pages.push_back(ps.page);
    }
  }
  if (pages_[a.id].empty()) pages_.erase(a.id);
}

void Notifier::EndPages(const Alert& a, std::int64_t now, std::string_view why,
                        NotifyChanges& changes) {
  auto it = pages_.find(a.id);
  if (it != pages_.end()) {
    for (const PageState& ps : it->second) {
      const EscalationPolicy* p = policy_.FindPolicy(ps.page.policy);
      if (a.resolved() && p != nullptr && p->send_resolved && ps.page.next_stage > 0) {
        std::vector<std::string> told;
        for (std::uint32_t s = 0; s < ps.page.next_stage && s < p->stages.size(); ++s) {
          for (const std::string& r : p->stages[s].receivers) {
            if (std::find(told.begin(), told.end(), r) == told.end()) told.push_back(r);
          }
        }
        Notify(a, *p, ps.page.next_stage - 1, 0, /*resolved=*/true, told, now, changes);
      }
    }
    pages_.erase(it);
    changes.ended_pages.push_back(a.id);
  }
  // What was due but not yet sent is moot now (a notification being sent is left to finish).
  for (auto q = queued_.begin(); q != queued_.end();) {
    NotificationRecord& r = q->second.record;
    if (r.alert_id != a.id || r.resolved || q->second.in_flight) {
      ++q;
      continue;
    }
    auto& due = due_[LaneOf(r)];
    for (auto d = due.lower_bound(r.next_attempt_at_ns); d != due.end(); ++d) {
      if (d->second == r.id) {
        due.erase(d);
        break;
      }
    }
    r.state = NotificationState::kCancelled;
    r.held_by = std::string(why);
    r.finished_at_ns = now;
    changes.records.push_back(r);
    cancelled_.Add();
    q = queued_.erase(q);
  }
}

std::int64_t Notifier::DueAt(const PageState& ps) const {
  if (ps.recheck_at_ns != 0) return ps.recheck_at_ns;
  const EscalationPolicy* p = policy_.FindPolicy(ps.page.policy);
  if (p == nullptr) return 0;  // its policy is gone: Advance ends it
  std::int64_t due = INT64_MAX;
  if (ps.page.next_stage < p->stages.size()) {
    due = ps.page.started_at_ns + p->stages[ps.page.next_stage].after_ns;
  }
  if (ps.page.next_repeat_at_ns != 0) due = std::min(due, ps.page.next_repeat_at_ns);
  return due;
}

bool Notifier::Advance(PageState& ps, const Alert& a, std::int64_t now, NotifyChanges& changes) {
  ps.recheck_at_ns = 0;
  // The policy was replaced by one without it: nothing more to tell on this page.
  const EscalationPolicy* p = policy_.FindPolicy(ps.page.policy);
  if (p == nullptr) return false;
  if (!a.suppressed_by.empty()) {
    ps.recheck_at_ns = now + kSuppressedRecheckNs;
    return true;
  }
  bool told = false;
  while (ps.page.next_stage < p->stages.size() &&
         ps.page.started_at_ns + p->stages[ps.page.next_stage].after_ns <= now) {
    Notify(a, *p, ps.page.next_stage, 0, false, p->stages[ps.page.next_stage].receivers, now,
           changes);
    ++ps.page.next_stage;
    told = true;
  }
  if (!told && ps.page.next_repeat_at_ns != 0 && ps.page.next_repeat_at_ns <= now) {
    ++ps.page.repeats;
    std::vector<std::string> reached;
    for (std::uint32_t s = 0; s < ps.page.next_stage; ++s) {
      for (const std::string& r : p->stages[s].receivers) {
        if (std::find(reached.begin(), reached.end(), r) == reached.end()) reached.push_back(r);
      }
    }
    Notify(a, *p, ps.page.next_stage - 1, ps.page.repeats, false, reached, now, changes);
    told = true;
  }
  if (told) {
    ps.page.next_repeat_at_ns = p->repeat_every_ns > 0 ? now + p->repeat_every_ns : 0;
  }
  changes.pages.push_back(ps.page);
  return true;
}

void Notifier::Notify(const Alert& a, const EscalationPolicy& policy, std::uint32_t stage,
                      std::uint32_t repeat, bool resolved,
                      const std::vector<std::string>& receivers, std::int64_t now,
                      NotifyChanges& changes) {
  const int minute = policy_.LocalMinute(now);
  const bool quiet = policy_.Quiet(a.priority, minute);
  for (const std::string& name : receivers) {
    const Receiver* receiver = policy_.FindReceiver(name);
    if (receiver == nullptr) continue;  // a policy never names an unknown receiver
    for (const Target& t : receiver->targets) {
      NotificationRecord r;
      r.id = next_id_++;
      r.alert_id = a.id;
      r.resolved = resolved;
      r.priority = a.priority;
      r.policy = policy.name;
      r.receiver = name;
      r.target = t;
      r.stage = stage;
      r.repeat = repeat;
      r.created_at_ns = now;
      r.next_attempt_at_ns = now;
      // Only a first notice caused by a reading measures reading → delivery.
      r.received_ns = (!resolved && repeat == 0 && stage == 0) ? a.received_ns : 0;
      if (quiet) {
        r.next_attempt_at_ns = now + UntilEndOf(*policy_.quiet_hours.hours, minute, now);
        r.held_by = "quiet_hours";
        r.received_ns = 0;
      }
      changes.records.push_back(r);
      Enqueue(std::move(r));
    }
  }
}

void Notifier::Enqueue(NotificationRecord r) {
  const Lane lane = LaneOf(r);
  due_[lane].emplace(r.next_attempt_at_ns, r.id);
  const std::uint64_t id = r.id;
  queued_[id] = Queued{.record = std::move(r)};
  wake_workers_[lane].notify_one();
}

Status Notifier::Commit(NotifyChanges& changes) {
  if (changes.empty()) return Status::Ok();
  // A failing store is logged and counted; the notifications are still sent from memory (a
  // page must not wait for a disk), and the record catches up with their next change.
  Status s = store_->Apply(changes);
  if (!s.ok()) {
    store_failures_.Add();
    spdlog::error("notify: {}", s.message());
  }
  changes = NotifyChanges();
  return s;
}

Status Notifier::Take(const AlertEvent& event) {
  if (event.type == AlertEvent::Type::kCommented) return Status::Ok();
  NotifyChanges changes;
  std::lock_guard lock(mu_);
  ApplyEvent(event, clock_.NowNs(), changes);
  return Commit(changes);
}

void Notifier::Reconcile(const std::vector<Alert>& unresolved) {
  NotifyChanges changes;
  std::size_t started = 0;
  std::lock_guard lock(mu_);
  const std::int64_t now = clock_.NowNs();
  for (const Alert& a : unresolved) {
    if (a.state != AlertState::kOpen || pages_.count(a.id) > 0) continue;
    StartPages(a, now, changes);
    started += pages_.count(a.id);
  }
  (void)Commit(changes);  // logged and counted; sending goes on
  if (started > 0) spdlog::info("notify: paging {} open alerts that had no page", started);
}

std::int64_t Notifier::TakeToken(ChannelKind channel, std::int64_t now) {
  Bucket& b = buckets_[static_cast<int>(channel)];
  const RateLimit& limit = options_.rate_limit;
  if (limit.per_second <= 0) return 0;
  if (b.refilled_at_ns != 0) {
    b.tokens = std::min(limit.burst, b.tokens + static_cast<double>(now - b.refilled_at_ns) / 1e9 *
                                                    limit.per_second);
  }
  b.refilled_at_ns = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return now + static_cast<std::int64_t>((1 - b.tokens) / limit.per_second * 1e9) + 1;
}

std::optional<NotificationRecord> Notifier::PickDue(Lane lane, std::int64_t now,
                                                    std::int64_t* wait_ns) {
  auto& due = due_[lane];
  while (!due.empty()) {
    auto first = due.begin();
    if (first->first > now) {
      *wait_ns = first->first - now;
      return std::nullopt;
    }
    const std::uint64_t id = first->second;
    due.erase(first);
    auto q = queued_.find(id);
    if (q == queued_.end()) continue;
    NotificationRecord& r = q->second.record;
    if (std::int64_t later = TakeToken(r.target.channel, now); later != 0) {
      r.next_attempt_at_ns = later;
      r.held_by = "rate_limit";
      due.emplace(later, id);
      continue;
    }
    q->second.in_flight = true;
    return r;
  }
  *wait_ns = std::chrono::nanoseconds(kSchedulerPeriod).count();
  return std::nullopt;
}

void Notifier::Deliver(NotificationRecord r, ChannelSender& sender) {
  std::optional<Alert> alert = lookup_(r.alert_id);
  const std::int64_t start_mono = clock_.MonotonicNs();
  const std::int64_t at = clock_.NowNs();
  AttemptResult result;
  if (!alert) {
    result = {.ok = false, .retryable = false, .detail = "the alert is no longer known"};
  } else {
    Delivery d{.notification_id = r.id,
               .alert = &*alert,
               .resolved = r.resolved,
               .stage = r.stage,
               .repeat = r.repeat,
               .receiver = r.receiver,
               .target = &r.target};
    result = sender.Send(d);
  }
  const std::int64_t took = clock_.MonotonicNs() - start_mono;
  const std::int64_t now = clock_.NowNs();
  const int c = static_cast<int>(r.target.channel);
  attempt_seconds_[c]->Observe(static_cast<double>(took) / 1e9);

  NotificationAttempt attempt{.notification_id = r.id,
                              .seq = r.attempts,
                              .at_ns = at,
                              .duration_ns = took,
                              .ok = result.ok,
                              .status = result.status,
                              .detail = result.detail};
  ++r.attempts;
  r.held_by.clear();
  bool requeue = false;
  if (result.ok) {
    r.state = NotificationState::kDelivered;
    r.finished_at_ns = now;
    r.last_error.clear();
    delivered_[c]->Add();
    if (r.received_ns > 0) {
      latency_[c][static_cast<int>(r.priority)]->Observe(static_cast<double>(now - r.received_ns) /
                                                         1e9);
    }
  } else if (!result.retryable || r.attempts >= options_.retry.max_attempts) {
    r.state = NotificationState::kFailed;
    r.finished_at_ns = now;
    r.last_error = result.detail;
    failed_[c]->Add();
    spdlog::warn("notify: notification {} of alert {} to {} ({}) failed after {} attempts: {}",
                 r.id, r.alert_id, r.receiver, r.target.Describe(), r.attempts, result.detail);
  } else {
    std::int64_t backoff = options_.retry.initial_backoff_ns;
    for (std::uint32_t i = 1; i < r.attempts && backoff < options_.retry.max_backoff_ns; ++i) {
      backoff *= 2;
    }
    r.next_attempt_at_ns = now + std::min(backoff, options_.retry.max_backoff_ns);
    r.held_by = "retry";
    r.last_error = result.detail;
    retried_[c]->Add();
    requeue = true;
  }
  std::lock_guard lock(mu_);
  if (Status s = store_->PutAttempt(attempt, r); !s.ok()) {
    store_failures_.Add();
    spdlog::error("notify: {}", s.message());
  }
  if (requeue) {
    queued_.erase(r.id);
    Enqueue(std::move(r));
  } else {
    queued_.erase(r.id);
  }
}

void Notifier::DeliverDue() {
  if (!test_sender_) test_sender_ = senders_();
  for (;;) {
    std::optional<NotificationRecord> r;
    {
      std::lock_guard lock(mu_);
      std::int64_t wait_ns = 0;
      const std::int64_t now = clock_.NowNs();
      r = PickDue(kHighLane, now, &wait_ns);
      if (!r) r = PickDue(kNormalLane, now, &wait_ns);
    }
    if (!r) return;
    Deliver(std::move(*r), *test_sender_);
  }
}

void Notifier::SchedulerLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Step();
    lock.lock();
    if (stop_) break;
    if (inbox_.empty()) wake_scheduler_.wait_for(lock, kSchedulerPeriod);
  }
}

void Notifier::WorkerLoop(Lane lane) {
  std::unique_ptr<ChannelSender> sender = senders_();
  std::unique_lock lock(mu_);
  while (!stop_) {
    std::int64_t wait_ns = 0;
    std::optional<NotificationRecord> r = PickDue(lane, clock_.NowNs(), &wait_ns);
    if (!r) {
      wake_workers_[lane].wait_for(lock, std::min(std::chrono::nanoseconds(wait_ns),
                                                  std::chrono::nanoseconds(kSchedulerPeriod)));
      continue;
    }
    lock.unlock();
    Deliver(std::move(*r), *sender);
    lock.lock();
  }
}

Result<std::vector<NotificationRecord>> Notifier::Query(const NotificationQuery& q) const {
  return store_->Query(q);
}

Result<std::optional<NotificationRecord>> Notifier::Get(std::uint64_t id) const {
  return store_->Get(id);
}

Result<std::vector<NotificationAttempt>> Notifier::Attempts(std::uint64_t id) const {
  return store_->Attempts(id);
}

Result<NotificationRecord> Notifier::Retry(std::uint64_t id) {
  std::lock_guard lock(mu_);
  if (queued_.count(id) > 0) {
    return Status::Conflict(fmt::format("notification {} is still pending", id));
  }
  auto got = store_->Get(id);
  if (!got.ok()) return got.status();
  if (!*got) return Status::NotFound(fmt::format("no notification with id {}", id));
  NotificationRecord r = std::move(**got);
  if (r.state != NotificationState::kFailed && r.state != NotificationState::kCancelled) {
    return Status::Conflict(
        fmt::format("notification {} is {}; only failed or cancelled ones "
                    "are retried",
                    id, NotificationStateName(r.state)));
  }
  r.state = NotificationState::kPending;
  r.finished_at_ns = 0;
  r.held_by = "retry";
  r.next_attempt_at_ns = clock_.NowNs();
  NotifyChanges changes;
  changes.records.push_back(r);
  if (Status s = store_->Apply(changes); !s.ok()) return s;
  Enqueue(r);
  return r;
}

NotifyPolicy Notifier::policy() const {
  std::lock_guard lock(mu_);
  return policy_;
}

bool Notifier::policy_from_api() const {
  std::lock_guard lock(mu_);
  return policy_from_api_;
}

Status Notifier::SetPolicy(NotifyPolicy policy, std::string_view by) {
  std::lock_guard lock(mu_);
  if (Status s = store_->SavePolicy(NotifyPolicyJson(policy), by, clock_.NowNs()); !s.ok()) {
    return s;
  }
  policy_ = std::move(policy);
  policy_from_api_ = true;
  spdlog::info("notify: {} set the notification policy ({} receivers, {} policies, {} routes)", by,
               policy_.receivers.size(), policy_.policies.size(), policy_.routes.size());
  return Status::Ok();
}

Status Notifier::ResetPolicy(std::string_view by) {
  std::lock_guard lock(mu_);
  if (Status s = store_->SavePolicy(std::nullopt, by, clock_.NowNs()); !s.ok()) return s;
  policy_ = options_.policy;
  policy_from_api_ = false;
  spdlog::info("notify: {} reset the notification policy to the config's", by);
  return Status::Ok();
}

std::size_t Notifier::PendingCount() const {
  std::lock_guard lock(mu_);
  return queued_.size();
}

}  // namespace aquawatch
