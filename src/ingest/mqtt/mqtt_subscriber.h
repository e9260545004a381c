// MqttSubscriber: a small MQTT 3.1.1 client that subscribes to one topic filter and lets the
// application acknowledge each QoS 1 message itself, after the message is durable.
//
// Why our own: Eclipse Paho C/C++ and libmosquitto (the clients Debian packages) send PUBACK as
// soon as a PUBLISH arrives, before the application has seen it (paho.mqtt.c#522,
// mosquitto#118), so a crash after the PUBACK loses a message the broker believes delivered.
// This client sends PUBACK only when Ack() is called, in the order the messages arrived
// (MQTT 3.1.1 section 4.6), over a persistent session (clean session off), so a message the
// process did not acknowledge before it died is delivered again by the broker.
//
// Only what a subscriber needs: CONNECT (optional user name and password), SUBSCRIBE with QoS 0
// or 1, PUBLISH in (QoS 0 and 1), PUBACK out, PINGREQ/PINGRESP, DISCONNECT. Plain TCP, no TLS.
// The wire format lives in mqtt_codec.h; the design is in README.md beside this file.
//
// Thread-safety: Start and Stop from one thread (not from the handler). The handler runs on the
// subscriber's reader thread, one message at a time, and is first called after Start has
// returned. Ack, connected and stats may be called from any thread, the handler included.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"

namespace aquawatch {

struct MqttSubscriberOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 1883;
  std::string client_id = "aquawatch";
  std::string username;  // empty: none
  std::string password;  // needs a user name (Start refuses it alone); never logged
  std::string topic = "aquawatch/+/readings";
  int qos = 1;                 // 0 or 1
  bool clean_session = false;  // false: the broker keeps unacknowledged messages for us
  // PINGREQ when nothing else was sent for this long (0 to 65535; 0 turns keep-alive off). A
  // connection that answers no PINGREQ within this long again is treated as lost.
  int keep_alive_seconds = 20;
  // A PUBLISH larger than this is not handed to the application; it is acknowledged (so the
  // broker does not send it for ever), counted and logged.
  // Counted over the whole packet (fixed header included). Any other packet over it is a
  // protocol error that drops the connection.
  std::size_t max_packet_bytes = 16u << 20;
  // Bounds the TCP connect, the CONNACK and the SUBACK wait, and any one write to the socket.
  int connect_timeout_ms = 10'000;
  int reconnect_min_ms = 100;  // backoff between reconnect attempts doubles up to the max
  int reconnect_max_ms = 10'000;
};

// "tcp://host:port", "mqtt://host:port", "host:port" or "host" (port defaults to 1883); an IPv6
// address goes in brackets ("[::1]:1883"). Other schemes (ssl://, ws://) are refused.
Result<std::pair<std::string, std::uint16_t>> ParseMqttBroker(std::string_view url);

struct MqttMessage {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool dup = false;  // the broker says it may have delivered this message before
  // Pass to Ack() once the message is handled. Tokens of a connection that has since dropped
  // are ignored by Ack (the broker delivers those messages again). Never 0.
  std::uint64_t token = 0;
};

struct MqttSubscriberStats {
  std::uint64_t messages = 0;           // PUBLISH packets handed to the handler
  std::uint64_t acks = 0;               // PUBACK packets sent
  std::uint64_t oversized = 0;          // PUBLISH packets over max_packet_bytes (acked, not handed)
  std::uint64_t reconnects = 0;         // connections made after the first
  std::uint64_t stale_acks = 0;         // Ack() calls for a connection that had dropped
  std::uint64_t redelivered = 0;        // messages handed out with the DUP flag set
  std::uint64_t connection_losses = 0;  // established connections that dropped (Stop excluded)
};

class MqttSubscriber {
 public:
  // Runs on the reader thread for every PUBLISH, in arrival order. It may block: nothing more
  // is read from the broker meanwhile (that is the backpressure; keep-alive pings still go out).
  // It must not throw, and it must return for Stop to finish (Stop cannot interrupt it).
  using Handler = std::function<void(MqttMessage&& message)>;

  // Connects, waits for CONNACK and SUBACK (up to connect_timeout_ms), then starts the reader.
  // After that it reconnects by itself whenever the connection drops. Messages a resumed
  // session sends before the SUBACK are held and handed out once Start has returned. Fails with
  // the broker's refusal in words ("not authorized"), or InvalidArgument for bad options.
  static Result<std::unique_ptr<MqttSubscriber>> Start(const MqttSubscriberOptions& options,
                                                       Handler handler);
  virtual ~MqttSubscriber() = default;

  // Queues the PUBACK of a QoS 1 message; it goes out once every QoS 1 message that arrived
  // before it on the same connection has been acknowledged too. A no-op for QoS 0 messages,
  // which need no PUBACK and hold back none (the broker keeps no copy of them to redeliver).
  // Acknowledging a token twice is harmless.
  virtual void Ack(std::uint64_t token) = 0;

  // Stops handing out messages, waits up to `drain` for the ones handed out to be acknowledged,
  // sends their PUBACKs, disconnects and joins its threads. Messages not acknowledged by then
  // stay with the broker and come again with the next session. Does not wait for a broker that
  // is gone; does wait for a handler call in progress to return. Idempotent; the destructor
  // calls Stop(0ms).
  virtual void Stop(std::chrono::milliseconds drain) = 0;

  // True while connected and subscribed (after the SUBACK).
  virtual bool connected() const = 0;
  virtual MqttSubscriberStats stats() const = 0;
};

}  // namespace aquawatch
