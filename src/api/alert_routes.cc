#include "api/alert_routes.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <charconv>

#include "api/alert_json.h"
#include "api/api_response.h"
#include "api/json_writer.h"
#include "api/readings_query.h"
#include "core/duration.h"

namespace aquawatch {
namespace {

namespace json = boost::json;

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 10000;
constexpr std::string_view kListParameters[] = {"state",  "priority", "kind", "zone",  "site",
                                                "sensor", "from",     "to",   "limit", "cursor"};

// state=open,acknowledged | unresolved | resolved | all
Status ParseStates(std::string_view text, std::vector<AlertState>& out) {
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view name = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (name == "all") {
      out.clear();
      return Status::Ok();
    }
    if (name == "unresolved") {
      out.push_back(AlertState::kOpen);
      out.push_back(AlertState::kAcknowledged);
      continue;
    }
    auto state = ParseAlertState(name);
    if (!state) {
      return Status::InvalidArgument(fmt::format(
          "query parameter \"state\": {} is not open, acknowledged, resolved, unresolved or all",
          QuoteClientText(name)));
    }
    out.push_back(*state);
  }
  return Status::Ok();
}

HttpResponse List(AlertManager& alerts, const HttpRequest& req) {
  for (const auto& [key, value] : req.query) {
    if (std::find(std::begin(kListParameters), std::end(kListParameters), key) ==
        std::end(kListParameters)) {
      return ApiError(400, fmt::format("unknown query parameter {} (known: state, priority, "
                                       "kind, zone, site, sensor, from, to, limit, cursor)",
                                       QuoteClientText(key)));
    }
  }
  AlertQuery q;
  if (const std::string* state = req.Query("state")) {
    if (Status s = ParseStates(*state, q.states); !s.ok()) return ErrorResponse(s);
  }
  if (const std::string* priority = req.Query("priority")) {
    q.priority = ParsePriority(*priority);
    if (!q.priority) {
      return ApiError(400, fmt::format("query parameter \"priority\" must be high, medium or "
                                       "low, got {}",
                                       QuoteClientText(*priority)));
    }
  }
  for (auto [name, field] : {std::pair{"kind", &q.kind}, std::pair{"zone", &q.zone},
                             std::pair{"site", &q.site}, std::pair{"sensor", &q.sensor}}) {
    if (const std::string* v = req.Query(name)) *field = *v;
  }
  for (auto [name, field] :
       {std::pair{"from", &q.opened_from_ns}, std::pair{"to", &q.opened_to_ns}}) {
    if (const std::string* v = req.Query(name)) {
      auto t = ParseQueryTime(*v);
      if (!t.ok()) return ApiError(400, fmt::format("{}: {}", name, t.status().message()));
      *field = *t;
    }
  }
  if (q.opened_from_ns > q.opened_to_ns) return ApiError(400, "from is after to");
  std::string error;
  if (!ParsePageParameters(req, kDefaultLimit, kMaxLimit, &q.limit, &q.before_id, &error)) {
    return ApiError(400, error);
  }
  auto list = alerts.Query(q);
  if (!list.ok()) return ErrorResponse(list.status());
  std::string body = R"({"alerts":[)";
  for (std::size_t i = 0; i < list->size(); ++i) {
    if (i > 0) body += ",";
    AppendAlertJson(body, (*list)[i]);
  }
  body += "]";
  AppendJsonKey(body, "open");
  AppendJsonInt(body, static_cast<std::int64_t>(alerts.OpenCount()));
  AppendNextCursor(body, list->size(), q.limit, list->empty() ? 0 : list->back().id);
  body += "}";
  return JsonResponse(std::move(body));
}

HttpResponse GetOne(AlertManager& alerts, std::uint64_t id) {
  auto alert = alerts.Get(id);
  if (!alert.ok()) return ErrorResponse(alert.status());
  if (!alert->has_value()) return ApiError(404, fmt::format("no alert {}", id));
  auto history = alerts.History(id);
  if (!history.ok()) return ErrorResponse(history.status());
  auto grouped = alerts.Grouped(**alert);
  if (!grouped.ok()) return ErrorResponse(grouped.status());
  std::string body = R"({"alert":)";
  AppendAlertJson(body, **alert);
  AppendJsonKey(body, "history");
  AppendAlertHistoryJson(body, *history);
  // A zone incident lists its members; a member, the incidents it was part of.
  AppendJsonKey(body, (*alert)->kind == kZoneEventKind ? "members" : "incidents");
  body += "[";
  for (std::size_t i = 0; i < grouped->size(); ++i) {
    if (i > 0) body += ",";
    AppendAlertJson(body, (*grouped)[i]);
  }
  body += "]}";
  return JsonResponse(std::move(body));
}

struct ActionBody {
  std::string by, comment;
};

Result<ActionBody> ParseActionBody(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) {
    return Status::InvalidArgument(
        fmt::format("the body is not JSON ({}); send {{\"by\": \"name\", \"comment\": \"...\"}}",
                    ec.message()));
  }
  if (!v.is_object()) return Status::InvalidArgument("the body must be a JSON object");
  ActionBody body;
  for (const json::key_value_pair& kv : v.as_object()) {
    const std::string_view key(kv.key().data(), kv.key().size());
    std::string* field = key == "by" ? &body.by : key == "comment" ? &body.comment : nullptr;
    if (field == nullptr) {
      return Status::InvalidArgument(
          fmt::format("field {}: unknown (known: by, comment)", QuoteClientText(key)));
    }
    if (!kv.value().is_string()) {
      return Status::InvalidArgument(fmt::format("field '{}': must be a string", key));
    }
    const json::string& s = kv.value().as_string();
    field->assign(s.data(), s.size());
  }
  return body;
}

