#include "notify/channels.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.h"

namespace aquawatch {
namespace {

namespace json = boost::json;

constexpr std::int64_t kOpened = 1'795'773'600 * kNsPerSecond;  // 2026-11-27T10:00:00Z, a Friday
constexpr std::int64_t kReading = kOpened + 90 * kNsPerSecond + 250 * kNsPerMs;
constexpr std::int64_t kUpdated = kOpened + 95 * kNsPerSecond;
constexpr std::int64_t kNow = kOpened + 600 * kNsPerSecond;

class FixedClock final : public Clock {
 public:
  std::int64_t NowNs() const override { return kNow; }
  std::int64_t MonotonicNs() const override { return kNow; }
};

Alert MakeAlert() {
  Alert a;
  a.id = 42;
  a.sensor = "S-7";
  a.site = "north";
  a.zone = "z1";
  a.kind = "event";
  a.parameter = "free_chlorine_mg_l";
  a.classification = "probable_contamination";
  a.priority = AlertPriority::kHigh;
  a.value = 0.12;
  a.threshold = 0.2;
  a.reading_time_ns = kReading;
  a.received_ns = kReading + 5 * kNsPerMs;
  a.opened_ns = kOpened;
  a.updated_at_ns = kUpdated;
  a.message = "chlorine fell to 0.12 mg/L\nturbidity rose to 4.1 NTU";
  return a;
}

Target MakeTarget(ChannelKind channel, std::string url = "", std::string to = "",
                  std::string routing_key = "") {
  Target t;
  t.channel = channel;
  t.url = std::move(url);
  t.to = std::move(to);
  t.routing_key = std::move(routing_key);
  return t;
}

// An alert, a target and the settings, and the Delivery that points at them.
struct Case {
  Alert alert = MakeAlert();
  Target target;
  ChannelSettings settings;
  bool resolved = false;

