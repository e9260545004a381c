// MqttListener: subscribes to a broker and ingests every message on the topic filter (default
// aquawatch/+/readings). A payload is JSON when it starts with `{` or `[`, line protocol
// otherwise. QoS 1 over a persistent session, so the broker keeps messages while aquawatch is
// down.
//
// A QoS 1 message is acknowledged to the broker (PUBACK) only once its readings are durable in
// a shard log, or once it is known that none of them can be stored (every line bad or over a
// limit; those are counted and logged). A crash before that leaves the message with the broker,
// which delivers it again: MQTT ingestion is at-least-once, and a redelivered reading replaces
// itself in the store rather than adding a row.
//
// Messages are handled one at a time on the subscriber's reader thread, which waits until the
// readings are durable: that is the backpressure, since nothing more is read from the broker
// meanwhile. While storage has failed, the same message is retried (with backoff) until it is
// stored or the listener stops; it is never dropped.
// Thread-safety: Start/Stop from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "ingest/decode/decode.h"
#include "ingest/ingest_channel.h"

namespace aquawatch {

struct MqttListenerOptions {
  std::string broker;  // e.g. tcp://127.0.0.1:1883; empty = MQTT off
  std::string topic = "aquawatch/+/readings";
  std::string client_id = "aquawatch";
  int qos = 1;
  Precision precision = Precision::kNanoseconds;
};

class MqttListener {
 public:
  // Connects (waiting up to 10 s for the first connection) and subscribes.
  static Result<std::unique_ptr<MqttListener>> Start(const MqttListenerOptions& options,
                                                     IngestChannel& channel, Clock& clock);
  virtual ~MqttListener() = default;
  // Stops taking messages, waits up to `drain` for the one in progress to become durable and be
  // acknowledged, then disconnects. A message not durable by then is not acknowledged; the
  // broker delivers it again to the next session. Call before the pipeline stops.
  virtual void Stop(std::chrono::milliseconds drain = std::chrono::seconds(10)) = 0;
};

}  // namespace aquawatch
