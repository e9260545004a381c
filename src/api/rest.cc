#include "api/rest.h"

#include <fmt/format.h>
#include <algorithm>
#include <charconv>
#include <mutex>

#include "api/alert_json.h"
#include "api/alert_routes.h"
#include "api/api_response.h"
#include "api/json_writer.h"
#include "api/notify_routes.h"
#include "api/profile_json.h"
#include "api/readings_query.h"
#include "api/sensor_json.h"

namespace aquawatch {
namespace {

// How a write endpoint reports errors: InfluxDB v1 and v2 shapes, or aquawatch's own.
enum class WriteFlavor { kJsonApi, kInfluxV1, kInfluxV2 };

HttpResponse JsonError(int status, std::string_view message, WriteFlavor flavor) {
  if (flavor != WriteFlavor::kInfluxV2) return ApiError(status, message);
  HttpResponse r;
  r.status = status;
  r.body = R"({"code":)";
  AppendJsonString(r.body, status == 400   ? "invalid"
                           : status == 429 ? "too many requests"
                                           : "unavailable");
  r.body += R"(,"message":)";
  AppendJsonString(r.body, message);
  r.body += "}";
  return r;
}

HttpResponse Error(int status, std::string_view message) { return ApiError(status, message); }

std::string DescribeError(const DecodeError& e) {
  if (e.line == 0) return e.reason;
  if (e.field.empty()) return fmt::format("line {}: {}", e.line, e.reason);
  return fmt::format("line {}: field \"{}\": {}", e.line, e.field, e.reason);
}

// The body for a write with rejected lines. InfluxDB answers a partial write with 400 and an
// "error" (v1) or "message" (v2) naming the first problem; the extra fields list them all.
HttpResponse PartialWrite(const DecodeOutcome& outcome, const std::vector<DecodeError>& errors,
                          WriteFlavor flavor) {
  std::string summary =
      fmt::format("{}: {} ({} of {} readings rejected, {} accepted)",
                  outcome.accepted > 0 ? "partial write" : "unable to parse",
                  errors.empty() ? std::string("bad input") : DescribeError(errors.front()),
                  outcome.rejected, outcome.accepted + outcome.rejected, outcome.accepted);
  HttpResponse r;
  r.status = 400;
  r.body = flavor == WriteFlavor::kInfluxV2 ? R"({"code":"invalid","message":)" : R"({"error":)";
  AppendJsonString(r.body, summary);
  AppendJsonKey(r.body, "accepted");
  AppendJsonInt(r.body, static_cast<std::int64_t>(outcome.accepted));
  AppendJsonKey(r.body, "rejected");
  AppendJsonInt(r.body, static_cast<std::int64_t>(outcome.rejected));
  AppendJsonKey(r.body, "errors");
  r.body += "[";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i > 0) r.body += ",";
    r.body += R"({"line":)";
    AppendJsonInt(r.body, errors[i].line);
    AppendJsonKey(r.body, "field");
    AppendJsonString(r.body, errors[i].field);
    AppendJsonKey(r.body, "reason");
    AppendJsonString(r.body, errors[i].reason);
    if (errors[i].limit != Limit::kNone) {
      // The setting that would let the reading in, for programs that act on it.
      AppendJsonKey(r.body, "limit");
      AppendJsonString(r.body, LimitKey(errors[i].limit));
    }
    r.body += "}";
  }
  r.body += "]}";
  return r;
}

// Adds the shards' refusals to a write's errors, in line order. JSON readings carry their
// position in the document, mapped back to lines here.
void AppendRefusals(const std::vector<Refusal>& refusals, bool json, std::string_view body,
                    std::vector<DecodeError>& errors) {
  std::vector<std::uint32_t> lines;
  lines.reserve(refusals.size());
  for (const Refusal& r : refusals) lines.push_back(r.line);
  if (json) lines = JsonReadingLines(body, lines);
  const std::size_t first = errors.size();
  for (std::size_t i = 0; i < refusals.size() && errors.size() < kMaxReportedErrors; ++i) {
    const Refusal& r = refusals[i];
    errors.push_back(
        {lines[i], r.field,
         fmt::format("sensor \"{}\" at {}: {}", r.sensor, FormatRfc3339(r.time_ns), r.reason),
         r.limit});
  }
  std::stable_sort(errors.begin() + static_cast<std::ptrdiff_t>(first), errors.end(),
                   [](const DecodeError& a, const DecodeError& b) { return a.line < b.line; });
}

