// The alert bus: how alert events travel from the alert manager (role `process`, or `all`) to the
// notifier (role `notify`, or `all`) through RabbitMQ (docs/notifications.md "The alert bus").
//
// In role `all` without `--alert-bus rabbitmq` the notifier listens to the manager directly and
// none of this runs. With it, a RabbitPublisher listens to the manager and publishes each event
// to a durable priority queue (x-max-priority 3: high 3, medium 2, low 1) as a persistent message,
// waiting for the broker's confirm before it forgets it; a RabbitConsumer takes them with manual
// acknowledgements and a small prefetch, hands each to the notifier, and acknowledges it only once
// the notifier has stored what it decided. A broker that is away is retried with backoff; events
// wait in memory, high priority first, and are never dropped.
//
// Thread-safety: OnAlertEvent from any thread (it only queues); each side owns its thread and
// its connection.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "alert/alert_manager.h"
#include "core/metrics.h"
#include "core/status.h"

namespace aquawatch {

// An event as bytes on the bus and back: every field of the alert, times in ns.
std::string EncodeAlertEvent(const AlertEvent& e);
Result<AlertEvent> DecodeAlertEvent(std::string_view bytes);

struct RabbitOptions {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest", password = "guest", vhost = "/";
  std::string queue = "aquawatch.alerts";
  int prefetch = 16;  // unacknowledged messages the consumer holds at once
};

// What the consumer hands events to. OK means stored: the message is acknowledged.
class AlertEventSink {
 public:
  virtual ~AlertEventSink() = default;
  virtual Status Take(const AlertEvent& e) = 0;
};

class RabbitPublisher final : public AlertListener {
 public:
  RabbitPublisher(RabbitOptions options, MetricsRegistry& metrics);
  // Publishes what is queued (for up to 5 s) and stops.
  ~RabbitPublisher() override;
  void OnAlertEvent(const AlertEvent& event) override;
  // Waits until every event queued so far is confirmed by the broker; false after `timeout`.
  bool Flush(std::chrono::milliseconds timeout);

 private:
  struct Message {
    std::string body;
    std::uint8_t priority;  // 1..3
  };
  void Loop();

  const RabbitOptions options_;
  std::mutex mu_;
  std::condition_variable wake_, confirmed_;
  std::deque<Message> lanes_[3];  // by AlertPriority: high first
  std::uint64_t queued_ = 0, done_ = 0;
  bool stop_ = false;
  Counter& published_;
  Counter& failures_;
  std::thread thread_;
};

class RabbitConsumer {
 public:
  // REQUIRES: `sink` outlives the consumer.
  RabbitConsumer(RabbitOptions options, AlertEventSink& sink, MetricsRegistry& metrics);
  ~RabbitConsumer();

 private:
  void Loop();

  const RabbitOptions options_;
  AlertEventSink& sink_;
  std::atomic<bool> stop_{false};
  Counter& consumed_;
  Counter& failures_;
  Counter& malformed_;
  std::thread thread_;
};

}  // namespace aquawatch
