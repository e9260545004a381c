#include "notify/notify_policy.h"

#include <fmt/format.h>
#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "api/json_writer.h"
#include "core/clock.h"
#include "core/duration.h"

namespace aquawatch {
namespace json = boost::json;

namespace {

constexpr std::int64_t kNsPerMinute = 60 * kNsPerSecond;
constexpr int kMinutesPerDay = 24 * 60;

// Reads one document, keeping the path of the value being read for error messages.
class PolicyReader {
 public:
  Status error() const { return error_; }
  bool failed() const { return !error_.ok(); }

  void Fail(const std::string& path, const std::string& why) {
    if (!failed()) error_ = Status::InvalidArgument(path + ": " + why);
  }

  const json::object* Object(const json::value* v, const std::string& path) {
    if (v == nullptr || !v->is_object()) {
      Fail(path, "must be an object");
      return nullptr;
    }
    return &v->get_object();
  }

  // Fails on keys outside `known`: a typo must not be ignored.
  void OnlyKeys(const json::object& o, const std::string& path,
                std::initializer_list<std::string_view> known) {
    for (const auto& kv : o) {
      if (std::find(known.begin(), known.end(), kv.key()) == known.end()) {
        Fail(path.empty() ? std::string(kv.key()) : path + "." + std::string(kv.key()),
             "unknown field");
      }
    }
  }

  const json::array* Array(const json::object& o, std::string_view key, const std::string& path,
                           bool required) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) {
      if (required) Fail(Join(path, key), "required");
      return nullptr;
    }
    if (!v->is_array()) {
      Fail(Join(path, key), "must be an array");
      return nullptr;
    }
    return &v->get_array();
  }

  std::string String(const json::object& o, std::string_view key, const std::string& path,
                     bool required) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) {
      if (required) Fail(Join(path, key), "required");
      return {};
    }
    if (!v->is_string()) {
      Fail(Join(path, key), "must be a string");
      return {};
    }
    std::string s(v->get_string());
    if (required && s.empty()) Fail(Join(path, key), "must not be empty");
    return s;
  }

  std::int64_t Duration(const json::object& o, std::string_view key, const std::string& path) {
    std::string text = String(o, key, path, false);
    if (text.empty()) return 0;
    std::optional<std::int64_t> ns = ParseDuration(text);
    if (!ns) Fail(Join(path, key), "\"" + text + "\" is not a duration like 30s, 15m or 1h");
    return ns.value_or(0);
  }

  bool Bool(const json::object& o, std::string_view key, const std::string& path, bool fallback) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr) return fallback;
    if (!v->is_bool()) {
      Fail(Join(path, key), "must be true or false");
      return fallback;
    }
    return v->get_bool();
  }

  std::vector<std::string> Strings(const json::object& o, std::string_view key,
                                   const std::string& path) {
    std::vector<std::string> out;
    const json::array* a = Array(o, key, path, false);
    if (a == nullptr) return out;
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_string() || (*a)[i].get_string().empty()) {
        Fail(Join(path, key) + "[" + std::to_string(i) + "]", "must be a non-empty string");
        continue;
      }
      out.emplace_back((*a)[i].get_string());
    }
    return out;
  }

  std::vector<AlertPriority> Priorities(const json::object& o, std::string_view key,
                                        const std::string& path) {
    std::vector<AlertPriority> out;
    std::vector<std::string> names = Strings(o, key, path);
    for (std::size_t i = 0; i < names.size(); ++i) {
      std::optional<AlertPriority> p = ParsePriority(names[i]);
      if (!p) {
        Fail(Join(path, key) + "[" + std::to_string(i) + "]",
             "\"" + names[i] + "\" is not high, medium or low");
        continue;
      }
      out.push_back(*p);
    }
    return out;
  }

  // "HH:MM-HH:MM".
  std::optional<TimeOfDayRange> Hours(const json::object& o, std::string_view key,
                                      const std::string& path) {
    std::string text = String(o, key, path, false);
    if (text.empty()) return std::nullopt;
    std::size_t dash = text.find('-');
    TimeOfDayRange r;
    if (dash == std::string::npos || !Clock(text.substr(0, dash), &r.from_min) ||
        !Clock(text.substr(dash + 1), &r.to_min)) {
      Fail(Join(path, key), "\"" + text + "\" is not a range like 22:00-07:00");
      return std::nullopt;
    }
    return r;
  }

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

 private:
  static bool Clock(std::string_view t, int* minutes) {
    int h = 0, m = 0;
    if (t.size() != 5 || t[2] != ':') return false;
    auto r1 = std::from_chars(t.data(), t.data() + 2, h);
    auto r2 = std::from_chars(t.data() + 3, t.data() + 5, m);
    if (r1.ptr != t.data() + 2 || r2.ptr != t.data() + 5) return false;
    if (h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) return false;
    *minutes = (h * 60 + m) % kMinutesPerDay;
    return true;
  }

  Status error_;
};