void AppendSensorJson(std::string& out, const SensorSnapshot& s) {
  out += R"({"id":)";
  AppendJsonString(out, s.id);
  AppendJsonKey(out, "site");
  AppendJsonString(out, s.site);
  AppendJsonKey(out, "zone");
  AppendJsonString(out, s.zone);
  AppendJsonKey(out, "time");
  AppendJsonString(out, FormatRfc3339(s.last_time_ns));
  AppendJsonKey(out, "time_ns");
  AppendJsonInt(out, s.last_time_ns);
  AppendJsonKey(out, "received_at");
  AppendJsonString(out, FormatRfc3339(s.last_arrival_ns));
  AppendJsonKey(out, "first_seen_at");
  AppendJsonString(out, FormatRfc3339(s.first_seen_ns));
  AppendJsonKey(out, "readings");
  AppendJsonInt(out, static_cast<std::int64_t>(s.readings));
  AppendJsonKey(out, "values");
  out += "{";
  for (std::size_t i = 0; i < s.values.size(); ++i) {
    AppendJsonKey(out, s.values[i].first, i == 0);
    AppendJsonNumber(out, s.values[i].second);
  }
  out += "}";
  AppendJsonKey(out, "levels");
  out += "{";
  for (std::size_t i = 0; i < s.levels.size(); ++i) {
    AppendJsonKey(out, s.levels[i].first, i == 0);
    AppendJsonString(out, s.levels[i].second);
  }
  out += "}}";
}

class ApiHandlerImpl final : public HttpHandler {
 public:
  ApiHandlerImpl(Pipeline& pipeline, AlertManager& alerts, Notifier& notifier, Catalog& catalog,
                 MetricsRegistry& metrics, Clock& clock, const ApiOptions& options)
      : pipeline_(pipeline),
        alerts_(alerts),
        notifier_(notifier),
        catalog_(catalog),
        metrics_(metrics),
        clock_(clock),
        options_(options),
        json_channel_(pipeline, metrics, "http_json", clock, options.limits),
        influx_channel_(pipeline, metrics, "http_line_protocol", clock, options.limits),
        requests_(metrics.AddCounter("aquawatch_http_requests_total", "HTTP requests handled")) {}

  void Handle(HttpRequest&& req, Respond respond) override {
    requests_.Add();
    const std::string& p = req.path;
    if (p == "/write") return Write(std::move(req), std::move(respond), WriteFlavor::kInfluxV1);
    if (p == "/api/v2/write") {
      return Write(std::move(req), std::move(respond), WriteFlavor::kInfluxV2);
    }
    if (p == "/api/v1/readings") {
      return Write(std::move(req), std::move(respond), WriteFlavor::kJsonApi);
    }
    if (p.compare(0, kAlertsPath.size(), kAlertsPath) == 0 &&
        (p.size() == kAlertsPath.size() || p[kAlertsPath.size()] == '/')) {
      return respond(HandleAlertRoute(alerts_, req));
    }
    if (p.compare(0, kSilencesPath.size(), kSilencesPath) == 0 &&
        (p.size() == kSilencesPath.size() || p[kSilencesPath.size()] == '/')) {
      return respond(HandleSilenceRoute(alerts_, req, clock_.NowNs()));
    }
    if (p == kNotifyPolicyPath ||
        (p.compare(0, kNotificationsPath.size(), kNotificationsPath) == 0 &&
         (p.size() == kNotificationsPath.size() || p[kNotificationsPath.size()] == '/'))) {
      // The policy and the delivery record are in SQLite: off the I/O thread would be better,
      // but each read is one indexed query (milliseconds), like the alert routes.
      return respond(HandleNotifyRoute(notifier_, req));
    }
    constexpr std::string_view kSensors = "/api/v1/sensors/";
    if (req.method == "PUT" && p.size() > kSensors.size() &&
        p.compare(0, kSensors.size(), kSensors) == 0) {
      return respond(PutSensor(std::string_view(p).substr(kSensors.size()), req));
    }
    constexpr std::string_view kProfiles = "/api/v1/profiles/";
    if (req.method == "PUT" && p.size() > kProfiles.size() &&
        p.compare(0, kProfiles.size(), kProfiles) == 0) {
      return respond(PutProfile(std::string_view(p).substr(kProfiles.size()), req));
    }
    if (req.method != "GET" && req.method != "HEAD") {
      return respond(Error(405, fmt::format("{} is not allowed on {}", req.method, p)));
    }
    if (p == "/healthz") return respond(Json(R"({"status":"ok"})"));
    if (p == "/readyz") {
      if (pipeline_.Healthy()) return respond(Json(R"({"status":"ready"})"));
      return respond(Error(503, "a shard has failed and stopped accepting writes; see the log"));
    }
    if (p == "/metrics") {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = metrics_.RenderPrometheus();
      return respond(std::move(r));
    }
    if (p == "/api/v1/sensors") return respond(ListSensors(req));
    if (p == "/api/v1/profiles") return respond(ListProfiles());
    if (p.size() > kProfiles.size() && p.compare(0, kProfiles.size(), kProfiles) == 0) {
      return respond(GetProfile(std::string_view(p).substr(kProfiles.size())));
    }
    if (p.size() > kSensors.size() && p.compare(0, kSensors.size(), kSensors) == 0) {
      return respond(SensorRoute(std::string_view(p).substr(kSensors.size()), req));
    }
    if (p == "/" || p == "/api/v1") return respond(Index());
    respond(Error(404, fmt::format("no route for {} {}", req.method, p)));
  }