  Case() { settings.public_url = "http://aw.example:8080/"; }
  Delivery delivery() const {
    return Delivery{.notification_id = 7,
                    .alert = &alert,
                    .resolved = resolved,
                    .stage = 1,
                    .repeat = 2,
                    .receiver = "ops",
                    .target = &target};
  }
};

constexpr std::string_view kLink = "http://aw.example:8080/api/v1/alerts/42";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string FormDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The pairs of an application/x-www-form-urlencoded body, decoded.
std::vector<std::pair<std::string, std::string>> ParseForm(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    std::size_t eq = pair.find('=');
    pairs.emplace_back(FormDecode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? "" : FormDecode(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return pairs;
}

std::string Base64Decode(std::string_view s) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    std::size_t v = kAlphabet.find(c);
    if (v == std::string::npos) break;  // '=' padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::size_t CountCodePoints(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The header block of a message (up to the first empty line) and the rest.
std::pair<std::string, std::string> SplitMessage(const std::string& m) {
  std::size_t end = m.find("\r\n\r\n");
  if (end == std::string::npos) return {m, ""};
  return {m.substr(0, end + 2), m.substr(end + 4)};
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    std::size_t end = text.find("\r\n");
    lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 2);
  }
  return lines;
}

// The part of a multipart message whose Content-Type starts with `type`, without its headers.
std::string Part(const std::string& body, std::string_view type) {
  std::size_t at = body.find("Content-Type: " + std::string(type));
  if (at == std::string::npos) return "";
  std::size_t start = body.find("\r\n\r\n", at);
  std::size_t end = body.find("\r\n--=_aquawatch", start);
  return body.substr(start + 4, end - start - 4);
}

// --- names and descriptions -----------------------------------------------------------------

TEST(ChannelFormat, ParseChannelRoundTripsEveryName) {
  for (int i = 0; i < kChannelCount; ++i) {
    auto kind = static_cast<ChannelKind>(i);
    std::optional<ChannelKind> parsed = ParseChannel(ChannelName(kind));
    ASSERT_TRUE(parsed.has_value()) << ChannelName(kind);
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ChannelName(ChannelKind::kAlertmanager), "alertmanager");
  EXPECT_EQ(ParseChannel("pagerduty"), ChannelKind::kPagerDuty);
  EXPECT_FALSE(ParseChannel("Slack").has_value());
  EXPECT_FALSE(ParseChannel("").has_value());
  EXPECT_FALSE(ParseChannel("pager duty").has_value());
}

TEST(ChannelFormat, DescribeShowsWhereButNeverASecret) {
  Target webhook = MakeTarget(ChannelKind::kWebhook, "https://user:pa55@hooks.example/x/y");
  EXPECT_EQ(webhook.Describe(), "webhook https://hooks.example/x/y");
  webhook.url = "https://hooks.example/x/y?token=t0ken#frag";
  EXPECT_EQ(webhook.Describe(), "webhook https://hooks.example/x/y?…");

  Target pd = MakeTarget(ChannelKind::kPagerDuty, "", "", "R0UTINGKEY");
  EXPECT_EQ(pd.Describe(), "pagerduty https://events.pagerduty.com/v2/enqueue");
  pd.url = "http://u:pw@pd.internal:8080/v2/enqueue";
  EXPECT_EQ(pd.Describe(), "pagerduty http://pd.internal:8080/v2/enqueue");
  EXPECT_FALSE(Contains(pd.Describe(), "R0UTINGKEY"));

  Target slack =
      MakeTarget(ChannelKind::kSlack, "https://hooks.slack.com/services/T000/B000/XXXXSECRET");
  EXPECT_EQ(slack.Describe(), "slack https://hooks.slack.com/services/T000/B000/…");

  Target am = MakeTarget(ChannelKind::kAlertmanager, "http://admin:pw@am:9093");
  EXPECT_EQ(am.Describe(), "alertmanager http://am:9093");

  EXPECT_EQ(MakeTarget(ChannelKind::kSms, "", "+15550100").Describe(), "sms +15550100");
  EXPECT_EQ(MakeTarget(ChannelKind::kEmail, "", "ops@x").Describe(), "email ops@x");
  EXPECT_EQ(MakeTarget(ChannelKind::kEmail, "", "ops@x\r\nBcc: y").Describe(),
            "email ops@x Bcc: y");
}

TEST(ChannelFormat, RedactUrlDropsUserinfoOnly) {
  EXPECT_EQ(RedactUrl("https://a:b@h:1/p"), "https://h:1/p");
  EXPECT_EQ(RedactUrl("https://h/p@q"), "https://h/p@q") << "an '@' in the path is not userinfo";
  EXPECT_EQ(RedactUrl("https://h"), "https://h");
  EXPECT_EQ(RedactUrl(""), "");
}

TEST(ChannelFormat, SummaryLineNamesWhatAndWhere) {
  Case c;
  EXPECT_EQ(AlertSummaryLine(c.delivery()),
            "[HIGH] probable_contamination at sensor S-7 (north, z1)");
  c.resolved = true;
  EXPECT_EQ(AlertSummaryLine(c.delivery()),
            "[RESOLVED] probable_contamination at sensor S-7 (north, z1)");
  c.resolved = false;
  c.alert.kind = "threshold";
  c.alert.classification = "";
  c.alert.level = Level::kCriticalLow;
  c.alert.priority = AlertPriority::kMedium;
  EXPECT_EQ(AlertSummaryLine(c.delivery()),
            "[MEDIUM] free_chlorine_mg_l critical_low at sensor S-7 (north, z1)");
  c.alert.kind = "zone_event";
  c.alert.classification = "water_quality_deviation";
  c.alert.sensor = "";
  c.alert.priority = AlertPriority::kLow;
  EXPECT_EQ(AlertSummaryLine(c.delivery()), "[LOW] water_quality_deviation in zone z1 (north)");
  c.alert.zone = "z1\r\nX-Injected: 1";
  EXPECT_FALSE(Contains(AlertSummaryLine(c.delivery()), "\n"));
}

// --- webhook ---------------------------------------------------------------------------------

TEST(ChannelFormat, WebhookJsonCarriesTheDeliveryAndTheAlert) {
  Case c;
  json::value v = json::parse(FormatWebhookJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("version").as_int64(), 1);
  EXPECT_EQ(v.at("source").as_string(), "aquawatch");
  EXPECT_EQ(v.at("event").as_string(), "firing");
  EXPECT_EQ(v.at("notification_id").as_int64(), 7);
  EXPECT_EQ(v.at("receiver").as_string(), "ops");
  EXPECT_EQ(v.at("stage").as_int64(), 1);
  EXPECT_EQ(v.at("repeat").as_int64(), 2);
  EXPECT_EQ(v.at("link").as_string(), kLink);
  const json::object& alert = v.at("alert").as_object();
  EXPECT_EQ(alert.at("id").as_int64(), 42);
  EXPECT_EQ(alert.at("sensor").as_string(), "S-7");
  EXPECT_EQ(alert.at("classification").as_string(), "probable_contamination");
  EXPECT_EQ(alert.at("message").as_string(), c.alert.message);

  c.resolved = true;
  c.alert.state = AlertState::kResolved;
  v = json::parse(FormatWebhookJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("event").as_string(), "resolved");
  EXPECT_EQ(v.at("alert").at("state").as_string(), "resolved");
}

// --- slack -----------------------------------------------------------------------------------

std::map<std::string, std::string> SlackFields(const json::value& v) {
  std::map<std::string, std::string> fields;
  for (const json::value& f : v.at("attachments").at(0).at("fields").as_array()) {
    EXPECT_TRUE(f.at("short").as_bool());
    fields[std::string(f.at("title").as_string())] = std::string(f.at("value").as_string());
  }
  return fields;
}

TEST(ChannelFormat, SlackJsonHasSummaryColorFieldsAndLink) {
  Case c;
  json::value v = json::parse(FormatSlackJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("text").as_string(), "[HIGH] probable_contamination at sensor S-7 (north, z1)");
  const json::object& att = v.at("attachments").at(0).as_object();
  EXPECT_EQ(att.at("color").as_string(), "#e01e5a");
  EXPECT_EQ(att.at("title").as_string(), "probable_contamination at sensor S-7 (north, z1)");
  EXPECT_EQ(att.at("title_link").as_string(), kLink);
  EXPECT_EQ(att.at("text").as_string(), c.alert.message);
  EXPECT_EQ(att.at("ts").as_int64(), kUpdated / kNsPerSecond);
  std::map<std::string, std::string> fields = SlackFields(v);
  EXPECT_EQ(fields["Sensor"], "S-7");
  EXPECT_EQ(fields["Site"], "north");
  EXPECT_EQ(fields["Zone"], "z1");
  EXPECT_EQ(fields["Priority"], "high");
  EXPECT_EQ(fields["Kind"], "event");
  EXPECT_EQ(fields["Value"], "0.12");
  EXPECT_EQ(fields["Threshold"], "0.2");

  c.alert.priority = AlertPriority::kMedium;
  EXPECT_EQ(json::parse(FormatSlackJson(c.delivery(), c.settings))
                .at("attachments")
                .at(0)
                .at("color")
                .as_string(),
            "#f2930b");
  c.alert.priority = AlertPriority::kLow;
  EXPECT_EQ(json::parse(FormatSlackJson(c.delivery(), c.settings))
                .at("attachments")
                .at(0)
                .at("color")
                .as_string(),
            "#9e9e9e");
  c.resolved = true;
  v = json::parse(FormatSlackJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("attachments").at(0).at("color").as_string(), "#2eb67d");
  EXPECT_TRUE(v.at("text").as_string().starts_with("[RESOLVED]"));
}

TEST(ChannelFormat, SlackJsonEscapesMarkupAndLeavesUnsetFieldsOut) {
  Case c;
  c.alert.message = "ratio <0.5 & falling <!channel>";
  c.alert.sensor = "";
  c.alert.kind = "zone_event";
  c.alert.value = 0;
  c.alert.threshold = 0;
  json::value v = json::parse(FormatSlackJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("attachments").at(0).at("text").as_string(),
            "ratio &lt;0.5 &amp; falling &lt;!channel&gt;");
  std::map<std::string, std::string> fields = SlackFields(v);
  EXPECT_FALSE(fields.contains("Sensor"));
  EXPECT_FALSE(fields.contains("Value"));
  EXPECT_FALSE(fields.contains("Threshold"));
  EXPECT_EQ(fields["Zone"], "z1");
}

// --- pagerduty -------------------------------------------------------------------------------

TEST(ChannelFormat, PagerDutyTriggerFollowsEventsApiV2) {
  Case c;
  c.target = MakeTarget(ChannelKind::kPagerDuty, "", "", "R0UTINGKEY");
  json::value v = json::parse(FormatPagerDutyJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("routing_key").as_string(), "R0UTINGKEY");
  EXPECT_EQ(v.at("event_action").as_string(), "trigger");
  EXPECT_EQ(v.at("dedup_key").as_string(), "aquawatch-alert-42");
  EXPECT_EQ(v.at("client").as_string(), "aquawatch");
  const json::object& p = v.at("payload").as_object();
  EXPECT_TRUE(p.at("summary").as_string().starts_with("[HIGH] probable_contamination"));
  EXPECT_TRUE(Contains(p.at("summary").as_string(), "chlorine fell to 0.12 mg/L"));
  EXPECT_EQ(p.at("source").as_string(), "S-7");
  EXPECT_EQ(p.at("severity").as_string(), "critical");
  EXPECT_EQ(p.at("timestamp").as_string(), FormatRfc3339(kReading));
  EXPECT_EQ(p.at("component").as_string(), "free_chlorine_mg_l");
  EXPECT_EQ(p.at("group").as_string(), "north");
  EXPECT_EQ(p.at("class").as_string(), "event");
  EXPECT_EQ(p.at("custom_details").at("id").as_int64(), 42);
  EXPECT_EQ(p.at("custom_details").at("zone").as_string(), "z1");
  const json::value& link = v.at("links").at(0);
  EXPECT_EQ(link.at("href").as_string(), kLink);
  EXPECT_EQ(link.at("text").as_string(), "aquawatch alert 42");

  c.alert.priority = AlertPriority::kMedium;
  c.alert.sensor = "";
  c.alert.site = "";
  v = json::parse(FormatPagerDutyJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("payload").at("severity").as_string(), "warning");
  EXPECT_EQ(v.at("payload").at("source").as_string(), "z1");
  EXPECT_EQ(v.at("payload").at("group").as_string(), "z1");
  c.alert.priority = AlertPriority::kLow;
  v = json::parse(FormatPagerDutyJson(c.delivery(), c.settings));
  EXPECT_EQ(v.at("payload").at("severity").as_string(), "info");
}

TEST(ChannelFormat, PagerDutySummaryIsAtMost1024Bytes) {
  Case c;
  c.target.routing_key = "k";
  c.alert.message = "";
  for (int i = 0; i < 2000; ++i) c.alert.message += "ü";  // 4000 bytes
  json::value v = json::parse(FormatPagerDutyJson(c.delivery(), c.settings));
  std::string_view summary = v.at("payload").at("summary").as_string();
  EXPECT_LE(summary.size(), 1024u);
  EXPECT_GT(summary.size(), 1000u);
  EXPECT_TRUE(summary.ends_with("…"));
}

TEST(ChannelFormat, PagerDutyResolveSendsOnlyTheKeys) {
  Case c;
  c.target = MakeTarget(ChannelKind::kPagerDuty, "", "", "R0UTINGKEY");
  c.resolved = true;
  json::value v = json::parse(FormatPagerDutyJson(c.delivery(), c.settings));
  const json::object& o = v.as_object();
  EXPECT_EQ(o.size(), 3u);
  EXPECT_EQ(o.at("routing_key").as_string(), "R0UTINGKEY");
  EXPECT_EQ(o.at("event_action").as_string(), "resolve");
  EXPECT_EQ(o.at("dedup_key").as_string(), "aquawatch-alert-42");
}

// --- sms -------------------------------------------------------------------------------------

TEST(ChannelFormat, FormUrlEncodeEscapesEverythingButUnreserved) {
  EXPECT_EQ(FormUrlEncode("a b&c=d+e/ü~*-._"), "a+b%26c%3Dd%2Be%2F%C3%BC%7E*-._");
  EXPECT_EQ(FormUrlEncode(""), "");
}

TEST(ChannelFormat, SmsFormDecodesToToFromAndBody) {
  Case c;
  c.target = MakeTarget(ChannelKind::kSms, "", "+15550100");
  c.settings.sms.from = "+15550000";
  c.alert.message = "free & total = 0.1+0.2 mg/L at Zürich 水 100%";
  std::string body = FormatSmsForm(c.delivery(), c.settings);
  for (char ch : body) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || Contains("%&=+*-._", {&ch, 1}))
        << "unexpected byte " << static_cast<int>(static_cast<unsigned char>(ch));
  }
  auto form = ParseForm(body);
  ASSERT_EQ(form.size(), 3u);
  EXPECT_EQ(form[0], (std::pair<std::string, std::string>{"To", "+15550100"}));
  EXPECT_EQ(form[1], (std::pair<std::string, std::string>{"From", "+15550000"}));
  EXPECT_EQ(form[2].first, "Body");
  EXPECT_EQ(form[2].second, SmsText(c.delivery(), c.settings));
  EXPECT_EQ(form[2].second,
            "[HIGH] probable_contamination at sensor S-7 (north, z1): free & total = 0.1+0.2 "
            "mg/L at Zürich 水 100%. " +
                std::string(kLink));
}

