#include "notify/channels.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/alert_json.h"
#include "api/json_writer.h"
#include "core/duration.h"

namespace aquawatch {

std::string_view ChannelName(ChannelKind c) {
  switch (c) {
    case ChannelKind::kWebhook:
      return "webhook";
    case ChannelKind::kSlack:
      return "slack";
    case ChannelKind::kPagerDuty:
      return "pagerduty";
    case ChannelKind::kSms:
      return "sms";
    case ChannelKind::kEmail:
      return "email";
    case ChannelKind::kAlertmanager:
      return "alertmanager";
  }
  return "unknown";
}

std::optional<ChannelKind> ParseChannel(std::string_view name) {
  for (int i = 0; i < kChannelCount; ++i) {
    auto kind = static_cast<ChannelKind>(i);
    if (ChannelName(kind) == name) return kind;
  }
  return std::nullopt;
}

namespace {

// --- text ----------------------------------------------------------------------------------

bool IsControl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// `s` on one line: every run of control characters (CR, LF, tab ...) becomes one space. What goes
// into a header, a log line or a one-line summary, so alert text cannot start a new line there.
std::string OneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_run = false;
  for (char c : s) {
    if (IsControl(c)) {
      if (!in_run && !out.empty()) out.push_back(' ');
      in_run = true;
    } else {
      out.push_back(c);
      in_run = false;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The longest prefix of `s` of at most `max` bytes that does not cut a UTF-8 sequence (for
// invalid UTF-8, at most three bytes shorter than `max`).
std::string_view Utf8Prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  for (int i = 0; i < 3 && n > 0 && IsContinuation(s[n]); ++i) --n;
  return s.substr(0, n);
}

std::size_t CodePoints(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return !IsContinuation(c); }));
}

// The prefix of `s` of at most `max` code points.
std::string_view CodePointPrefix(std::string_view s, std::size_t max) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (IsContinuation(s[i])) continue;
    if (count == max) return s.substr(0, i);
    ++count;
  }
  return s;
}