 private:
  static HttpResponse Json(std::string body) {
    HttpResponse r;
    r.body = std::move(body);
    return r;
  }

  void Write(HttpRequest&& req, Respond respond, WriteFlavor flavor) {
    if (req.method != "POST") {
      return respond(JsonError(405, "use POST to write readings", flavor));
    }
    LineProtocolOptions lp;
    lp.default_time_ns = clock_.NowNs();
    if (flavor != WriteFlavor::kJsonApi) {
      // InfluxDB refuses writes that do not name a database (v1) or bucket (v2); so do we, so a
      // misconfigured client finds out at once. aquawatch keeps one namespace for all of them.
      const char* target = flavor == WriteFlavor::kInfluxV1 ? "db" : "bucket";
      if (req.Query(target) == nullptr) {
        return respond(JsonError(
            400, flavor == WriteFlavor::kInfluxV1 ? "database is required" : "bucket is required",
            flavor));
      }
      if (const std::string* precision = req.Query("precision")) {
        auto parsed = ParsePrecision(*precision);
        if (!parsed.ok()) return respond(JsonError(400, parsed.status().message(), flavor));
        lp.precision = *parsed;
      }
    }
    // The body outlives the request while its readings are stored: a JSON write's refusals
    // name the lines of their readings, found in it afterwards.
    auto body_text = std::make_shared<std::string>();
    if (req.content_encoding == "gzip") {
      auto out = Gunzip(req.body, options_.max_body_bytes);
      if (!out.ok()) return respond(JsonError(400, out.status().message(), flavor));
      *body_text = std::move(out).value();
    } else if (!req.content_encoding.empty() && req.content_encoding != "identity") {
      return respond(JsonError(
          415, fmt::format("unsupported Content-Encoding \"{}\"", req.content_encoding), flavor));
    } else {
      *body_text = std::move(req.body);
    }
    std::string_view body = *body_text;

    IngestChannel& channel = flavor == WriteFlavor::kJsonApi ? json_channel_ : influx_channel_;
    // Reused per I/O thread: Submit copies the readings, so the batch is free again at once.
    thread_local ReadingBatch batch;
    batch.Clear();
    batch.arrival_ns = lp.default_time_ns;
    auto errors = std::make_shared<std::vector<DecodeError>>();
    WireFormat format =
        flavor == WriteFlavor::kJsonApi ? WireFormat::kJson : WireFormat::kLineProtocol;
    DecodeOutcome outcome = channel.Decode(format, body, lp, batch, *errors);
    if (outcome.accepted == 0) {
      if (outcome.rejected > 0) return respond(PartialWrite(outcome, *errors, flavor));
      if (flavor == WriteFlavor::kJsonApi) {
        return respond(JsonError(400, "no readings in the request body", flavor));
      }
      HttpResponse empty;
      empty.status = 204;
      return respond(std::move(empty));
    }
    Status s =
        channel.Submit(batch, [respond, outcome, errors, flavor, body_text](const WriteResult& r) {
          if (!r.status.ok()) {
            return respond(
                JsonError(503, "readings could not be stored: " + r.status.message(), flavor));
          }
          if (outcome.rejected > 0 || r.refused > 0) {
            // Readings the shards refused (limits) count as rejected lines, after the decoder's.
            DecodeOutcome merged = outcome;
            merged.accepted -= r.refused;
            merged.rejected += r.refused;
            AppendRefusals(r.refusals, flavor == WriteFlavor::kJsonApi, *body_text, *errors);
            return respond(PartialWrite(merged, *errors, flavor));
          }
          HttpResponse ok;
          if (flavor == WriteFlavor::kJsonApi) {
            ok.body = fmt::format(R"({{"accepted":{},"rejected":0}})", outcome.accepted);
          } else {
            ok.status = 204;
          }
          respond(std::move(ok));
        });
    if (!s.ok()) {
      if (!pipeline_.Healthy()) return respond(JsonError(503, s.message(), flavor));
      HttpResponse busy = JsonError(
          429, "ingest queues are full; nothing from this request was stored, retry it", flavor);
      busy.headers.emplace_back("Retry-After", "1");
      respond(std::move(busy));
    }
  }

