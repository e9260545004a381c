#include "ingest/mqtt_listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "ingest/mqtt/mqtt_subscriber.h"

namespace aquawatch {
namespace {

using std::chrono::milliseconds;

WireFormat SniffFormat(std::string_view text) {
  std::size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[')
             ? WireFormat::kJson
             : WireFormat::kLineProtocol;
}

class MqttListenerImpl final : public MqttListener {
 public:
  MqttListenerImpl(const MqttListenerOptions& options, IngestChannel& channel, Clock& clock)
      : options_(options), channel_(channel), clock_(clock) {}

  ~MqttListenerImpl() override { Stop(milliseconds(0)); }

  Status Connect() {
    auto broker = ParseMqttBroker(options_.broker);
    if (!broker.ok()) return broker.status().Annotate("mqtt.broker");
    MqttSubscriberOptions so;
    so.host = broker->first;
    so.port = broker->second;
    so.client_id = options_.client_id;
    so.topic = options_.topic;
    so.qos = options_.qos;
    so.clean_session = false;  // the broker keeps unacknowledged QoS 1 messages while we are away
    auto subscriber =
        MqttSubscriber::Start(so, [this](MqttMessage&& message) { Handle(std::move(message)); });
    if (!subscriber.ok()) {
      return subscriber.status().Annotate("mqtt subscribe to " + options_.topic + " on " +
                                          options_.broker);
    }
    {
      std::lock_guard lock(mu_);
      subscriber_ = std::move(subscriber).value();
    }
    wake_.notify_all();
    spdlog::info("mqtt: subscribed to {} on {} (QoS {}, acknowledged once durable)", options_.topic,
                 options_.broker, options_.qos);
    return Status::Ok();
  }

  void Stop(milliseconds drain) override {
    if (subscriber_ == nullptr) return;
    {
      std::lock_guard lock(mu_);
      drain_deadline_ = std::chrono::steady_clock::now() + drain;
      stopping_ = true;
    }
    wake_.notify_all();
    subscriber_->Stop(drain);  // joins the reader: no Handle runs after this
    subscriber_.reset();
  }

 private:
  // The reader thread: decode, store, acknowledge. Returns without acknowledging only when the
  // listener stops before the readings are durable.
  void Handle(MqttMessage&& message) {
    MqttSubscriber* subscriber = nullptr;
    {
      // The first message can come between Start returning and subscriber_ being set.
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return subscriber_ != nullptr; });
      subscriber = subscriber_.get();
    }
    LineProtocolOptions lp;
    lp.precision = options_.precision;
    lp.default_time_ns = clock_.NowNs();
    batch_.Clear();
    batch_.arrival_ns = lp.default_time_ns;
    errors_.clear();
    DecodeOutcome outcome =
        channel_.Decode(SniffFormat(message.payload), message.payload, lp, batch_, errors_);
    if (outcome.accepted == 0 || StoreUntilDurable()) subscriber->Ack(message.token);
  }

  // Submits batch_ and waits for it to be durable. Retries while the shard queues push back
  // and while storage has failed; gives up only when the listener stops. True once stored
  // (or once the shards refused every reading by a limit, which no retry changes).
  bool StoreUntilDurable() {
    milliseconds backoff(2);
    for (;;) {
      struct Wait {
        bool done = false;
        WriteResult result;
      };
      auto wait = std::make_shared<Wait>();
      Status s = channel_.Submit(batch_, [this, wait](const WriteResult& r) {
        std::lock_guard lock(mu_);
        wait->result = r;
        wait->done = true;
        wake_.notify_all();
      });
      std::unique_lock lock(mu_);
      if (s.ok()) {
        // The pipeline finishes what it took before it stops, so this wait ends; past the
        // drain deadline the message is left unacknowledged instead.
        while (!wait->done) {
          if (stopping_) {
            if (wake_.wait_until(lock, drain_deadline_) == std::cv_status::timeout && !wait->done) {
              return false;
            }
          } else {
            wake_.wait(lock);
          }
        }
        if (wait->result.status.ok()) {
          if (wait->result.refused > 0 && !wait->result.refusals.empty()) {
            spdlog::warn("mqtt: {} readings refused: {}", wait->result.refused,
                         wait->result.refusals.front().reason);
          }
          return true;
        }
        s = wait->result.status;
      }
      // Not stored: the queues were full or storage failed. Keep the message and try again.
      if (stopping_) return false;
      if (!channel_.pipeline().Healthy()) {
        spdlog::warn("mqtt: storage unavailable ({}); holding the message and retrying",
                     s.message());
        backoff = std::max(backoff, milliseconds(100));
      }
      wake_.wait_for(lock, backoff, [this] { return stopping_; });
      backoff = std::min(backoff * 2, milliseconds(1000));
    }
  }

  const MqttListenerOptions options_;
  IngestChannel& channel_;
  Clock& clock_;

  std::mutex mu_;
  std::unique_ptr<MqttSubscriber> subscriber_;  // set under mu_ once; reset after its Stop
  std::condition_variable wake_;
  bool stopping_ = false;                                 // guarded by mu_
  std::chrono::steady_clock::time_point drain_deadline_;  // guarded by mu_

  // Used only on the reader thread.
  ReadingBatch batch_;
  std::vector<DecodeError> errors_;
};

}  // namespace

Result<std::unique_ptr<MqttListener>> MqttListener::Start(const MqttListenerOptions& options,
                                                          IngestChannel& channel, Clock& clock) {
  auto listener = std::make_unique<MqttListenerImpl>(options, channel, clock);
  Status s = listener->Connect();
  if (!s.ok()) return s;
  return std::unique_ptr<MqttListener>(std::move(listener));
}

}  // namespace aquawatch
