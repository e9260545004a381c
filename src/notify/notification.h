// Notification: one message about one alert to one target (a phone, a mailbox, a webhook ...),
// with its delivery record (docs/notifications.md).
//
// The Notifier decides who is told what and when (routes, escalation stages, repeats, quiet
// hours); a ChannelSender turns one Delivery into the bytes a channel expects and sends them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "alert/alert.h"

namespace aquawatch {

enum class ChannelKind : std::uint8_t {
  kWebhook,       // generic JSON POST
  kSlack,         // Slack incoming-webhook JSON
  kPagerDuty,     // PagerDuty Events API v2
  kSms,           // an HTTP SMS gateway shaped like Twilio's Messages API
  kEmail,         // SMTP through libcurl
  kAlertmanager,  // Prometheus Alertmanager POST /api/v2/alerts
};
std::string_view ChannelName(ChannelKind c);
std::optional<ChannelKind> ParseChannel(std::string_view name);
inline constexpr int kChannelCount = 6;

// Where a notification goes: one entry of a receiver.
struct Target {
  ChannelKind channel = ChannelKind::kWebhook;
  // webhook, slack, alertmanager: the endpoint (alertmanager: its base URL, e.g.
  // http://am:9093); pagerduty: the events endpoint (empty = PagerDuty's public one).
  std::string url;
  std::string to;           // sms: the phone number (E.164); email: the address
  std::string routing_key;  // pagerduty: the integration's routing key

  // What the API and logs may show: the channel and the URL or address, never a key.
  std::string Describe() const;
};

// Channel settings that are the same for every target and may hold secrets: from config only,
// never over the API, never logged.
struct ChannelSettings {
  struct Sms {
    std::string base_url;  // e.g. https://api.twilio.com
    std::string account_sid, auth_token, from;
  } sms;
  struct Email {
    std::string url;  // smtp://host:port (smtps:// for implicit TLS)
    std::string from, username, password;
    bool starttls = false;  // require STARTTLS on smtp://
  } email;
  // Links in messages point at <public_url>/api/v1/alerts/<id>.
  std::string public_url = "http://127.0.0.1:8080";
  std::int64_t timeout_ns = 10'000'000'000;  // per attempt
};

// What one attempt sends.
struct Delivery {
  std::uint64_t notification_id = 0;
  const Alert* alert = nullptr;
  bool resolved = false;      // tells the alert is resolved (else: it is firing)
  std::uint32_t stage = 0;    // escalation stage that sent it
  std::uint32_t repeat = 0;   // 0 = first time at this stage, 1, 2 ... repeats
  std::string_view receiver;  // the receiver's name
  const Target* target = nullptr;
};

struct AttemptResult {
  bool ok = false;
  // A failure worth trying again (a timeout, a refused connection, HTTP 5xx or 429); a 4xx
  // other than 408/429 is permanent, so the notification fails at once.
  bool retryable = true;
  int status = 0;      // HTTP status or SMTP reply code; 0 when none came back
  std::string detail;  // e.g. "HTTP 503: upstream busy", "curl: Couldn't connect to server"
};

// Sends deliveries on one channel or all. Not thread-safe: each delivery worker owns one.
class ChannelSender {
 public:
  virtual ~ChannelSender() = default;
  virtual AttemptResult Send(const Delivery& d) = 0;
};

}  // namespace aquawatch