  HttpResponse ListSensors(const HttpRequest& req) {
    std::size_t limit = 0;
    std::string error;
    if (!ParseSize(req.Query("limit"), 1000, 100000, &limit, &error, "limit")) {
      return Error(400, error);
    }
    const std::string* after = req.Query("after");
    auto sensors = pipeline_.ListSensors(after != nullptr ? *after : "", limit);
    std::string body = R"({"sensors":[)";
    for (std::size_t i = 0; i < sensors.size(); ++i) {
      if (i > 0) body += ",";
      AppendSensorJson(body, sensors[i]);
    }
    body += "]";
    AppendJsonKey(body, "total");
    AppendJsonInt(body, static_cast<std::int64_t>(pipeline_.SensorCount()));
    AppendJsonKey(body, "next_after");
    if (sensors.size() == limit) {
      AppendJsonString(body, sensors.back().id);
    } else {
      body += "null";
    }
    body += "}";
    return Json(std::move(body));
  }

  HttpResponse SensorRoute(std::string_view rest, const HttpRequest& req) {
    std::size_t slash = rest.find('/');
    std::string_view id = rest.substr(0, slash);
    std::string_view what = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (std::string_view why = SensorIdError(id); !why.empty()) {
      return Error(400, fmt::format("sensor id \"{}\" {}", id, why));
    }
    if (what == "readings") return QueryReadings(pipeline_, id, req, clock_.NowNs());
    if (what.empty()) return GetSensor(id);
    if (what != "latest") {
      return Error(404, fmt::format("no route /api/v1/sensors/{{id}}/{}", what));
    }
    auto snap = pipeline_.Latest(id);
    if (!snap) return Error(404, fmt::format("sensor \"{}\" has sent no readings", id));
    std::string body;
    AppendSensorJson(body, *snap);
    return Json(std::move(body));
  }

  // The catalog's record of a sensor (docs/api.md).
  HttpResponse GetSensor(std::string_view id) {
    auto record = catalog_.GetSensor(id);
    if (!record.ok()) return Error(500, record.status().message());
    if (!record->has_value()) return Error(404, fmt::format("no sensor \"{}\" in the catalog", id));
    std::string body;
    AppendSensorJson(body, **record);
    return Json(std::move(body));
  }

  HttpResponse PutSensor(std::string_view rest, const HttpRequest& req) {
    if (rest.find('/') != std::string_view::npos) {
      return Error(405, "PUT is allowed on /api/v1/sensors/{id} only");
    }
    if (std::string_view why = SensorIdError(rest); !why.empty()) {
      return Error(400, fmt::format("sensor id \"{}\" {}", rest, why));
    }
    auto update = ParseSensorUpdate(req.body);
    if (!update.ok()) return Error(400, update.status().message());
    auto record = catalog_.PutSensor(rest, *update, clock_.NowNs());
    if (!record.ok()) {
      return Error(record.status().code() == StatusCode::kInvalidArgument ? 400 : 500,
                   record.status().message());
    }
    // The shards apply the rules of the sensor's profile from its next reading on.
    if (update->profile) {
      pipeline_.SetSensorProfile(
          rest, SiteProfileIndex(record->profile).value_or(DefaultSiteProfileIndex()));
    }
    std::string body;
    AppendSensorJson(body, *record);
    return Json(std::move(body));
  }