HttpResponse Act(AlertManager& alerts, std::uint64_t id, std::string_view action,
                 const HttpRequest& req) {
  auto body = ParseActionBody(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  Result<Alert> done = Status::Internal("unreachable");
  if (action == "ack") {
    done = alerts.Acknowledge(id, body->by, body->comment);
  } else if (action == "resolve") {
    done = alerts.Resolve(id, body->by, body->comment);
  } else {
    done = alerts.Comment(id, body->by, body->comment);
  }
  if (!done.ok()) return ErrorResponse(done.status());
  std::string out = R"({"alert":)";
  AppendAlertJson(out, *done);
  out += "}";
  return JsonResponse(std::move(out));
}

Result<Silence> ParseSilenceBody(std::string_view text, std::int64_t now_ns) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return Status::InvalidArgument(fmt::format("the body is not JSON ({})", ec.message()));
  if (!v.is_object()) return Status::InvalidArgument("the body must be a JSON object");
  auto string_of = [](const json::value& value, std::string_view field,
                      std::string& out) -> Status {
    if (!value.is_string()) {
      return Status::InvalidArgument(fmt::format("field '{}': must be a string", field));
    }
    out.assign(value.as_string().data(), value.as_string().size());
    return Status::Ok();
  };
  Silence s;
  std::string starts, ends, duration;
  for (const json::key_value_pair& kv : v.as_object()) {
    const std::string_view key(kv.key().data(), kv.key().size());
    std::string* field = key == "by"          ? &s.created_by
                         : key == "comment"   ? &s.comment
                         : key == "starts_at" ? &starts
                         : key == "ends_at"   ? &ends
                         : key == "duration"  ? &duration
                                              : nullptr;
    if (field != nullptr) {
      if (Status st = string_of(kv.value(), key, *field); !st.ok()) return st;
      continue;
    }
    if (key != "matchers") {
      return Status::InvalidArgument(fmt::format(
          "field {}: unknown (known: matchers, starts_at, ends_at, duration, by, comment)",
          QuoteClientText(key)));
    }
    if (!kv.value().is_object()) {
      return Status::InvalidArgument("field 'matchers': must be an object");
    }
    for (const json::key_value_pair& m : kv.value().as_object()) {
      const std::string_view name(m.key().data(), m.key().size());
      const std::string path = fmt::format("matchers.{}", name);
      std::string* matcher = name == "sensor" ? &s.sensor
                             : name == "site" ? &s.site
                             : name == "zone" ? &s.zone
                             : name == "kind" ? &s.kind
                                              : nullptr;
      if (matcher != nullptr) {
        if (Status st = string_of(m.value(), path, *matcher); !st.ok()) return st;
        continue;
      }
      if (name != "priority") {
        return Status::InvalidArgument(
            fmt::format("field 'matchers': {} is unknown (known: sensor, site, zone, kind, "
                        "priority)",
                        QuoteClientText(name)));
      }
      std::string priority;
      if (Status st = string_of(m.value(), path, priority); !st.ok()) return st;
      s.priority = ParsePriority(priority);
      if (!s.priority) {
        return Status::InvalidArgument("field 'matchers.priority': must be high, medium or low");
      }
    }
  }
  if (!starts.empty()) {
    auto t = ParseQueryTime(starts);
    if (!t.ok()) return Status::InvalidArgument("field 'starts_at': " + t.status().message());
    s.starts_at_ns = *t;
  }
  if (ends.empty() == duration.empty()) {
    return Status::InvalidArgument("give one of fields 'ends_at' and 'duration' (e.g. \"2h\")");
  }
  if (!ends.empty()) {
    auto t = ParseQueryTime(ends);
    if (!t.ok()) return Status::InvalidArgument("field 'ends_at': " + t.status().message());
    s.ends_at_ns = *t;
  } else {
    auto ns = ParseDuration(duration);
    if (!ns || *ns <= 0) {
      return Status::InvalidArgument(
          "field 'duration': expected a positive duration like 30m, 2h or 1d");
    }
    s.ends_at_ns = (s.starts_at_ns != 0 ? s.starts_at_ns : now_ns) + *ns;
  }
  return s;
}