bool ParseUtcOffset(std::string_view t, int* minutes) {
  // "+HH:MM" or "-HH:MM"
  if (t.size() != 6 || (t[0] != '+' && t[0] != '-') || t[3] != ':') return false;
  int h = 0, m = 0;
  auto r1 = std::from_chars(t.data() + 1, t.data() + 3, h);
  auto r2 = std::from_chars(t.data() + 4, t.data() + 6, m);
  if (r1.ptr != t.data() + 3 || r2.ptr != t.data() + 6 || h > 14 || m > 59) return false;
  *minutes = (t[0] == '-' ? -1 : 1) * (h * 60 + m);
  return true;
}

std::string FormatClock(int minutes) {
  return fmt::format("{:02}:{:02}", minutes / 60, minutes % 60);
}

std::string FormatHours(const TimeOfDayRange& r) {
  return FormatClock(r.from_min) + "-" + FormatClock(r.to_min);
}

void ReadTarget(PolicyReader& in, const json::value& v, const std::string& path, Target* t) {
  const json::object* o = in.Object(&v, path);
  if (o == nullptr) return;
  in.OnlyKeys(*o, path, {"channel", "url", "to", "routing_key"});
  std::string channel = in.String(*o, "channel", path, true);
  if (in.failed()) return;
  std::optional<ChannelKind> kind = ParseChannel(channel);
  if (!kind) {
    in.Fail(path + ".channel", "\"" + channel +
                                   "\" is not webhook, slack, pagerduty, sms, email or "
                                   "alertmanager");
    return;
  }
  t->channel = *kind;
  t->url = in.String(*o, "url", path, false);
  t->to = in.String(*o, "to", path, false);
  t->routing_key = in.String(*o, "routing_key", path, false);
  switch (t->channel) {
    case ChannelKind::kWebhook:
    case ChannelKind::kSlack:
    case ChannelKind::kAlertmanager:
      if (t->url.empty()) in.Fail(path + ".url", "required for " + channel);
      break;
    case ChannelKind::kPagerDuty:
      if (t->routing_key.empty()) in.Fail(path + ".routing_key", "required for pagerduty");
      break;
    case ChannelKind::kSms:
    case ChannelKind::kEmail:
      if (t->to.empty()) in.Fail(path + ".to", "required for " + channel);
      break;
  }
  if (!t->url.empty() && t->url.rfind("http://", 0) != 0 && t->url.rfind("https://", 0) != 0) {
    in.Fail(path + ".url", "must start with http:// or https://");
  }
}

}  // namespace

bool RouteMatch::Matches(const Alert& a, int local_minute) const {
  if (!zone.empty() && zone != a.zone) return false;
  if (!site.empty() && site != a.site) return false;
  if (!sensor.empty() && sensor != a.sensor) return false;
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), a.kind) == kinds.end()) {
    return false;
  }
  if (!priorities.empty() &&
      std::find(priorities.begin(), priorities.end(), a.priority) == priorities.end()) {
    return false;
  }
  return !hours || hours->Contains(local_minute);
}