TEST(ChannelFormat, SmsTextIsAtMost320CharactersAndKeepsTheLink) {
  Case c;
  c.alert.message = "";
  for (int i = 0; i < 500; ++i) c.alert.message += "水 ";
  std::string text = SmsText(c.delivery(), c.settings);
  EXPECT_LE(CountCodePoints(text), kSmsMaxChars);
  EXPECT_GT(CountCodePoints(text), kSmsMaxChars - 5);
  EXPECT_TRUE(text.ends_with("… " + std::string(kLink))) << text;
  c.alert.message = "line one\nline two";
  EXPECT_TRUE(Contains(SmsText(c.delivery(), c.settings), "line one line two."));
}

TEST(ChannelFormat, SmsUrlIsTwiliosMessagesResource) {
  ChannelSettings s;
  s.sms.base_url = "https://api.twilio.com/";
  s.sms.account_sid = "AC123";
  EXPECT_EQ(SmsMessagesUrl(s), "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
}

// --- email -----------------------------------------------------------------------------------

Case EmailCase() {
  Case c;
  c.target = MakeTarget(ChannelKind::kEmail, "", "ops@x.example");
  c.settings.email.from = "aquawatch <alerts@aw.example>";
  return c;
}

void ExpectCrlfOnly(const std::string& m) {
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
    }
    if (m[i] == '\r') {
      ASSERT_TRUE(i + 1 < m.size() && m[i + 1] == '\n') << "bare CR at " << i;
    }
  }
}