HttpResponse SilenceJson(const Silence& s, std::int64_t now_ns, int status = 200) {
  std::string body = R"({"silence":)";
  AppendSilenceJson(body, s, now_ns);
  body += "}";
  HttpResponse r = JsonResponse(std::move(body));
  r.status = status;
  return r;
}

}  // namespace

HttpResponse HandleSilenceRoute(AlertManager& alerts, const HttpRequest& req, std::int64_t now_ns) {
  std::string_view rest = std::string_view(req.path).substr(kSilencesPath.size());
  const bool read = req.method == "GET" || req.method == "HEAD";
  if (rest.empty()) {
    if (req.method == "POST") {
      auto parsed = ParseSilenceBody(req.body, now_ns);
      if (!parsed.ok()) return ErrorResponse(parsed.status());
      auto made = alerts.CreateSilence(std::move(parsed).value());
      if (!made.ok()) return ErrorResponse(made.status());
      // As of its creation (our `now_ns` was read before the manager's).
      return SilenceJson(*made, std::max(now_ns, made->created_at_ns), 201);
    }
    if (!read) return ApiError(405, fmt::format("{} is not allowed on {}", req.method, req.path));
    const std::string* state = req.Query("state");
    if (state != nullptr && *state != "active" && *state != "pending" && *state != "expired") {
      return ApiError(400, fmt::format("query parameter \"state\" must be active, pending or "
                                       "expired, got {}",
                                       QuoteClientText(*state)));
    }
    std::size_t limit = 0;
    std::string error;
    if (!ParseSize(req.Query("limit"), kDefaultLimit, kMaxLimit, &limit, &error, "limit")) {
      return ApiError(400, error);
    }
    auto list = alerts.ListSilences(state != nullptr ? kMaxLimit : limit);
    if (!list.ok()) return ErrorResponse(list.status());
    std::string body = R"({"silences":[)";
    std::size_t n = 0;
    for (const Silence& s : *list) {
      if (state != nullptr && SilenceStateName(s, now_ns) != *state) continue;
      if (n == limit) break;
      if (n++ > 0) body += ",";
      AppendSilenceJson(body, s, now_ns);
    }
    body += "]}";
    return JsonResponse(std::move(body));
  }
  if (rest.front() != '/') {
    return ApiError(404, fmt::format("no route for {}", QuoteClientText(req.path)));
  }
  auto id = ParseApiId(rest.substr(1));
  if (!id) {
    return ApiError(404, fmt::format("{} is not a silence id", QuoteClientText(rest.substr(1))));
  }
  if (req.method == "DELETE") {
    const std::string* by = req.Query("by");
    auto ended = alerts.ExpireSilence(*id, by != nullptr ? *by : "");
    if (!ended.ok()) return ErrorResponse(ended.status());
    return SilenceJson(*ended, std::max(now_ns, ended->ends_at_ns));  // as of its end
  }
  if (!read) return ApiError(405, fmt::format("{} is not allowed on {}", req.method, req.path));
  auto got = alerts.GetSilence(*id);
  if (!got.ok()) return ErrorResponse(got.status());
  if (!got->has_value()) return ApiError(404, fmt::format("no silence {}", *id));
  return SilenceJson(**got, now_ns);
}

HttpResponse HandleAlertRoute(AlertManager& alerts, const HttpRequest& req) {
  std::string_view rest = std::string_view(req.path).substr(kAlertsPath.size());
  const bool read = req.method == "GET" || req.method == "HEAD";
  if (rest.empty()) {
    if (!read) return ApiError(405, fmt::format("{} is not allowed on {}", req.method, req.path));
    return List(alerts, req);
  }
  if (rest.front() != '/') {
    return ApiError(404, fmt::format("no route for {}", QuoteClientText(req.path)));
  }
  rest.remove_prefix(1);
  const std::size_t slash = rest.find('/');
  const std::string_view id_text = rest.substr(0, slash);
  const std::string_view action =
      slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (!action.empty() && action != "ack" && action != "resolve" && action != "comment") {
    return ApiError(404, fmt::format("no route for {} {} (actions: ack, resolve, comment)",
                                     req.method, QuoteClientText(req.path)));
  }
  auto id = ParseApiId(id_text);
  if (!id) return ApiError(404, fmt::format("{} is not an alert id", QuoteClientText(id_text)));
  if (action.empty()) {
    if (!read) return ApiError(405, fmt::format("{} is not allowed on {}", req.method, req.path));
    return GetOne(alerts, *id);
  }
  if (req.method != "POST") {
    return ApiError(405, fmt::format("use POST for {} (got {})", req.path, req.method));
  }
  return Act(alerts, *id, action, req);
}

}  // namespace aquawatch
