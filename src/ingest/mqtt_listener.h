// MqttListener: subscribes to a broker (Eclipse Paho C++) and ingests every message on the
// topic filter (default aquawatch/+/readings). A payload is JSON when it starts with `{` or `[`,
// line protocol otherwise. QoS 1 and a persistent session, so the broker keeps messages while
// aquawatch is down.
//
// Messages are handled one at a time on Paho's callback thread, which waits until the readings
// are durable (retrying while the shard queues are full): that is the backpressure, since Paho
// delivers nothing more until the callback returns.
// Thread-safety: Start/Stop from one thread.
#pragma once

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
  virtual void Stop() = 0;
};

}  // namespace aquawatch