TEST(ChannelFormat, EmailIsAMultipartMessageWithCrlfLines) {
  Case c = EmailCase();
  std::string m = FormatEmail(c.delivery(), c.settings, kNow);
  ExpectCrlfOnly(m);
  EXPECT_TRUE(m.ends_with("\r\n"));
  auto [headers, body] = SplitMessage(m);
  EXPECT_TRUE(Contains(headers, "Date: Fri, 27 Nov 2026 10:10:00 +0000\r\n"));
  EXPECT_TRUE(Contains(headers, "From: aquawatch <alerts@aw.example>\r\n"));
  EXPECT_TRUE(Contains(headers, "To: ops@x.example\r\n"));
  EXPECT_TRUE(Contains(headers,
                       "Subject: [aquawatch HIGH] probable_contamination at sensor S-7 (north, "
                       "z1)\r\n"));
  EXPECT_TRUE(Contains(headers, "Message-ID: <aquawatch-notification-7@aquawatch>\r\n"));
  EXPECT_TRUE(Contains(headers, "MIME-Version: 1.0\r\n"));
  EXPECT_TRUE(Contains(headers, "Content-Type: multipart/alternative; boundary=\"=_aquawatch_7\""));
  EXPECT_TRUE(Contains(body, "\r\n--=_aquawatch_7--\r\n"));

  std::string text = Part(body, "text/plain; charset=utf-8");
  std::string html = Part(body, "text/html; charset=utf-8");
  ASSERT_FALSE(text.empty());
  ASSERT_FALSE(html.empty());
  EXPECT_TRUE(Contains(body, "Content-Transfer-Encoding: 8bit"));
  for (const std::string& part : {text, html}) {
    for (std::string_view shown : std::initializer_list<std::string_view>{
             "event", "probable_contamination", "S-7", "north", "z1", "free_chlorine_mg_l", "0.12",
             "0.2", "high", "open", "2026-11-27T10:00:00.000Z", "chlorine fell to 0.12 mg/L",
             "turbidity rose to 4.1 NTU", kLink}) {
      EXPECT_TRUE(Contains(part, shown)) << "missing " << shown << " in\n" << part;
    }
  }
  bool classification_row = false;
  for (const std::string& line : Lines(text)) {
    classification_row |=
        line.starts_with("Classification:") && line.ends_with(" probable_contamination");
  }
  EXPECT_TRUE(classification_row) << text;
  EXPECT_TRUE(Contains(html, "<a href=\"" + std::string(kLink) + "\">"));
}

TEST(ChannelFormat, EmailHeadersCannotBeInjectedFromAlertText) {
  Case c = EmailCase();
  c.alert.message = "spill\r\nBcc: x@evil.example\r\n\r\nfake body";
  c.alert.sensor = "S-7\r\nBcc: x@evil.example";
  c.alert.classification = "probable_contamination\nX-Evil: 1";
  std::string m = FormatEmail(c.delivery(), c.settings, kNow);
  ExpectCrlfOnly(m);
  auto [headers, body] = SplitMessage(m);
  for (const std::string& line : Lines(headers)) {
    EXPECT_FALSE(line.starts_with("Bcc")) << line;
    EXPECT_FALSE(line.starts_with("X-Evil")) << line;
  }
  EXPECT_TRUE(Contains(headers,
                       "Subject: [aquawatch HIGH] probable_contamination X-Evil: 1 at "
                       "sensor S-7 Bcc: x@evil.example (north, z1)\r\n"));
  // The message stays in the body, where it cannot be a header.
  EXPECT_TRUE(Contains(body, "spill\r\nBcc: x@evil.example\r\n"));
}

