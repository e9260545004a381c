#include "api/notify_routes.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/api_response.h"
#include "api/json_writer.h"

namespace aquawatch {
namespace {

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 10000;
constexpr std::string_view kListParameters[] = {"state",    "alert", "channel",
                                                "receiver", "limit", "cursor"};
constexpr std::size_t kMaxActor = 128;

void AppendNotificationJson(std::string& out, const NotificationRecord& n) {
  out += "{";
  AppendJsonKey(out, "id", true);
  AppendJsonInt(out, static_cast<std::int64_t>(n.id));
  AppendJsonKey(out, "alert_id");
  AppendJsonInt(out, static_cast<std::int64_t>(n.alert_id));
  AppendJsonKey(out, "event");
  AppendJsonString(out, n.resolved ? "resolved" : "firing");
  AppendJsonKey(out, "priority");
  AppendJsonString(out, PriorityName(n.priority));
  AppendJsonKey(out, "policy");
  AppendJsonString(out, n.policy);
  AppendJsonKey(out, "receiver");
  AppendJsonString(out, n.receiver);
  AppendJsonKey(out, "channel");
  AppendJsonString(out, ChannelName(n.target.channel));
  AppendJsonKey(out, "target");
  AppendJsonString(out, n.target.Describe());
  AppendJsonKey(out, "stage");
  AppendJsonInt(out, n.stage);
  AppendJsonKey(out, "repeat");
  AppendJsonInt(out, n.repeat);
  AppendJsonKey(out, "state");
  AppendJsonString(out, NotificationStateName(n.state));
  AppendJsonKey(out, "attempts");
  AppendJsonInt(out, n.attempts);
  AppendJsonKey(out, "created_at");
  AppendJsonString(out, FormatRfc3339(n.created_at_ns));
  AppendJsonKey(out, "next_attempt_at");
  if (n.state == NotificationState::kPending) {
    AppendJsonString(out, FormatRfc3339(n.next_attempt_at_ns));
  } else {
    out += "null";
  }
  AppendJsonKey(out, "finished_at");
  if (n.finished_at_ns != 0) {
    AppendJsonString(out, FormatRfc3339(n.finished_at_ns));
  } else {
    out += "null";
  }
  AppendJsonKey(out, "held_by");
  AppendJsonString(out, n.held_by);
  AppendJsonKey(out, "last_error");
  AppendJsonString(out, n.last_error);
  out += "}";
}

void AppendAttemptJson(std::string& out, const NotificationAttempt& a) {
  out += "{";
  AppendJsonKey(out, "seq", true);
  AppendJsonInt(out, a.seq);
  AppendJsonKey(out, "at");
  AppendJsonString(out, FormatRfc3339(a.at_ns));
  AppendJsonKey(out, "duration_ms");
  AppendJsonNumber(out, static_cast<double>(a.duration_ns) / 1e6);
  AppendJsonKey(out, "ok");
  out += a.ok ? "true" : "false";
  AppendJsonKey(out, "status");
  AppendJsonInt(out, a.status);
  AppendJsonKey(out, "detail");
  AppendJsonString(out, a.detail);
  out += "}";
}

Status ParseStates(std::string_view text, std::vector<NotificationState>& out) {
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (name == "all") {
      out.clear();
      return Status::Ok();
    }
    auto state = ParseNotificationState(name);
    if (!state) {
      return Status::InvalidArgument(
          fmt::format("query parameter \"state\": {} is not pending, delivered, failed, "
                      "cancelled or all",
                      QuoteClientText(name)));
    }
    out.push_back(*state);
  }
  return Status::Ok();
}

HttpResponse List(Notifier& notifier, const HttpRequest& req) {
  for (const auto& [key, value] : req.query) {
    if (std::find(std::begin(kListParameters), std::end(kListParameters), key) ==
        std::end(kListParameters)) {
      return ApiError(400, fmt::format("unknown query parameter {} (known: state, alert, "
                                       "channel, receiver, limit, cursor)",
                                       QuoteClientText(key)));
    }
  }
  NotificationQuery q;
  if (const std::string* state = req.Query("state")) {
    if (Status s = ParseStates(*state, q.states); !s.ok()) return ErrorResponse(s);
  }
  if (const std::string* alert = req.Query("alert")) {
    auto id = ParseApiId(*alert);
    if (!id) {
      return ApiError(400, fmt::format("query parameter \"alert\": {} is not an alert id",
                                       QuoteClientText(*alert)));
    }
    q.alert_id = *id;
  }
  if (const std::string* channel = req.Query("channel")) {
    if (!ParseChannel(*channel)) {
      return ApiError(400, fmt::format("query parameter \"channel\": {} is not webhook, slack, "
                                       "pagerduty, sms, email or alertmanager",
                                       QuoteClientText(*channel)));
    }
    q.channel = *channel;
  }
  if (const std::string* receiver = req.Query("receiver")) q.receiver = *receiver;
  std::string error;
  if (!ParsePageParameters(req, kDefaultLimit, kMaxLimit, &q.limit, &q.before_id, &error)) {
    return ApiError(400, error);
  }
  auto list = notifier.Query(q);
  if (!list.ok()) return ErrorResponse(list.status());
  std::string body = R"({"notifications":[)";
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (i > 0) body += ",";
    AppendNotificationJson(body, (*list)[i]);
  }
  body += "]";
  AppendJsonKey(body, "pending");
  AppendJsonInt(body, static_cast<std::int64_t>(notifier.PendingCount()));
  AppendNextCursor(body, list->size(), q.limit, list->empty() ? 0 : list->back().id);
  body += "}";
  return JsonResponse(std::move(body));
}

