// NotifyPolicy: who is told of which alert, when, and how often (docs/notifications.md).
//
// Receivers name people or systems and their targets; escalation policies say, in stages, whom
// to tell and after how long an alert has gone unacknowledged, and how often to repeat; routes
// pick the policies for an alert by zone, site, sensor, kind, priority and time of day; quiet
// hours hold low-priority notifications back until morning. The document is the same JSON over
// the API (GET/PUT /api/v1/notify/policy) as in the file `notify.policy_file` names.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alert/alert.h"
#include "core/status.h"
#include "notify/notification.h"

namespace boost::json {
class value;
}

namespace aquawatch {

// Minutes since local midnight, [0, 1440).
struct TimeOfDayRange {
  int from_min = 0, to_min = 0;  // [from, to); from > to wraps past midnight; equal = all day
  bool Contains(int minute) const {
    if (from_min == to_min) return true;
    return from_min < to_min ? (minute >= from_min && minute < to_min)
                             : (minute >= from_min || minute < to_min);
  }
};

struct Receiver {
  std::string name;
  std::vector<Target> targets;
};

struct EscalationStage {
  std::int64_t after_ns = 0;  // since the alert opened (or reopened), unacknowledged
  std::vector<std::string> receivers;
};

struct EscalationPolicy {
  std::string name;
  std::vector<EscalationStage> stages;  // by `after`, the first at any delay
  // Until the alert is acknowledged or resolved, every stage reached so far is told again this
  // often (0 = never).
  std::int64_t repeat_every_ns = 0;
  bool send_resolved = true;  // tell everyone told of it when the alert resolves
};

struct RouteMatch {
  std::string zone, site, sensor;         // exact; "" = any
  std::vector<std::string> kinds;         // any of; empty = any
  std::vector<AlertPriority> priorities;  // any of; empty = any
  std::optional<TimeOfDayRange> hours;    // local time of the alert's opening
  bool Matches(const Alert& a, int local_minute) const;
};

struct Route {
  RouteMatch match;
  std::string policy;
  bool continue_matching = false;  // also try the routes after this one
};

struct QuietHours {
  std::optional<TimeOfDayRange> hours;  // none = no quiet hours
  std::vector<AlertPriority> priorities{AlertPriority::kLow};
};

struct NotifyPolicy {
  // Local time = UTC + this, for hours and quiet hours (a fixed offset: summer time is not
  // followed; docs/notifications.md).
  int utc_offset_min = 0;
  std::vector<Receiver> receivers;
  std::vector<EscalationPolicy> policies;
  std::vector<Route> routes;
  QuietHours quiet_hours;

  const Receiver* FindReceiver(std::string_view name) const;
  const EscalationPolicy* FindPolicy(std::string_view name) const;
  // Minute of the local day at `ns` (wall clock, UTC).
  int LocalMinute(std::int64_t ns) const;
  // The policies the routes pick for `a` at local minute `minute`, in route order, each once.
  std::vector<const EscalationPolicy*> PoliciesFor(const Alert& a, int minute) const;
  bool Quiet(AlertPriority p, int minute) const;
};

// Reads a policy document. Errors are InvalidArgument naming the place, e.g.
// "routes[2].policy: no policy named \"night\"" or "receivers[0].targets[1].to: required for
// sms"; every cross-reference is checked.
Result<NotifyPolicy> ParseNotifyPolicy(const boost::json::value& doc);
Result<NotifyPolicy> ParseNotifyPolicyText(std::string_view json_text);
// The document form ParseNotifyPolicy reads back, routing keys included (so what GET returns can
// be PUT back; once authentication lands, only admins read it).
std::string NotifyPolicyJson(const NotifyPolicy& policy);

}  // namespace aquawatch
