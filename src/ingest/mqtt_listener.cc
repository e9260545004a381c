#include "ingest/mqtt_listener.h"

#include <spdlog/spdlog.h>

#include <mqtt/async_client.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace aquawatch {
namespace {

class MqttListenerImpl final : public MqttListener, public virtual mqtt::callback {
 public:
  MqttListenerImpl(const MqttListenerOptions& options, IngestChannel& channel, Clock& clock)
      : options_(options),
        channel_(channel),
        clock_(clock),
        client_(options.broker, options.client_id, mqtt::create_options(MQTTVERSION_3_1_1)) {}

  ~MqttListenerImpl() override { Stop(); }

  Status Connect() {
    client_.set_callback(*this);
    auto opts = mqtt::connect_options_builder()
                    .clean_session(false)  // the broker keeps QoS 1 messages while we are away
                    .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30))
                    .keep_alive_interval(std::chrono::seconds(20))
                    .finalize();
    try {
      client_.connect(opts)->wait_for(std::chrono::seconds(10));
    } catch (const mqtt::exception& e) {
      return Status::Unavailable("mqtt connect to " + options_.broker + ": " + e.what());
    }
    if (!client_.is_connected()) {
      return Status::Unavailable("mqtt connect to " + options_.broker + ": timed out");
    }
    return Subscribe();
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    try {
      if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(5));
    } catch (const mqtt::exception& e) {
      spdlog::warn("mqtt disconnect: {}", e.what());
    }
  }

 private:
  Status Subscribe() {
    try {
      client_.subscribe(options_.topic, options_.qos)->wait_for(std::chrono::seconds(10));
    } catch (const mqtt::exception& e) {
      return Status::Unavailable("mqtt subscribe to " + options_.topic + ": " + e.what());
    }
    spdlog::info("mqtt: subscribed to {} on {} (QoS {})", options_.topic, options_.broker,
                 options_.qos);
    return Status::Ok();
  }

  void connected(const std::string&) override {
    // After an automatic reconnect the persistent session normally keeps the subscription;
    // subscribing again is harmless and covers a broker that lost its state.
    if (!stopped_) {
      try {
        client_.subscribe(options_.topic, options_.qos);
      } catch (const mqtt::exception& e) {
        spdlog::error("mqtt resubscribe: {}", e.what());
      }
    }
  }

  void connection_lost(const std::string& cause) override {
    spdlog::warn("mqtt: connection to {} lost ({}); reconnecting", options_.broker, cause);
  }

  void message_arrived(mqtt::const_message_ptr msg) override {
    const std::string& payload = msg->get_payload_ref().str();
    std::string_view text = payload;
    std::size_t first = text.find_first_not_of(" \t\r\n");
    WireFormat format =
        first != std::string_view::npos && (text[first] == '{' || text[first] == '[')
            ? WireFormat::kJson
            : WireFormat::kLineProtocol;
    LineProtocolOptions lp;
    lp.precision = options_.precision;
    lp.default_time_ns = clock_.NowNs();
    batch_.Clear();
    batch_.arrival_ns = lp.default_time_ns;
    errors_.clear();
    DecodeOutcome outcome = channel_.Decode(format, text, lp, batch_, errors_);
    if (outcome.accepted == 0) return;
    // Wait until durable, retrying while the pipeline pushes back.
    for (int attempt = 0; !stopped_; ++attempt) {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      WriteResult result;
      Status s = channel_.Submit(batch_, [&](const WriteResult& r) {
        std::lock_guard lock(mu);
        result = r;
        done = true;
        cv.notify_one();
      });
      if (s.ok()) {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return done; });
        if (!result.status.ok()) {
          spdlog::error("mqtt: readings not stored: {}", result.status.message());
        } else if (result.refused > 0 && !result.refusals.empty()) {
          spdlog::warn("mqtt: {} readings refused: {}", result.refused,
                       result.refusals.front().reason);
        }
        return;
      }
      if (!channel_.pipeline().Healthy()) {
        spdlog::error("mqtt: dropping message, storage has failed: {}", s.message());
        return;
      }
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::min(2 << std::min(attempt, 6), 100)));
    }
  }

  const MqttListenerOptions options_;
  IngestChannel& channel_;
  Clock& clock_;
  mqtt::async_client client_;
  std::atomic<bool> stopped_{false};
  // Used only on Paho's callback thread.
  ReadingBatch batch_;
  std::vector<DecodeError> errors_;
};

}  // namespace

Result<std::unique_ptr<MqttListener>> MqttListener::Start(const MqttListenerOptions& options,
                                                          IngestChannel& channel, Clock& clock) {
  std::unique_ptr<MqttListenerImpl> listener;
  try {
    listener = std::make_unique<MqttListenerImpl>(options, channel, clock);
  } catch (const mqtt::exception& e) {
    return Status::InvalidArgument("mqtt broker \"" + options.broker + "\": " + e.what());
  }
  Status s = listener->Connect();
  if (!s.ok()) return s;
  return std::unique_ptr<MqttListener>(std::move(listener));
}

}  // namespace aquawatch