HttpResponse GetOne(Notifier& notifier, std::uint64_t id) {
  auto got = notifier.Get(id);
  if (!got.ok()) return ErrorResponse(got.status());
  if (!got->has_value()) return ApiError(404, fmt::format("no notification {}", id));
  auto attempts = notifier.Attempts(id);
  if (!attempts.ok()) return ErrorResponse(attempts.status());
  std::string body = R"({"notification":)";
  AppendNotificationJson(body, **got);
  body += R"(,"attempts":[)";
  for (std::size_t i = 0; i < attempts->size(); ++i) {
    if (i > 0) body += ",";
    AppendAttemptJson(body, (*attempts)[i]);
  }
  body += "]}";
  return JsonResponse(std::move(body));
}

HttpResponse PolicyResponse(Notifier& notifier) {
  std::string body = R"({"source":)";
  AppendJsonString(body, notifier.policy_from_api() ? "api" : "config");
  body += R"(,"policy":)";
  body += NotifyPolicyJson(notifier.policy());
  body += "}";
  return JsonResponse(std::move(body));
}

// ?by=NAME, required for a change.
Result<std::string> Actor(const HttpRequest& req) {
  const std::string* by = req.Query("by");
  if (by == nullptr || by->empty()) {
    return Status::InvalidArgument("query parameter \"by\": required (who makes the change)");
  }
  if (by->size() > kMaxActor) {
    return Status::InvalidArgument(
        fmt::format("query parameter \"by\": longer than {} bytes", kMaxActor));
  }
  return *by;
}

HttpResponse HandlePolicy(Notifier& notifier, const HttpRequest& req) {
  if (req.method == "GET") return PolicyResponse(notifier);
  if (req.method != "PUT" && req.method != "DELETE") {
    return ApiError(405, "use GET, PUT or DELETE on /api/v1/notify/policy");
  }
  auto by = Actor(req);
  if (!by.ok()) return ErrorResponse(by.status());
  if (req.method == "DELETE") {
    if (Status s = notifier.ResetPolicy(*by); !s.ok()) return ErrorResponse(s);
    return PolicyResponse(notifier);
  }
  auto policy = ParseNotifyPolicyText(req.body);
  if (!policy.ok()) return ErrorResponse(policy.status());
  if (Status s = notifier.SetPolicy(std::move(policy).value(), *by); !s.ok()) {
    return ErrorResponse(s);
  }
  return PolicyResponse(notifier);
}

}  // namespace

HttpResponse HandleNotifyRoute(Notifier& notifier, const HttpRequest& req) {
  if (req.path == kNotifyPolicyPath) return HandlePolicy(notifier, req);
  std::string_view rest = std::string_view(req.path).substr(kNotificationsPath.size());
  if (rest.empty() || rest == "/") {
    if (req.method != "GET") return ApiError(405, "use GET on /api/v1/notifications");
    return List(notifier, req);
  }
  rest.remove_prefix(1);
  const std::size_t slash = rest.find('/');
  const std::string_view id_text = rest.substr(0, slash);
  auto id = ParseApiId(id_text);
  if (!id) {
    return ApiError(404, fmt::format("no notification {}", QuoteClientText(id_text)));
  }
  if (slash == std::string_view::npos) {
    if (req.method != "GET") return ApiError(405, "use GET on a notification");
    return GetOne(notifier, *id);
  }
  if (rest.substr(slash + 1) != "retry") {
    return ApiError(404, "no such route; a notification has /retry");
  }
  if (req.method != "POST") return ApiError(405, "use POST on /retry");
  auto retried = notifier.Retry(*id);
  if (!retried.ok()) return ErrorResponse(retried.status());
  std::string body = R"({"notification":)";
  AppendNotificationJson(body, *retried);
  body += "}";
  return JsonResponse(std::move(body));
}

}  // namespace aquawatch