TEST(ChannelFormat, EmailEscapesHtmlAndKeepsLinesShort) {
  Case c = EmailCase();
  c.alert.message = "<script>alert('x')</script> & more\n" + std::string(3000, 'a') + "&amp";
  std::string m = FormatEmail(c.delivery(), c.settings, kNow);
  for (const std::string& line : Lines(m)) EXPECT_LE(line.size(), 998u);
  std::string html = Part(SplitMessage(m).second, "text/html");
  EXPECT_FALSE(Contains(html, "<script>"));
  EXPECT_TRUE(Contains(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
  std::string text = Part(SplitMessage(m).second, "text/plain");
  EXPECT_TRUE(Contains(text, "<script>alert('x')</script> & more"));
  std::string joined;
  for (const std::string& line : Lines(text)) joined += line;
  EXPECT_TRUE(Contains(joined, std::string(3000, 'a'))) << "a long line is wrapped, not cut";
}

TEST(ChannelFormat, EmailEncodesANonAsciiSubject) {
  Case c = EmailCase();
  c.alert.sensor = "Zürich-水-1";
  std::string m = FormatEmail(c.delivery(), c.settings, kNow);
  auto [headers, body] = SplitMessage(m);
  for (char ch : headers) EXPECT_LT(static_cast<unsigned char>(ch), 0x80);
  std::string subject;
  bool in_subject = false;
  for (const std::string& line : Lines(headers)) {
    if (line.starts_with("Subject: ")) {
      in_subject = true;
    } else if (!line.starts_with(" ")) {
      in_subject = false;
    }
    if (!in_subject) continue;
    EXPECT_LE(line.size(), 998u);
    std::size_t at = 0;
    while ((at = line.find("=?UTF-8?B?", at)) != std::string::npos) {
      std::size_t end = line.find("?=", at + 10);
      ASSERT_NE(end, std::string::npos);
      EXPECT_LE(end + 2 - at, 75u);
      subject += Base64Decode(line.substr(at + 10, end - at - 10));
      at = end + 2;
    }
  }
  EXPECT_EQ(subject, "[aquawatch HIGH] probable_contamination at sensor Zürich-水-1 (north, z1)");
  EXPECT_TRUE(Contains(body, "Zürich-水-1")) << "the body is UTF-8 as it is";
}

TEST(ChannelFormat, EmailTellsAResolution) {
  Case c = EmailCase();
  c.resolved = true;
  c.alert.state = AlertState::kResolved;
  c.alert.resolved_at_ns = kNow - kNsPerSecond;
  c.alert.resolved_by = "dana";
  std::string m = FormatEmail(c.delivery(), c.settings, kNow);
  EXPECT_TRUE(Contains(m, "Subject: [aquawatch RESOLVED] probable_contamination at sensor S-7"));
  std::string text = Part(SplitMessage(m).second, "text/plain");
  EXPECT_TRUE(Contains(text, "resolved"));
  EXPECT_TRUE(Contains(text, FormatRfc3339(kNow - kNsPerSecond)));
  EXPECT_TRUE(Contains(text, "dana"));
}

// --- alertmanager ----------------------------------------------------------------------------

TEST(ChannelFormat, AlertmanagerJsonIsOneAlertWithLabels) {
  Case c;
  c.target = MakeTarget(ChannelKind::kAlertmanager, "http://am:9093");
  json::value v = json::parse(FormatAlertmanagerJson(c.delivery(), c.settings, kNow));
  ASSERT_EQ(v.as_array().size(), 1u);
  const json::object& a = v.at(0).as_object();
  const json::object& labels = a.at("labels").as_object();
  EXPECT_EQ(labels.at("alertname").as_string(), "aquawatch_event");
  EXPECT_EQ(labels.at("aquawatch_id").as_string(), "42");
  EXPECT_EQ(labels.at("sensor").as_string(), "S-7");
  EXPECT_EQ(labels.at("site").as_string(), "north");
  EXPECT_EQ(labels.at("zone").as_string(), "z1");
  EXPECT_EQ(labels.at("kind").as_string(), "event");
  EXPECT_EQ(labels.at("priority").as_string(), "high");
  EXPECT_EQ(labels.at("severity").as_string(), "critical");
  EXPECT_EQ(labels.at("parameter").as_string(), "free_chlorine_mg_l");
  for (const auto& [key, value] : labels) EXPECT_TRUE(value.is_string()) << key;
  const json::object& ann = a.at("annotations").as_object();
  EXPECT_TRUE(ann.at("summary").as_string().starts_with("[HIGH] probable_contamination"));
  EXPECT_EQ(ann.at("description").as_string(), c.alert.message);
  EXPECT_EQ(ann.at("classification").as_string(), "probable_contamination");
  EXPECT_EQ(a.at("startsAt").as_string(), FormatRfc3339(kOpened));
  EXPECT_FALSE(a.contains("endsAt"));
  EXPECT_EQ(a.at("generatorURL").as_string(), kLink);
}

TEST(ChannelFormat, AlertmanagerJsonOmitsEmptyLabelsAndEndsResolvedAlerts) {
  Case c;
  c.alert.sensor = "";
  c.alert.parameter = "";
  c.alert.opened_ns = 0;
  c.resolved = true;
  c.alert.state = AlertState::kResolved;
  json::value v = json::parse(FormatAlertmanagerJson(c.delivery(), c.settings, kNow));
  const json::object& a = v.at(0).as_object();
  EXPECT_FALSE(a.at("labels").as_object().contains("sensor"));
  EXPECT_FALSE(a.at("labels").as_object().contains("parameter"));
  EXPECT_EQ(a.at("startsAt").as_string(), FormatRfc3339(kUpdated)) << "opened 0: updated_at";
  EXPECT_EQ(a.at("endsAt").as_string(), FormatRfc3339(kNow)) << "no resolved_at: now";
  c.alert.resolved_at_ns = kNow - 30 * kNsPerSecond;
  v = json::parse(FormatAlertmanagerJson(c.delivery(), c.settings, kNow));
  EXPECT_EQ(v.at(0).at("endsAt").as_string(), FormatRfc3339(kNow - 30 * kNsPerSecond));
}

// --- a tiny HTTP server ----------------------------------------------------------------------

struct HttpRequest {
  std::string request_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() == name.size() &&
          std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        return v;
      }
    }
    return "";
  }
};