const Receiver* NotifyPolicy::FindReceiver(std::string_view name) const {
  for (const Receiver& r : receivers) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const EscalationPolicy* NotifyPolicy::FindPolicy(std::string_view name) const {
  for (const EscalationPolicy& p : policies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

int NotifyPolicy::LocalMinute(std::int64_t ns) const {
  std::int64_t minutes = ns / kNsPerMinute + utc_offset_min;
  std::int64_t m = minutes % kMinutesPerDay;
  return static_cast<int>(m < 0 ? m + kMinutesPerDay : m);
}

std::vector<const EscalationPolicy*> NotifyPolicy::PoliciesFor(const Alert& a, int minute) const {
  std::vector<const EscalationPolicy*> out;
  for (const Route& r : routes) {
    if (!r.match.Matches(a, minute)) continue;
    const EscalationPolicy* p = FindPolicy(r.policy);
    if (p != nullptr && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    if (!r.continue_matching) break;
  }
  return out;
}

bool NotifyPolicy::Quiet(AlertPriority p, int minute) const {
  const auto& q = quiet_hours;
  return q.hours && q.hours->Contains(minute) &&
         std::find(q.priorities.begin(), q.priorities.end(), p) != q.priorities.end();
}

Result<NotifyPolicy> ParseNotifyPolicy(const json::value& doc) {
  PolicyReader in;
  NotifyPolicy policy;
  const json::object* root = in.Object(&doc, "policy");
  if (root == nullptr) return in.error();
  in.OnlyKeys(*root, "", {"utc_offset", "receivers", "policies", "routes", "quiet_hours"});

  std::string offset = in.String(*root, "utc_offset", "", false);
  if (!offset.empty() && !ParseUtcOffset(offset, &policy.utc_offset_min)) {
    in.Fail("utc_offset", "\"" + offset + "\" is not an offset like +01:00 or -05:00");
  }

  if (const json::array* a = in.Array(*root, "receivers", "", false)) {
    for (std::size_t i = 0; i < a->size() && !in.failed(); ++i) {
      std::string path = "receivers[" + std::to_string(i) + "]";
      const json::object* o = in.Object(&(*a)[i], path);
      if (o == nullptr) break;
      in.OnlyKeys(*o, path, {"name", "targets"});
      Receiver r;
      r.name = in.String(*o, "name", path, true);
      if (!in.failed() && policy.FindReceiver(r.name) != nullptr) {
        in.Fail(path + ".name", "\"" + r.name + "\" is already a receiver");
      }
      if (const json::array* targets = in.Array(*o, "targets", path, true)) {
        if (targets->empty()) in.Fail(path + ".targets", "must not be empty");
        for (std::size_t j = 0; j < targets->size() && !in.failed(); ++j) {
          Target t;
          ReadTarget(in, (*targets)[j], path + ".targets[" + std::to_string(j) + "]", &t);
          r.targets.push_back(std::move(t));
        }
      }
      policy.receivers.push_back(std::move(r));
    }
  }

  if (const json::array* a = in.Array(*root, "policies", "", false)) {
    for (std::size_t i = 0; i < a->size() && !in.failed(); ++i) {
      std::string path = "policies[" + std::to_string(i) + "]";
      const json::object* o = in.Object(&(*a)[i], path);
      if (o == nullptr) break;
      in.OnlyKeys(*o, path, {"name", "stages", "repeat_every", "send_resolved"});
      EscalationPolicy p;
      p.name = in.String(*o, "name", path, true);
      if (!in.failed() && policy.FindPolicy(p.name) != nullptr) {
        in.Fail(path + ".name", "\"" + p.name + "\" is already a policy");
      }
      p.repeat_every_ns = in.Duration(*o, "repeat_every", path);
      if (!in.failed() && p.repeat_every_ns != 0 && p.repeat_every_ns < kNsPerSecond) {
        in.Fail(path + ".repeat_every", "must be 0 (never) or at least 1s");
      }
      p.send_resolved = in.Bool(*o, "send_resolved", path, true);
      if (const json::array* stages = in.Array(*o, "stages", path, true)) {
        if (stages->empty()) in.Fail(path + ".stages", "must not be empty");
        for (std::size_t j = 0; j < stages->size() && !in.failed(); ++j) {
          std::string spath = path + ".stages[" + std::to_string(j) + "]";
          const json::object* so = in.Object(&(*stages)[j], spath);
          if (so == nullptr) break;
          in.OnlyKeys(*so, spath, {"after", "receivers"});
          EscalationStage st;
          st.after_ns = in.Duration(*so, "after", spath);
          if (!in.failed() && !p.stages.empty() && st.after_ns <= p.stages.back().after_ns) {
            in.Fail(spath + ".after", "must be later than the stage before");
          }
          st.receivers = in.Strings(*so, "receivers", spath);
          if (!in.failed() && st.receivers.empty()) {
            in.Fail(spath + ".receivers", "required, at least one");
          }
          for (std::size_t k = 0; k < st.receivers.size() && !in.failed(); ++k) {
            if (policy.FindReceiver(st.receivers[k]) == nullptr) {
              in.Fail(spath + ".receivers[" + std::to_string(k) + "]",
                      "no receiver named \"" + st.receivers[k] + "\"");
            }
          }
          p.stages.push_back(std::move(st));
        }
      }
      policy.policies.push_back(std::move(p));
    }
  }

  if (const json::array* a = in.Array(*root, "routes", "", false)) {
    for (std::size_t i = 0; i < a->size() && !in.failed(); ++i) {
      std::string path = "routes[" + std::to_string(i) + "]";
      const json::object* o = in.Object(&(*a)[i], path);
      if (o == nullptr) break;
      in.OnlyKeys(*o, path, {"match", "policy", "continue"});
      Route r;
      if (const json::value* m = o->if_contains("match")) {
        std::string mpath = path + ".match";
        if (const json::object* mo = in.Object(m, mpath)) {
          in.OnlyKeys(*mo, mpath, {"zone", "site", "sensor", "kind", "priority", "hours"});
          r.match.zone = in.String(*mo, "zone", mpath, false);
          r.match.site = in.String(*mo, "site", mpath, false);
          r.match.sensor = in.String(*mo, "sensor", mpath, false);
          r.match.kinds = in.Strings(*mo, "kind", mpath);
          r.match.priorities = in.Priorities(*mo, "priority", mpath);
          r.match.hours = in.Hours(*mo, "hours", mpath);
        }
      }
      r.policy = in.String(*o, "policy", path, true);
      if (!in.failed() && policy.FindPolicy(r.policy) == nullptr) {
        in.Fail(path + ".policy", "no policy named \"" + r.policy + "\"");
      }
      r.continue_matching = in.Bool(*o, "continue", path, false);
      policy.routes.push_back(std::move(r));
    }
  }

  if (const json::value* q = root->if_contains("quiet_hours")) {
    if (const json::object* qo = in.Object(q, "quiet_hours")) {
      in.OnlyKeys(*qo, "quiet_hours", {"hours", "priority"});
      policy.quiet_hours.hours = in.Hours(*qo, "hours", "quiet_hours");
      if (qo->contains("priority")) {
        policy.quiet_hours.priorities = in.Priorities(*qo, "priority", "quiet_hours");
      }
      if (!in.failed() &&
          std::find(policy.quiet_hours.priorities.begin(), policy.quiet_hours.priorities.end(),
                    AlertPriority::kHigh) != policy.quiet_hours.priorities.end()) {
        in.Fail("quiet_hours.priority", "high-priority alerts are never held back");
      }
    }
  }
  if (in.failed()) return in.error();
  return policy;
}

Result<NotifyPolicy> ParseNotifyPolicyText(std::string_view json_text) {
  boost::system::error_code ec;
  json::value doc = json::parse(json_text, ec);
  if (ec) return Status::InvalidArgument("policy: not valid JSON: " + ec.message());
  return ParseNotifyPolicy(doc);
}

std::string NotifyPolicyJson(const NotifyPolicy& p) {
  json::object root;
  int off = p.utc_offset_min < 0 ? -p.utc_offset_min : p.utc_offset_min;
  root["utc_offset"] = (p.utc_offset_min < 0 ? "-" : "+") + FormatClock(off);
  json::array receivers;
  for (const Receiver& r : p.receivers) {
    json::array targets;
    for (const Target& t : r.targets) {
      json::object o;
      o["channel"] = ChannelName(t.channel);
      if (!t.url.empty()) o["url"] = t.url;
      if (!t.to.empty()) o["to"] = t.to;
      if (!t.routing_key.empty()) o["routing_key"] = t.routing_key;
      targets.push_back(std::move(o));
    }
    receivers.push_back(json::object{{"name", r.name}, {"targets", std::move(targets)}});
  }
  root["receivers"] = std::move(receivers);
  json::array policies;
  for (const EscalationPolicy& e : p.policies) {
    json::array stages;
    for (const EscalationStage& s : e.stages) {
      json::array names;
      for (const std::string& n : s.receivers) names.emplace_back(n);
      stages.push_back(
          json::object{{"after", FormatDuration(s.after_ns)}, {"receivers", std::move(names)}});
    }
    policies.push_back(json::object{{"name", e.name},
                                    {"stages", std::move(stages)},
                                    {"repeat_every", FormatDuration(e.repeat_every_ns)},
                                    {"send_resolved", e.send_resolved}});
  }
  root["policies"] = std::move(policies);
  json::array routes;
  for (const Route& r : p.routes) {
    json::object m;
    if (!r.match.zone.empty()) m["zone"] = r.match.zone;
    if (!r.match.site.empty()) m["site"] = r.match.site;
    if (!r.match.sensor.empty()) m["sensor"] = r.match.sensor;
    if (!r.match.kinds.empty()) {
      json::array kinds;
      for (const std::string& k : r.match.kinds) kinds.emplace_back(k);
      m["kind"] = std::move(kinds);
    }
    if (!r.match.priorities.empty()) {
      json::array prios;
      for (AlertPriority pr : r.match.priorities) prios.emplace_back(PriorityName(pr));
      m["priority"] = std::move(prios);
    }
    if (r.match.hours) m["hours"] = FormatHours(*r.match.hours);
    routes.push_back(json::object{
        {"match", std::move(m)}, {"policy", r.policy}, {"continue", r.continue_matching}});
  }
  root["routes"] = std::move(routes);
  if (p.quiet_hours.hours) {
    json::array prios;
    for (AlertPriority pr : p.quiet_hours.priorities) prios.emplace_back(PriorityName(pr));
    root["quiet_hours"] =
        json::object{{"hours", FormatHours(*p.quiet_hours.hours)}, {"priority", std::move(prios)}};
  }
  return json::serialize(root);
}

}  // namespace aquawatch