// `s` cut to `max` bytes, with "…" (3 bytes, included in `max`) when it was cut.
std::string Shorten(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::string out(Utf8Prefix(s, max >= 3 ? max - 3 : 0));
  out += "…";
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string FormatNumber(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

std::string_view TrimTrailingSlashes(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

// "\r\n" and a lone '\r' become '\n'.
std::string NormalizeNewlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Slack reads &, < and > as markup (links, mentions); everything else is literal.
std::string SlackEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16 |
                      static_cast<unsigned char>(in[i + 1]) << 8 |
                      static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// --- what an alert says --------------------------------------------------------------------

std::string_view Severity(AlertPriority p) {
  switch (p) {
    case AlertPriority::kHigh:
      return "critical";
    case AlertPriority::kMedium:
      return "warning";
    case AlertPriority::kLow:
      return "info";
  }
  return "warning";
}

// What happened: "free_chlorine_mg_l critical_low", "probable_contamination",
// "sensor_fault (flat_line)", "sensor_offline".
std::string What(const Alert& a) {
  if (a.kind == "threshold") {
    std::string w = a.parameter.empty() ? std::string("threshold") : a.parameter;
    if (a.level != Level::kNormal) {
      w += ' ';
      w += LevelName(a.level);
    }
    return w;
  }
  if (a.kind == "event" || a.kind == "zone_event") {
    return a.classification.empty() ? a.kind : a.classification;
  }
  if (a.kind == "sensor_fault" && !a.classification.empty()) {
    return a.kind + " (" + a.classification + ")";
  }
  return a.kind.empty() ? std::string("alert") : a.kind;
}

// Where: "at sensor S1 (north, z1)", "in zone z1 (north)", "at site north" or "".
std::string Where(const Alert& a) {
  std::string where, places;
  auto add = [&places](const std::string& p) {
    if (p.empty()) return;
    if (!places.empty()) places += ", ";
    places += p;
  };
  if (!a.sensor.empty()) {
    where = "at sensor " + a.sensor;
    add(a.site);
    add(a.zone);
  } else if (!a.zone.empty()) {
    where = "in zone " + a.zone;
    add(a.site);
  } else if (!a.site.empty()) {
    where = "at site " + a.site;
  }
  if (!places.empty()) where += " (" + places + ")";
  return where;
}

// "probable_contamination at sensor S1 (north, z1)", on one line.
std::string Title(const Alert& a) {
  std::string where = Where(a);
  return OneLine(where.empty() ? What(a) : What(a) + " " + where);
}

// The Classification row: the classification, or for a threshold its level.
std::string ClassificationText(const Alert& a) {
  if (!a.classification.empty()) return a.classification;
  if (a.kind == "threshold") return std::string(LevelName(a.level));
  return "";
}

// When the latest change happened, wall clock (sensor time when the server's is not known).
std::int64_t ChangeTimeNs(const Delivery& d) {
  const Alert& a = *d.alert;
  if (d.resolved && a.resolved_at_ns != 0) return a.resolved_at_ns;
  return a.updated_at_ns != 0 ? a.updated_at_ns : a.reading_time_ns;
}

bool ShowsValue(const Alert& a, double v) {
  return std::isfinite(v) && (a.kind == "threshold" || v != 0);
}

// --- JSON ----------------------------------------------------------------------------------

void AppendStringMember(std::string& out, std::string_view key, std::string_view value,
                        bool first = false) {
  AppendJsonKey(out, key, first);
  AppendJsonString(out, value);
}

// Appends "key":"value" unless value is empty; `first` tells whether a member was written yet
// and is updated.
void AppendNonEmpty(std::string& out, std::string_view key, std::string_view value, bool& first) {
  if (value.empty()) return;
  AppendStringMember(out, key, value, first);
  first = false;
}

void AppendSlackField(std::string& out, bool& first, std::string_view title,
                      std::string_view value) {
  if (value.empty()) return;
  if (!first) out.push_back(',');
  first = false;
  out += "{";
  AppendStringMember(out, "title", title, true);
  AppendStringMember(out, "value", SlackEscape(value));
  out += R"(,"short":true})";
}

// --- email ---------------------------------------------------------------------------------

// Date in RFC 5322 form, UTC: "Fri, 27 Nov 2026 10:00:00 +0000".
std::string Rfc5322Date(std::int64_t ns) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t secs = ns / kNsPerSecond;
  if (ns % kNsPerSecond < 0) --secs;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// A header value: printable ASCII as it is, anything else as RFC 2047 encoded words (each at
// most 75 characters and whole UTF-8 characters), folded onto continuation lines. REQUIRES: no
// control characters in `text` (OneLine).
std::string EncodeHeaderText(std::string_view text) {
  bool ascii = std::all_of(text.begin(), text.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return std::string(text);
  std::string out;
  while (!text.empty()) {
    // 45 bytes are 60 base64 characters: with "=?UTF-8?B?" and "?=", 72.
    std::string_view chunk = Utf8Prefix(text, 45);
    if (chunk.empty()) chunk = text.substr(0, 1);
    if (!out.empty()) out += "\n ";
    out += "=?UTF-8?B?" + Base64(chunk) + "?=";
    text.remove_prefix(chunk.size());
  }
  return out;
}

// Breaks every line longer than `max` bytes: at its last space within the limit when there is
// one (the space becomes the break), else between UTF-8 characters and outside an HTML entity.
std::string WrapLongLines(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(text.size() + text.size() / max * 2);
  while (true) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    while (line.size() > max) {
      std::string_view head = Utf8Prefix(line, max);
      std::size_t space = head.rfind(' ');
      if (space != std::string_view::npos && space > 0) {
        out.append(head.substr(0, space));
        line.remove_prefix(space + 1);
      } else {
        std::size_t amp = head.rfind('&');
        if (amp != std::string_view::npos && amp > 0 && head.size() - amp < 10 &&
            head.find(';', amp) == std::string_view::npos) {
          head = head.substr(0, amp);
        }
        if (head.empty()) head = line.substr(0, max);
        out.append(head);
        line.remove_prefix(head.size());
      }
      out.push_back('\n');
    }
    out.append(line);
    if (nl == std::string_view::npos) break;
    out.push_back('\n');
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::string ToCrlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (char c : text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

// The address in "Name <a@b>" or "a@b"; nullopt for anything else (control characters, several
// or unclosed brackets, no '@', spaces or separators in the address).
std::optional<std::string> MailAddress(std::string_view s) {
  if (std::any_of(s.begin(), s.end(), IsControl)) return std::nullopt;
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  std::size_t lt = s.find('<');
  if (lt != std::string_view::npos) {
    if (s.back() != '>' || s.find('<', lt + 1) != std::string_view::npos) return std::nullopt;
    s = s.substr(lt + 1, s.size() - lt - 2);
  }
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.size() < 3 || s.find('@') == std::string_view::npos) return std::nullopt;
  bool clean = std::none_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '<' || c == '>' || c == ',' || c == ';' || c == '"';
  });
  if (!clean) return std::nullopt;
  return std::string(s);
}

struct Row {
  std::string_view label;
  std::string value;
};

std::vector<Row> EmailRows(const Delivery& d) {
  const Alert& a = *d.alert;
  auto or_dash = [](std::string_view s) { return s.empty() ? std::string("-") : OneLine(s); };
  std::vector<Row> rows = {
      {"Kind", or_dash(a.kind)},
      {"Classification", or_dash(ClassificationText(a))},
      {"Sensor", or_dash(a.sensor)},
      {"Site", or_dash(a.site)},
      {"Zone", or_dash(a.zone)},
      {"Parameter", or_dash(a.parameter)},
      {"Value", FormatNumber(a.value)},
      {"Threshold", FormatNumber(a.threshold)},
      {"Priority", std::string(PriorityName(a.priority))},
      {"State", std::string(AlertStateName(a.state))},
      {"Opened", a.opened_ns != 0 ? FormatRfc3339(a.opened_ns) : std::string("-")},
  };
  if (d.resolved) {
    std::int64_t at = a.resolved_at_ns != 0 ? a.resolved_at_ns : a.resolved_ns;
    rows.push_back({"Resolved", at != 0 ? FormatRfc3339(at) : std::string("-")});
    if (!a.resolved_by.empty()) rows.push_back({"Resolved by", OneLine(a.resolved_by)});
  }
  if (!a.acked_by.empty()) rows.push_back({"Acknowledged by", OneLine(a.acked_by)});
  rows.push_back({"Alert", std::to_string(a.id)});
  return rows;
}

}  // namespace

// --- Target --------------------------------------------------------------------------------

std::string RedactUrl(std::string_view url) {
  std::string_view rest = url;
  std::string out;
  std::size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) {
    out.append(rest.substr(0, scheme + 3));
    rest.remove_prefix(scheme + 3);
    std::size_t authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::size_t at = authority.rfind('@');
    if (at != std::string_view::npos) rest.remove_prefix(at + 1);
  }
  std::size_t query = rest.find_first_of("?#");
  out.append(rest.substr(0, query));
  if (query != std::string_view::npos && rest[query] == '?') out += "?…";
  return OneLine(out);
}

std::string Target::Describe() const {
  std::string out(ChannelName(channel));
  std::string where;
  switch (channel) {
    case ChannelKind::kSms:
    case ChannelKind::kEmail:
      where = OneLine(to);
      break;
    case ChannelKind::kPagerDuty:
      where = url.empty() ? std::string(kPagerDutyEventsUrl) : RedactUrl(url);
      break;
    case ChannelKind::kSlack: {
      // A Slack webhook's last path segment is its secret.
      where = RedactUrl(url);
      std::size_t scheme = where.find("://");
      std::size_t slash = where.rfind('/');
      if (scheme != std::string::npos && slash > scheme + 3 && slash + 1 < where.size()) {
        where = where.substr(0, slash + 1) + "…";
      }
      break;
    }
    case ChannelKind::kWebhook:
    case ChannelKind::kAlertmanager:
      where = RedactUrl(url);
      break;
  }
  if (!where.empty()) out += " " + where;
  return out;
}

// --- formats -------------------------------------------------------------------------------

std::string AlertLink(const Delivery& d, const ChannelSettings& s) {
  std::string link(TrimTrailingSlashes(s.public_url));
  link += "/api/v1/alerts/";
  link += std::to_string(d.alert->id);
  return link;
}

std::string AlertSummaryLine(const Delivery& d) {
  std::string prefix =
      d.resolved ? std::string("[RESOLVED] ") : "[" + Upper(PriorityName(d.alert->priority)) + "] ";
  return prefix + Title(*d.alert);
}

std::string FormatWebhookJson(const Delivery& d, const ChannelSettings& s) {
  std::string out = R"({"version":1)";
  AppendStringMember(out, "source", "aquawatch");
  AppendStringMember(out, "event", d.resolved ? "resolved" : "firing");
  AppendJsonKey(out, "notification_id");
  AppendJsonInt(out, static_cast<std::int64_t>(d.notification_id));
  AppendStringMember(out, "receiver", d.receiver);
  AppendJsonKey(out, "stage");
  AppendJsonInt(out, d.stage);
  AppendJsonKey(out, "repeat");
  AppendJsonInt(out, d.repeat);
  AppendStringMember(out, "link", AlertLink(d, s));
  AppendJsonKey(out, "alert");
  AppendAlertJson(out, *d.alert);
  out += "}";
  return out;
}

std::string FormatSlackJson(const Delivery& d, const ChannelSettings& s) {
  const Alert& a = *d.alert;
  std::string summary = AlertSummaryLine(d);
  std::string_view color = "#9e9e9e";  // grey: low
  if (d.resolved) {
    color = "#2eb67d";  // green
  } else if (a.priority == AlertPriority::kHigh) {
    color = "#e01e5a";  // red
  } else if (a.priority == AlertPriority::kMedium) {
    color = "#f2930b";  // orange
  }
  std::string out = "{";
  AppendStringMember(out, "text", SlackEscape(summary), true);
  out += R"(,"attachments":[{)";
  AppendStringMember(out, "fallback", SlackEscape(summary), true);
  AppendStringMember(out, "color", color);
  AppendStringMember(out, "title", SlackEscape(Title(a)));
  AppendStringMember(out, "title_link", AlertLink(d, s));
  AppendStringMember(out, "text", SlackEscape(NormalizeNewlines(a.message)));
  AppendJsonKey(out, "fields");
  out += "[";
  bool first = true;
  AppendSlackField(out, first, "Sensor", a.sensor);
  AppendSlackField(out, first, "Site", a.site);
  AppendSlackField(out, first, "Zone", a.zone);
  AppendSlackField(out, first, "Priority", PriorityName(a.priority));
  AppendSlackField(out, first, "Kind", a.kind);
  AppendSlackField(out, first, "Classification", ClassificationText(a));
  AppendSlackField(out, first, "Parameter", a.parameter);
  if (ShowsValue(a, a.value)) AppendSlackField(out, first, "Value", FormatNumber(a.value));
  if (ShowsValue(a, a.threshold)) {
    AppendSlackField(out, first, "Threshold", FormatNumber(a.threshold));
  }
  if (d.resolved) AppendSlackField(out, first, "State", AlertStateName(a.state));
  out += "]";
  AppendJsonKey(out, "ts");
  std::int64_t ts_ns = ChangeTimeNs(d);
  AppendJsonInt(out, ts_ns / kNsPerSecond);
  out += "}]}";
  return out;
}

std::string FormatPagerDutyJson(const Delivery& d, const ChannelSettings& s) {
  const Alert& a = *d.alert;
  std::string out = "{";
  AppendStringMember(out, "routing_key", d.target->routing_key, true);
  AppendStringMember(out, "event_action", d.resolved ? "resolve" : "trigger");
  AppendStringMember(out, "dedup_key", "aquawatch-alert-" + std::to_string(a.id));
  if (d.resolved) {
    out += "}";
    return out;
  }
  std::string link = AlertLink(d, s);
  std::string summary = AlertSummaryLine(d);
  std::string message = OneLine(a.message);
  if (!message.empty()) summary += ": " + message;
  AppendJsonKey(out, "payload");
  out += "{";
  AppendStringMember(out, "summary", Shorten(summary, 1024), true);
  const std::string& source = !a.sensor.empty() ? a.sensor : !a.zone.empty() ? a.zone : a.site;
  AppendStringMember(out, "source", source.empty() ? std::string_view("aquawatch") : source);
  AppendStringMember(out, "severity", Severity(a.priority));
  bool first = false;
  if (a.reading_time_ns != 0)
    AppendStringMember(out, "timestamp", FormatRfc3339(a.reading_time_ns));
  AppendNonEmpty(out, "component", a.parameter, first);
  AppendNonEmpty(out, "group", !a.site.empty() ? a.site : a.zone, first);
  AppendNonEmpty(out, "class", a.kind, first);
  AppendJsonKey(out, "custom_details");
  AppendAlertJson(out, a);
  out += "}";
  AppendJsonKey(out, "links");
  out += "[{";
  AppendStringMember(out, "href", link, true);
  AppendStringMember(out, "text", "aquawatch alert " + std::to_string(a.id));
  out += "}]";
  AppendStringMember(out, "client", "aquawatch");
  AppendStringMember(out, "client_url", link);
  out += "}";
  return out;
}

std::string SmsText(const Delivery& d, const ChannelSettings& s) {
  std::string text = AlertSummaryLine(d);
  std::string message = OneLine(d.alert->message);
  if (!message.empty()) text += ": " + message;
  if (!text.empty() && text.back() != '.') text += '.';
  std::string link = AlertLink(d, s);
  std::size_t link_chars = CodePoints(link) + 1;  // and its space
  if (link_chars >= kSmsMaxChars) return std::string(CodePointPrefix(text, kSmsMaxChars));
  std::size_t room = kSmsMaxChars - link_chars;
  if (CodePoints(text) > room) {
    text = std::string(CodePointPrefix(text, room - 1)) + "…";
  }
  return text + " " + link;
}

std::string FormatSmsForm(const Delivery& d, const ChannelSettings& s) {
  std::string body = "To=" + FormUrlEncode(d.target->to);
  body += "&From=" + FormUrlEncode(s.sms.from);
  body += "&Body=" + FormUrlEncode(SmsText(d, s));
  return body;
}

std::string SmsMessagesUrl(const ChannelSettings& s) {
  std::string url(TrimTrailingSlashes(s.sms.base_url));
  url += "/2010-04-01/Accounts/";
  url += FormUrlEncode(s.sms.account_sid);
  url += "/Messages.json";
  return url;
}

std::string FormUrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '*' ||
        u == '-' || u == '.' || u == '_') {
      out.push_back(c);
    } else if (u == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::string FormatEmail(const Delivery& d, const ChannelSettings& s, std::int64_t now_ns) {
  const Alert& a = *d.alert;
  const std::string id = std::to_string(a.id);
  const std::string link = AlertLink(d, s);
  const std::string summary = AlertSummaryLine(d);
  std::string subject = d.resolved ? std::string("[aquawatch RESOLVED] ")
                                   : "[aquawatch " + Upper(PriorityName(a.priority)) + "] ";
  subject += Title(a);
  const std::vector<Row> rows = EmailRows(d);
  const std::string message = NormalizeNewlines(a.message);

  // Both parts are built with '\n', wrapped, and turned into CRLF at the end.
  std::string text = summary + "\n\n";
  for (const Row& r : rows) {
    std::string label = std::string(r.label) + ":";
    label.resize(std::max<std::size_t>(label.size() + 1, 17), ' ');
    text += label + r.value + "\n";
  }
  text += "\nMessage:\n" + (message.empty() ? std::string("-") : message) + "\n\n";
  text += "Details: " + link + "\n";

  std::string_view color = d.resolved                             ? "#2e7d32"
                           : a.priority == AlertPriority::kHigh   ? "#c62828"
                           : a.priority == AlertPriority::kMedium ? "#ef6c00"
                                                                  : "#616161";
  std::string html = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>" +
                     HtmlEscape(subject) +
                     "</title></head>\n<body style=\"font-family:sans-serif\">\n";
  html += "<h2 style=\"color:" + std::string(color) + "\">" + HtmlEscape(summary) + "</h2>\n";
  html += "<table cellpadding=\"4\" style=\"border-collapse:collapse\">\n";
  for (const Row& r : rows) {
    html += "<tr><th align=\"left\">" + HtmlEscape(r.label) + "</th><td>" + HtmlEscape(r.value) +
            "</td></tr>\n";
  }
  html += "</table>\n<p><b>Message</b><br>\n";
  if (message.empty()) {
    html += "-";
  } else {
    std::string_view rest = message;
    while (true) {
      std::size_t nl = rest.find('\n');
      html += HtmlEscape(rest.substr(0, nl));
      if (nl == std::string_view::npos) break;
      html += "<br>\n";
      rest.remove_prefix(nl + 1);
    }
  }
  const std::string href = HtmlEscape(link);
  html += "</p>\n<p><a href=\"" + href + "\">" + href + "</a></p>\n</body>\n</html>\n";

  // SMTP allows 998 bytes a line; leave room.
  text = WrapLongLines(text, 900);
  html = WrapLongLines(html, 900);

  std::string boundary = "=_aquawatch_" + std::to_string(d.notification_id);
  while (text.find(boundary) != std::string::npos || html.find(boundary) != std::string::npos) {
    boundary += "_x";
  }

  std::string m;
  m += "Date: " + Rfc5322Date(now_ns) + "\n";
  m += "From: " + OneLine(s.email.from) + "\n";
  m += "To: " + OneLine(d.target->to) + "\n";
  m += "Subject: " + EncodeHeaderText(Shorten(OneLine(subject), 250)) + "\n";
  m += "Message-ID: <aquawatch-notification-" + std::to_string(d.notification_id) + "@aquawatch>\n";
  m += "MIME-Version: 1.0\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\n";
  m += "Content-Transfer-Encoding: 8bit\n";
  m += "Auto-Submitted: auto-generated\n";
  m += "X-Aquawatch-Alert-Id: " + id + "\n";
  m += "\nThis is a multi-part message in MIME format.\n";
  m += "\n--" + boundary + "\n";
  m += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n";
  m += text;
  m += "\n--" + boundary + "\n";
  m += "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n";
  m += html;
  m += "\n--" + boundary + "--\n";
  return ToCrlf(m);
}

std::string FormatAlertmanagerJson(const Delivery& d, const ChannelSettings& s,
                                   std::int64_t now_ns) {
  const Alert& a = *d.alert;
  std::string out = R"([{"labels":{)";
  AppendStringMember(out, "alertname", "aquawatch_" + (a.kind.empty() ? "alert" : a.kind), true);
  AppendStringMember(out, "aquawatch_id", std::to_string(a.id));
  bool first = false;
  AppendNonEmpty(out, "sensor", a.sensor, first);
  AppendNonEmpty(out, "site", a.site, first);
  AppendNonEmpty(out, "zone", a.zone, first);
  AppendNonEmpty(out, "kind", a.kind, first);
  AppendNonEmpty(out, "priority", PriorityName(a.priority), first);
  AppendNonEmpty(out, "severity", Severity(a.priority), first);
  AppendNonEmpty(out, "parameter", a.parameter, first);
  out += R"(},"annotations":{)";
  AppendStringMember(out, "summary", AlertSummaryLine(d), true);
  AppendNonEmpty(out, "description", NormalizeNewlines(a.message), first);
  AppendNonEmpty(out, "classification", ClassificationText(a), first);
  if (ShowsValue(a, a.value)) AppendStringMember(out, "value", FormatNumber(a.value));
  if (ShowsValue(a, a.threshold)) AppendStringMember(out, "threshold", FormatNumber(a.threshold));
  AppendStringMember(out, "state", AlertStateName(a.state));
  out += "}";
  std::int64_t starts = a.opened_ns != 0 ? a.opened_ns : a.updated_at_ns;
  if (starts != 0) AppendStringMember(out, "startsAt", FormatRfc3339(starts));
  if (d.resolved) {
    AppendStringMember(out, "endsAt",
                       FormatRfc3339(a.resolved_at_ns != 0 ? a.resolved_at_ns : now_ns));
  }
  AppendStringMember(out, "generatorURL", AlertLink(d, s));
  out += "}]";
  return out;
}

// --- the libcurl sender --------------------------------------------------------------------

namespace {

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

class HeaderList {
 public:
  HeaderList() = default;
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  ~HeaderList() { curl_slist_free_all(list_); }

  [[nodiscard]] bool Add(const std::string& line) {
    curl_slist* n = curl_slist_append(list_, line.c_str());
    if (n == nullptr) return false;
    list_ = n;
    return true;
  }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// Keeps the start of a response body for the detail; the rest is read and dropped.
constexpr std::size_t kKeptResponseBytes = 1024;

std::size_t KeepResponse(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  std::size_t n = size * count;
  if (body->size() < kKeptResponseBytes) {
    body->append(data, std::min(n, kKeptResponseBytes - body->size()));
  }
  return n;
}

struct Upload {
  std::string_view rest;
};

std::size_t ReadUpload(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* up = static_cast<Upload*>(user);
  std::size_t n = std::min(size * count, up->rest.size());
  std::memcpy(buffer, up->rest.data(), n);
  up->rest.remove_prefix(n);
  return n;
}

AttemptResult Permanent(std::string detail) {
  AttemptResult r;
  r.ok = false;
  r.retryable = false;
  r.detail = std::move(detail);
  return r;
}

// Errors of the configuration rather than of the network: trying again cannot help.
bool IsPermanentCurlError(CURLcode rc) {
  return rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ||
         rc == CURLE_LOGIN_DENIED || rc == CURLE_NOT_BUILT_IN;
}

// The user:password of a URL, or "".
std::string_view UrlUserinfo(std::string_view url) {
  std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  url.remove_prefix(scheme + 3);
  std::string_view authority = url.substr(0, url.find_first_of("/?#"));
  std::size_t at = authority.rfind('@');
  return at == std::string_view::npos ? std::string_view() : authority.substr(0, at);
}

void ReplaceAll(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  for (std::size_t pos = text.find(secret); pos != std::string::npos;
       pos = text.find(secret, pos + 3)) {
    text.replace(pos, secret.size(), "***");
  }
}

class CurlSender final : public ChannelSender {
 public:
  CurlSender(const ChannelSettings& settings, Clock& clock) : settings_(settings), clock_(clock) {}

  AttemptResult Send(const Delivery& d) override {
    if (d.alert == nullptr || d.target == nullptr) {
      return Permanent("delivery without an alert or a target");
    }
    const Target& t = *d.target;
    AttemptResult r = SendOn(d, t);
    // Whatever a server or libcurl wrote, the secrets we hold do not leave in a detail.
    ReplaceAll(r.detail, t.routing_key);
    ReplaceAll(r.detail, settings_.sms.auth_token);
    ReplaceAll(r.detail, settings_.email.password);
    std::string_view userinfo = UrlUserinfo(t.url);
    if (std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      ReplaceAll(r.detail, userinfo.substr(colon + 1));
    }
    return r;
  }

 private:
  AttemptResult SendOn(const Delivery& d, const Target& t) {
    switch (t.channel) {
      case ChannelKind::kWebhook:
        if (t.url.empty()) return Permanent("webhook: the target has no url");
        return Post(t.url, "application/json", FormatWebhookJson(d, settings_), false);
      case ChannelKind::kSlack:
        if (t.url.empty()) return Permanent("slack: the target has no url");
        return Post(t.url, "application/json", FormatSlackJson(d, settings_), false);
      case ChannelKind::kPagerDuty:
        if (t.routing_key.empty()) return Permanent("pagerduty: the target has no routing_key");
        return Post(t.url.empty() ? std::string(kPagerDutyEventsUrl) : t.url, "application/json",
                    FormatPagerDutyJson(d, settings_), false);
      case ChannelKind::kAlertmanager:
        if (t.url.empty()) return Permanent("alertmanager: the target has no url");
        return Post(std::string(TrimTrailingSlashes(t.url)) + "/api/v2/alerts", "application/json",
                    FormatAlertmanagerJson(d, settings_, clock_.NowNs()), false);
      case ChannelKind::kSms:
        return SendSms(d, t);
      case ChannelKind::kEmail:
        return SendEmail(d, t);
    }
    return Permanent("unknown channel");
  }

  AttemptResult SendSms(const Delivery& d, const Target& t) {
    const ChannelSettings::Sms& sms = settings_.sms;
    if (sms.base_url.empty()) return Permanent("sms: notify.sms.base_url is not set");
    if (sms.account_sid.empty()) return Permanent("sms: notify.sms.account_sid is not set");
    if (sms.auth_token.empty()) return Permanent("sms: notify.sms.auth_token is not set");
    if (sms.from.empty()) return Permanent("sms: notify.sms.from is not set");
    if (t.to.empty()) return Permanent("sms: the target has no phone number (to)");
    return Post(SmsMessagesUrl(settings_), "application/x-www-form-urlencoded",
                FormatSmsForm(d, settings_), true);
  }

  // A handle ready for a new request: created on first use, else reset (which keeps its open
  // connections), with the options every request shares.
  CURL* Prepare(CurlEasy& handle) {
    if (handle == nullptr) {
      handle.reset(curl_easy_init());
      if (handle == nullptr) return nullptr;
    } else {
      curl_easy_reset(handle.get());
    }
    CURL* h = handle.get();
    long timeout_ms = static_cast<long>(std::max<std::int64_t>(1, settings_.timeout_ns / kNsPerMs));
    errbuf_[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf_);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    return h;
  }

  std::string CurlDetail(CURLcode rc) const {
    std::string detail = "curl: ";
    detail += curl_easy_strerror(rc);
    std::string err = OneLine(std::string_view(errbuf_, strnlen(errbuf_, sizeof(errbuf_))));
    if (!err.empty()) detail += " (" + err + ")";
    return detail;
  }

  AttemptResult Post(const std::string& url, std::string_view content_type, const std::string& body,
                     bool basic_auth) {
    CURL* h = Prepare(http_);
    if (h == nullptr) return AttemptResult{false, true, 0, "curl: cannot create a handle"};
    HeaderList headers;
    if (!headers.Add("Content-Type: " + std::string(content_type)) ||
        !headers.Add("Accept: application/json") || !headers.Add("Expect:")) {
      return AttemptResult{false, true, 0, "curl: out of memory"};
    }
    std::string response;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "aquawatch");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &KeepResponse);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    if (basic_auth) {
      curl_easy_setopt(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(h, CURLOPT_USERNAME, settings_.sms.account_sid.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.sms.auth_token.c_str());
    }
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    // The handle must not keep pointers to this frame's strings and lists past the request.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);

    AttemptResult r;
    r.status = static_cast<int>(code);
    if (rc != CURLE_OK) {
      r.retryable = !IsPermanentCurlError(rc);
      r.detail = CurlDetail(rc);
      return r;
    }
    r.detail = "HTTP " + std::to_string(code);
    if (code >= 200 && code < 300) {
      r.ok = true;
      r.retryable = false;
      return r;
    }
    r.retryable = code == 408 || code == 429 || (code >= 500 && code < 600);
    std::string snippet(Utf8Prefix(OneLine(response), 200));
    if (!snippet.empty()) r.detail += ": " + snippet;
    return r;
  }

  AttemptResult SendEmail(const Delivery& d, const Target& t) {
    const ChannelSettings::Email& email = settings_.email;
    if (email.url.empty()) return Permanent("email: notify.email.url is not set");
    if (email.from.empty()) return Permanent("email: notify.email.from is not set");
    if (t.to.empty()) return Permanent("email: the target has no address (to)");
    const std::optional<std::string> from = MailAddress(email.from);
    const std::optional<std::string> rcpt = MailAddress(t.to);
    if (!from) return Permanent("email: notify.email.from is not an address");
    if (!rcpt) {
      return Permanent("email: " + QuoteClientText(OneLine(t.to)) + " is not an address");
    }
    const std::string message = FormatEmail(d, settings_, clock_.NowNs());

    CURL* h = Prepare(smtp_);
    if (h == nullptr) return AttemptResult{false, true, 0, "curl: cannot create a handle"};
    HeaderList recipients;
    if (!recipients.Add("<" + *rcpt + ">")) return AttemptResult{false, true, 0, "out of memory"};
    const std::string mail_from = "<" + *from + ">";
    Upload upload{message};
    curl_easy_setopt(h, CURLOPT_URL, email.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients.get());
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadUpload);
    curl_easy_setopt(h, CURLOPT_READDATA, &upload);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
    if (!email.username.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, email.username.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, email.password.c_str());
    }
    if (email.starttls) curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, nullptr);

    AttemptResult r;
    r.status = static_cast<int>(code);
    if (rc == CURLE_OK) {
      r.ok = true;
      r.retryable = false;
      r.detail = "SMTP " + std::to_string(code);
      return r;
    }
    // SMTP's 5xx replies are permanent (no such mailbox, authentication refused), 4xx transient.
    r.retryable = !IsPermanentCurlError(rc) && !(code >= 500 && code < 600);
    r.detail = CurlDetail(rc);
    if (code != 0) r.detail = "SMTP " + std::to_string(code) + ": " + r.detail;
    return r;
  }

  const ChannelSettings settings_;
  Clock& clock_;
  CurlEasy http_, smtp_;
  char errbuf_[CURL_ERROR_SIZE] = {};
};

}  // namespace

std::unique_ptr<ChannelSender> NewCurlSender(const ChannelSettings& settings, Clock& clock) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<CurlSender>(settings, clock);
}

}  // namespace aquawatch