// A loopback socket on a port the kernel picks.
int BindLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

// Accepts connections on 127.0.0.1 (a thread for each) and answers every request with one status
// line and body (keeping the connection open), or with answer=false never answers. Records what
// arrived.
class TestServer {
 public:
  TestServer() = default;
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  virtual ~TestServer() { Stop(); }

  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 protected:
  void Start() {
    fd_ = BindLoopback(&port_);
    ASSERT_GE(fd_, 0);
    ASSERT_EQ(listen(fd_, 16), 0);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  // Call from the derived destructor, before its members go.
  void Stop() {
    if (stop_.exchange(true)) return;
    if (accept_thread_.joinable()) accept_thread_.join();
    for (std::thread& t : connection_threads_) t.join();
    if (fd_ >= 0) close(fd_);
  }

  virtual void Serve(int fd) = 0;

  // Appends what arrives to `buf`; false at EOF, on error or when stopping.
  bool ReadSome(int fd, std::string& buf) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int n = poll(&p, 1, 20);
      if (n == 0) continue;
      if (n < 0) return false;
      char tmp[4096];
      ssize_t got = recv(fd, tmp, sizeof(tmp), 0);
      if (got <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(got));
      return true;
    }
    return false;
  }
  static void SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  bool stopping() const { return stop_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++connections_;
      connection_threads_.emplace_back([this, c] {
        Serve(c);
        close(c);
      });
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::vector<std::thread> connection_threads_;  // only the accept thread adds, before Stop joins
};

class FakeHttpServer final : public TestServer {
 public:
  FakeHttpServer(std::string status, std::string body, bool answer = true)
      : status_(std::move(status)), body_(std::move(body)), answer_(answer) {
    Start();
  }
  ~FakeHttpServer() override { Stop(); }

  std::string url(std::string_view path = "") const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(path);
  }
  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve(int fd) override {
    std::string buf;
    while (true) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadSome(fd, buf)) return;
      }
      HttpRequest r;
      std::string_view head(buf.data(), end);
      std::size_t eol = head.find("\r\n");
      r.request_line = std::string(head.substr(0, eol));
      std::size_t content_length = 0;
      while (eol != std::string_view::npos) {
        head.remove_prefix(eol + 2);
        eol = head.find("\r\n");
        std::string_view line = head.substr(0, eol);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        r.headers.emplace_back(line.substr(0, colon), value);
      }
      if (std::string cl = r.Header("Content-Length"); !cl.empty()) {
        content_length = std::stoul(cl);
      }
      while (buf.size() < end + 4 + content_length) {
        if (!ReadSome(fd, buf)) return;
      }
      r.body = buf.substr(end + 4, content_length);
      buf.erase(0, end + 4 + content_length);
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(r));
      }
      if (!answer_) {
        while (ReadSome(fd, buf)) {
        }
        return;
      }
      SendAll(fd, "HTTP/1.1 " + status_ + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                      std::to_string(body_.size()) + "\r\n\r\n" + body_);
    }
  }

  const std::string status_, body_;
  const bool answer_;
  mutable std::mutex mu_;
  std::vector<HttpRequest> requests_;
};

// --- a tiny SMTP server ----------------------------------------------------------------------

struct SmtpSession {
  std::vector<std::string> commands;  // every command line, in order
  std::string data;                   // the message, dot-unstuffed
};

class FakeSmtpServer final : public TestServer {
 public:
  explicit FakeSmtpServer(std::string rcpt_reply = "250 OK") : rcpt_reply_(std::move(rcpt_reply)) {
    Start();
  }
  ~FakeSmtpServer() override { Stop(); }

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port()); }
  std::vector<SmtpSession> sessions() const {
    std::lock_guard lock(mu_);
    return sessions_;
  }

 private:
  void Serve(int fd) override {
    std::size_t index;
    {
      std::lock_guard lock(mu_);
      index = sessions_.size();
      sessions_.emplace_back();
    }
    SendAll(fd, "220 fake ESMTP\r\n");
    std::string buf;
    while (true) {
      std::size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos) {
        if (!ReadSome(fd, buf)) return;
      }
      std::string line = buf.substr(0, eol);
      buf.erase(0, eol + 2);
      {
        std::lock_guard lock(mu_);
        sessions_[index].commands.push_back(line);
      }
      std::string verb = line.substr(0, 4);
      for (char& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (verb == "EHLO" || verb == "HELO") {
        SendAll(fd, "250 fake\r\n");
      } else if (verb == "MAIL" || verb == "RSET" || verb == "NOOP") {
        SendAll(fd, "250 OK\r\n");
      } else if (verb == "RCPT") {
        SendAll(fd, rcpt_reply_ + "\r\n");
      } else if (verb == "DATA") {
        SendAll(fd, "354 go ahead\r\n");
        std::size_t end;
        std::string data = "\r\n";  // so a terminator right at the start is found too
        data += buf;
        buf.clear();
        while ((end = data.find("\r\n.\r\n")) == std::string::npos) {
          if (!ReadSome(fd, data)) return;
        }
        buf = data.substr(end + 5);
        std::string message = Unstuff(std::string_view(data).substr(2, end));
        {
          std::lock_guard lock(mu_);
          sessions_[index].data = std::move(message);
        }
        SendAll(fd, "250 queued\r\n");
      } else if (verb == "QUIT") {
        SendAll(fd, "221 bye\r\n");
        return;
      } else {
        SendAll(fd, "502 not implemented\r\n");
      }
    }
  }

  static std::string Unstuff(std::string_view data) {
    std::string out;
    bool line_start = true;
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (line_start && data[i] == '.') {
        line_start = false;
        continue;  // the first dot of a line is stuffing (curl doubles leading dots)
      }
      out.push_back(data[i]);
      line_start = data[i] == '\n';
    }
    return out;
  }

  const std::string rcpt_reply_;
  mutable std::mutex mu_;
  std::vector<SmtpSession> sessions_;
};