  HttpResponse ListProfiles() {
    const ProfileRules rules = pipeline_.profile_rules();
    std::string body = R"({"profiles":[)";
    for (std::size_t i = 0; i < kSiteProfiles.size(); ++i) {
      if (i > 0) body += ",";
      AppendProfileJson(body, kSiteProfiles[i], rules.For(i));
    }
    body += "]}";
    return Json(std::move(body));
  }

  HttpResponse GetProfile(std::string_view name) {
    auto index = SiteProfileIndex(name);
    if (!index) return UnknownProfile(name);
    std::string body;
    AppendProfileJson(body, kSiteProfiles[*index], pipeline_.profile_rules().For(*index));
    return Json(std::move(body));
  }

  HttpResponse UnknownProfile(std::string_view name) {
    std::string known;
    for (const SiteProfile& p : kSiteProfiles) {
      known += known.empty() ? "" : ", ";
      known += p.name;
    }
    return Error(404, fmt::format("no profile {} (known: {})", QuoteClientText(name), known));
  }

  // Edits a profile's rules: stored in the catalog first, so an acknowledged change survives a
  // restart, then handed to the shards.
  HttpResponse PutProfile(std::string_view name, const HttpRequest& req) {
    auto index = SiteProfileIndex(name);
    if (!index) return UnknownProfile(name);
    std::lock_guard lock(profile_mu_);  // one read-modify-write at a time
    ProfileRules rules = pipeline_.profile_rules();
    std::vector<ParameterId> changed;
    if (Status s = ApplyProfileUpdate(req.body, rules.For(*index), changed); !s.ok()) {
      return Error(400, s.message());
    }
    std::vector<ProfileRuleRecord> records;
    for (ParameterId id : changed) {
      const ThresholdRule& r = rules.For(*index).For(id);
      records.push_back({std::string(name), std::string(ParameterName(id)), r.critical_low,
                         r.warn_low, r.warn_high, r.critical_high, r.hysteresis, r.min_duration_s});
    }
    if (Status s = catalog_.PutProfileRules(records); !s.ok()) return Error(500, s.message());
    pipeline_.SetProfileRules(rules);
    std::string body;
    AppendProfileJson(body, kSiteProfiles[*index], rules.For(*index));
    return Json(std::move(body));
  }

  static HttpResponse Index() {
    return Json(
        R"json({"service":"aquawatch","routes":["POST /api/v1/readings","POST /write",)json"
        R"json("POST /api/v2/write","GET /api/v1/sensors","GET /api/v1/sensors/{id}/latest","GET /api/v1/sensors/{id}/readings",)json"
        R"json("GET /api/v1/profiles","GET /api/v1/profiles/{name}","PUT /api/v1/profiles/{name}",)json"
        R"json("GET /api/v1/alerts","GET /api/v1/alerts/{id}","POST /api/v1/alerts/{id}/ack",)json"
        R"json("POST /api/v1/alerts/{id}/resolve","POST /api/v1/alerts/{id}/comment",)json"
        R"json("GET /api/v1/silences","POST /api/v1/silences","GET /api/v1/silences/{id}",)json"
        R"json("DELETE /api/v1/silences/{id}",)json"
        R"json("GET /api/v1/notifications","GET /api/v1/notifications/{id}",)json"
        R"json("POST /api/v1/notifications/{id}/retry","GET /api/v1/notify/policy",)json"
        R"json("PUT /api/v1/notify/policy","DELETE /api/v1/notify/policy",)json"
        R"json("GET /api/v1/stream (WebSocket)","GET /healthz",)json"
        R"json("GET /readyz","GET /metrics"]})json");
  }

  Pipeline& pipeline_;
  AlertManager& alerts_;
  Notifier& notifier_;
  Catalog& catalog_;
  MetricsRegistry& metrics_;
  Clock& clock_;
  ApiOptions options_;
  std::mutex profile_mu_;  // serialises profile edits (read, change, store, publish)
  IngestChannel json_channel_;
  IngestChannel influx_channel_;
  Counter& requests_;
};

}  // namespace

std::unique_ptr<HttpHandler> NewApiHandler(Pipeline& pipeline, AlertManager& alerts,
                                           Notifier& notifier, Catalog& catalog,
                                           MetricsRegistry& metrics, Clock& clock,
                                           const ApiOptions& options) {
  return std::make_unique<ApiHandlerImpl>(pipeline, alerts, notifier, catalog, metrics, clock,
                                          options);
}

}  // namespace aquawatch
