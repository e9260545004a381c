// Channel senders: the bytes each channel expects for one Delivery (pure functions, so they are
// testable without a network), and the libcurl sender that posts them (docs/notifications.md).
//
// Thread-safety: the Format* functions are pure and may be called from any thread. A sender from
// NewCurlSender is not thread-safe: each delivery worker thread owns one (it keeps a libcurl
// handle, and with it the open connections, between deliveries).
//
// Secrets (sms.auth_token, email.password, a target's routing_key) go only into the request; they
// never appear in Target::Describe() or in AttemptResult::detail.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "notify/notification.h"

namespace aquawatch {

// PagerDuty's public Events API v2 endpoint, used when a pagerduty target has no url.
inline constexpr std::string_view kPagerDutyEventsUrl = "https://events.pagerduty.com/v2/enqueue";

// All the Format* functions REQUIRE d.alert != nullptr and d.target != nullptr.

// <public_url>/api/v1/alerts/<id> (a trailing '/' of public_url is dropped).
std::string AlertLink(const Delivery& d, const ChannelSettings& s);

// One line for people: "[HIGH] probable_contamination at sensor S1 (north, z1)", or
// "[RESOLVED] ..." when the delivery tells the alert is resolved. No control characters.
std::string AlertSummaryLine(const Delivery& d);

// Generic webhook: {"version":1,"source":"aquawatch","event":"firing"|"resolved",
// "notification_id","receiver","stage","repeat","link","alert":{AppendAlertJson}}.
std::string FormatWebhookJson(const Delivery& d, const ChannelSettings& s);

// Slack incoming webhook: {"text": summary, "attachments":[{"color","title","title_link","text",
// "fields":[...],"ts"}]}. Text is escaped for Slack (&amp; &lt; &gt;).
std::string FormatSlackJson(const Delivery& d, const ChannelSettings& s);

// PagerDuty Events API v2: a "trigger" event with payload, links and client, or for a resolved
// alert a "resolve" event (routing_key, event_action, dedup_key only). The dedup key is
// "aquawatch-alert-<id>", so a resolve closes the incident its trigger opened.
std::string FormatPagerDutyJson(const Delivery& d, const ChannelSettings& s);

// The text of an SMS: "[HIGH] <what> at sensor S (site, zone): <message>. <link>", at most
// kSmsMaxChars code points (the message is cut, the link kept).
inline constexpr std::size_t kSmsMaxChars = 320;
std::string SmsText(const Delivery& d, const ChannelSettings& s);
// The application/x-www-form-urlencoded body of Twilio's Messages API: To, From, Body.
std::string FormatSmsForm(const Delivery& d, const ChannelSettings& s);
// <sms.base_url>/2010-04-01/Accounts/<account_sid>/Messages.json
std::string SmsMessagesUrl(const ChannelSettings& s);

// A complete RFC 5322 message with CRLF line endings: headers (Date at `now_ns`, From, To,
// Subject, Message-ID <aquawatch-notification-<id>@aquawatch>, MIME-Version) and a
// multipart/alternative body with a text/plain and a text/html part, UTF-8, 8bit, lines at most
// 998 bytes. Header values never carry CR/LF from alert text; a non-ASCII Subject is RFC 2047
// encoded.
std::string FormatEmail(const Delivery& d, const ChannelSettings& s, std::int64_t now_ns);

// Alertmanager v2 (POST <url>/api/v2/alerts): a JSON array with one alert {"labels",
// "annotations","startsAt","endsAt" (resolved only),"generatorURL"}. A resolved alert without
// resolved_at_ns ends at `now_ns`.
//
// Alertmanager considers a firing alert resolved when it has not been re-sent for its
// resolve_timeout (5 minutes by default); a receiver that is an Alertmanager wants repeats.
std::string FormatAlertmanagerJson(const Delivery& d, const ChannelSettings& s,
                                   std::int64_t now_ns);

// application/x-www-form-urlencoded: alphanumerics and "*-._" kept, space as '+', every other
// byte as %XX.
std::string FormUrlEncode(std::string_view s);

// `url` without user:password@ (and, since such URLs often carry tokens, with "?…" for a query
// and no fragment), for logs and the API.
std::string RedactUrl(std::string_view url);

// The sender for every channel, over libcurl. Deliveries with a missing setting fail permanently
// with a detail naming it (e.g. "sms: notify.sms.base_url is not set"). `clock` gives the Date of
// emails and the end of resolved Alertmanager alerts; it must outlive the sender. Initialises
// libcurl once per process.
std::unique_ptr<ChannelSender> NewCurlSender(const ChannelSettings& settings,
                                             Clock& clock = SystemClock());

}  // namespace aquawatch