// --- CurlSender ------------------------------------------------------------------------------

FixedClock fixed_clock;

Case WebhookCase(const std::string& url) {
  Case c;
  c.target = MakeTarget(ChannelKind::kWebhook, url);
  c.settings.timeout_ns = 5 * kNsPerSecond;
  return c;
}

TEST(CurlSender, WebhookPostsJson) {
  FakeHttpServer server("200 OK", "ok");
  Case c = WebhookCase(server.url("/hook"));
  auto sender = NewCurlSender(c.settings, fixed_clock);
  AttemptResult r = sender->Send(c.delivery());
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.status, 200);
  std::vector<HttpRequest> got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request_line, "POST /hook HTTP/1.1");
  EXPECT_EQ(got[0].Header("Content-Type"), "application/json");
  EXPECT_EQ(got[0].body, FormatWebhookJson(c.delivery(), c.settings));
  EXPECT_EQ(json::parse(got[0].body).at("alert").at("id").as_int64(), 42);
}

TEST(CurlSender, KeepsTheConnectionBetweenDeliveries) {
  FakeHttpServer server("202 Accepted", "");
  Case c = WebhookCase(server.url("/hook"));
  auto sender = NewCurlSender(c.settings, fixed_clock);
  EXPECT_TRUE(sender->Send(c.delivery()).ok);
  AttemptResult second = sender->Send(c.delivery());
  EXPECT_TRUE(second.ok) << second.detail;
  EXPECT_EQ(second.status, 202);
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.connections(), 1);
}

TEST(CurlSender, ServerErrorsAreRetryable) {
  for (std::string status : {"503 Service Unavailable", "500 Internal Server Error",
                             "429 Too Many Requests", "408 Request Timeout"}) {
    FakeHttpServer server(status, "upstream busy\nplease wait");
    Case c = WebhookCase(server.url("/hook"));
    AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
    EXPECT_FALSE(r.ok) << status;
    EXPECT_TRUE(r.retryable) << status;
    EXPECT_EQ(r.status, std::stoi(status));
    EXPECT_EQ(r.detail, "HTTP " + status.substr(0, 3) + ": upstream busy please wait");
  }
}

TEST(CurlSender, ClientErrorsArePermanent) {
  for (std::string status : {"400 Bad Request", "404 Not Found", "410 Gone"}) {
    FakeHttpServer server(status, std::string(500, 'x'));
    Case c = WebhookCase(server.url("/hook"));
    AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
    EXPECT_FALSE(r.ok) << status;
    EXPECT_FALSE(r.retryable) << status;
    EXPECT_EQ(r.status, std::stoi(status));
    EXPECT_EQ(r.detail, "HTTP " + status.substr(0, 3) + ": " + std::string(200, 'x'));
  }
}

TEST(CurlSender, SmsPostsTheFormWithBasicAuth) {
  FakeHttpServer server("201 Created", R"({"sid":"SM1","status":"queued"})");
  Case c;
  c.target = MakeTarget(ChannelKind::kSms, "", "+15550100");
  c.settings.sms = {.base_url = server.url(),
                    .account_sid = "AC123",
                    .auth_token = "secret",
                    .from = "+15550000"};
  AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.status, 201);
  EXPECT_FALSE(Contains(r.detail, "secret"));
  std::vector<HttpRequest> got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request_line, "POST /2010-04-01/Accounts/AC123/Messages.json HTTP/1.1");
  EXPECT_EQ(got[0].Header("Content-Type"), "application/x-www-form-urlencoded");
  std::string auth = got[0].Header("Authorization");
  ASSERT_TRUE(auth.starts_with("Basic ")) << auth;
  EXPECT_EQ(Base64Decode(auth.substr(6)), "AC123:secret");
  EXPECT_EQ(got[0].body, FormatSmsForm(c.delivery(), c.settings));
  auto form = ParseForm(got[0].body);
  ASSERT_EQ(form.size(), 3u);
  EXPECT_EQ(form[0].second, "+15550100");
}

TEST(CurlSender, DetailsNeverCarrySecrets) {
  // A server that echoes what it was sent must not make the detail show it.
  FakeHttpServer sms_server("401 Unauthorized", "bad credentials AC123:secret");
  Case c;
  c.target = MakeTarget(ChannelKind::kSms, "", "+15550100");
  c.settings.sms = {.base_url = sms_server.url(),
                    .account_sid = "AC123",
                    .auth_token = "secret",
                    .from = "+15550000"};
  AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_EQ(r.status, 401);
  EXPECT_FALSE(Contains(r.detail, "secret")) << r.detail;
  EXPECT_TRUE(Contains(r.detail, "HTTP 401")) << r.detail;

  FakeHttpServer pd_server("400 Bad Request", R"({"message":"invalid routing key R0UTINGKEY"})");
  c.target = MakeTarget(ChannelKind::kPagerDuty, pd_server.url("/v2/enqueue"), "", "R0UTINGKEY");
  r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_FALSE(Contains(r.detail, "R0UTINGKEY")) << r.detail;
  std::vector<HttpRequest> got = pd_server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request_line, "POST /v2/enqueue HTTP/1.1");
  EXPECT_EQ(json::parse(got[0].body).at("routing_key").as_string(), "R0UTINGKEY");
}

TEST(CurlSender, AlertmanagerPostsToApiV2Alerts) {
  FakeHttpServer server("200 OK", "");
  Case c;
  c.target = MakeTarget(ChannelKind::kAlertmanager, server.url("/"));
  AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  EXPECT_TRUE(r.ok) << r.detail;
  std::vector<HttpRequest> got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request_line, "POST /api/v2/alerts HTTP/1.1");
  EXPECT_EQ(got[0].Header("Content-Type"), "application/json");
  EXPECT_EQ(got[0].body, FormatAlertmanagerJson(c.delivery(), c.settings, kNow));
}

TEST(CurlSender, RefusedConnectionIsRetryable) {
  int port = 0;
  int fd = BindLoopback(&port);  // bound, never listening: connections are refused
  ASSERT_GE(fd, 0);
  Case c = WebhookCase("http://127.0.0.1:" + std::to_string(port) + "/hook");
  AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  close(fd);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.detail.starts_with("curl: ")) << r.detail;
}

TEST(CurlSender, TimeoutIsRetryable) {
  FakeHttpServer server("200 OK", "", /*answer=*/false);
  Case c = WebhookCase(server.url("/hook"));
  c.settings.timeout_ns = 300 * kNsPerMs;
  AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_TRUE(Contains(r.detail, "Timeout")) << r.detail;
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(CurlSender, MissingSettingsFailPermanently) {
  auto expect_permanent = [](const Case& c, std::string_view detail) {
    AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
    EXPECT_FALSE(r.ok) << detail;
    EXPECT_FALSE(r.retryable) << detail;
    EXPECT_EQ(r.detail, detail);
  };
  Case c;
  c.target = MakeTarget(ChannelKind::kSms, "", "+15550100");
  c.settings.sms = {
      .base_url = "", .account_sid = "AC123", .auth_token = "secret", .from = "+15550000"};
  expect_permanent(c, "sms: notify.sms.base_url is not set");
  c.settings.sms.base_url = "http://127.0.0.1:9";
  c.target.to = "";
  expect_permanent(c, "sms: the target has no phone number (to)");

  c.target = MakeTarget(ChannelKind::kEmail, "", "ops@x.example");
  c.settings.email.from = "alerts@aw.example";
  expect_permanent(c, "email: notify.email.url is not set");
  c.settings.email.url = "smtp://127.0.0.1:9";
  c.target.to = "";
  expect_permanent(c, "email: the target has no address (to)");
  c.target.to = "ops@x.example\r\nRCPT TO:<x@evil>";
  expect_permanent(c, "email: 'ops@x.example RCPT TO:<x@evil>' is not an address");
  c.target.to = "Ops <ops@x.example>, <x@evil>";
  expect_permanent(c, "email: 'Ops <ops@x.example>, <x@evil>' is not an address");

  c.target = MakeTarget(ChannelKind::kWebhook);
  expect_permanent(c, "webhook: the target has no url");
  c.target = MakeTarget(ChannelKind::kPagerDuty);
  expect_permanent(c, "pagerduty: the target has no routing_key");
  c.target = MakeTarget(ChannelKind::kWebhook, "file:///etc/passwd");
  AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable) << "only http and https: " << r.detail;

  Delivery nothing;
  EXPECT_FALSE(NewCurlSender(c.settings, fixed_clock)->Send(nothing).retryable);
}

TEST(CurlSender, EmailGoesOverSmtp) {
  FakeSmtpServer server;
  Case c = EmailCase();
  c.settings.email.url = server.url();
  c.alert.message = "line one\n.\n..two dots";  // leading dots must survive SMTP's stuffing
  {
    auto sender = NewCurlSender(c.settings, fixed_clock);
    AttemptResult r = sender->Send(c.delivery());
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(r.status, 250);
  }
  std::vector<SmtpSession> sessions = server.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  const std::vector<std::string>& cmds = sessions[0].commands;
  EXPECT_NE(std::find(cmds.begin(), cmds.end(), "MAIL FROM:<alerts@aw.example>"), cmds.end());
  EXPECT_NE(std::find(cmds.begin(), cmds.end(), "RCPT TO:<ops@x.example>"), cmds.end());
  EXPECT_EQ(sessions[0].data, FormatEmail(c.delivery(), c.settings, kNow));
}

TEST(CurlSender, SmtpRejectionsArePermanentOrRetryableByReplyCode) {
  {
    FakeSmtpServer server("550 5.1.1 no such user");
    Case c = EmailCase();
    c.settings.email.url = server.url();
    c.settings.email.username = "aw";
    c.settings.email.password = "hunter22";
    AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.retryable) << r.detail;
    EXPECT_EQ(r.status, 550);
    EXPECT_FALSE(Contains(r.detail, "hunter22"));
  }
  {
    FakeSmtpServer server("451 4.3.0 try again later");
    Case c = EmailCase();
    c.settings.email.url = server.url();
    AttemptResult r = NewCurlSender(c.settings, fixed_clock)->Send(c.delivery());
    EXPECT_FALSE(r.ok);
    EXPECT_TRUE(r.retryable) << r.detail;
    EXPECT_EQ(r.status, 451);
  }
}

}  // namespace
}  // namespace aquawatch
