// MqttSubscriber against a real Mosquitto broker, and against a scripted fake broker where the
// test must see the exact bytes on the wire (PUBACK order, PINGREQ while the handler blocks,
// refusals).
//
// Every test starts its own mosquitto on a free loopback port (rather than the shared one in
// AQUAWATCH_TEST_MQTT_PORT): tests kill and restart it, and each needs sessions no other test
// has touched. The mosquitto binary (Debian package "mosquitto") must be installed; a test
// fails, not skips, without it. Messages are published with the codec over a raw socket (so the
// test knows the broker has them: it waits for the PUBACK) and, in one test, with mosquitto_pub.
#include "ingest/mqtt/mqtt_subscriber.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ingest/mqtt/mqtt_codec.h"
#include "testing/temp_dir.h"

extern char** environ;

namespace aquawatch {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// ---- sockets and packets ---------------------------------------------------------------------

struct OwnedPacket {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::string body;
};

// One TCP connection read with the codec's splitter; used as the publisher and as the fake
// broker's side of a connection.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  Conn(Conn&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), unread_(std::move(o.unread_)), eof_(o.eof_) {}
  // Only for connections that have not been read from yet (the splitter starts afresh).
  Conn& operator=(Conn&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = std::exchange(o.fd_, -1);
      unread_ = std::move(o.unread_);
      eof_ = o.eof_;
      splitter_.Reset();
    }
    return *this;
  }
  Conn(const Conn&) = delete;
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }

  static std::optional<Conn> Dial(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return std::nullopt;
    }
    int one = 1;  // each PUBLISH waits for its PUBACK: do not let Nagle hold it back
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return Conn(fd);
  }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // The next whole packet; nullopt after `timeout`, at end of stream (eof() then) or on a
  // framing error.
  std::optional<OwnedPacket> Read(milliseconds timeout) {
    auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      std::string_view in(unread_);
      Result<mqtt::FrameSplitter::Event> e = splitter_.Next(in);
      if (!e.ok()) return std::nullopt;
      if (*e == mqtt::FrameSplitter::Event::kPacket) {
        const mqtt::Packet& p = splitter_.packet();
        OwnedPacket out{p.type, p.flags, std::string(p.body)};
        unread_.erase(0, unread_.size() - in.size());
        return out;
      }
      unread_.erase(0, unread_.size() - in.size());
      if (*e == mqtt::FrameSplitter::Event::kOversizedPublish) continue;
      auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        eof_ = true;
        return std::nullopt;
      }
      unread_.assign(buf, static_cast<std::size_t>(n));
    }
  }

  bool eof() const { return eof_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  mqtt::FrameSplitter splitter_{1 << 24};
  std::string unread_;
  bool eof_ = false;
};

std::uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A publisher: connects with clean session, publishes, waits for each QoS 1 PUBACK.
class Publisher {
 public:
  explicit Publisher(std::uint16_t port, std::string client_id = "test-publisher") {
    conn_ = Conn::Dial(port);
    if (!conn_) return;
    std::string out;
    mqtt::ConnectFields f;
    f.client_id = client_id;
    f.clean_session = true;
    f.keep_alive_seconds = 60;
    if (!mqtt::EncodeConnect(f, out).ok() || !conn_->Send(out)) return;
    std::optional<OwnedPacket> ack = conn_->Read(seconds(5));
    ok_ = ack && ack->type == mqtt::kConnack && ack->body.size() == 2 && ack->body[1] == 0;
  }
  ~Publisher() {
    if (conn_) {
      std::string out;
      mqtt::EncodeDisconnect(out);
      conn_->Send(out);
    }
  }
  bool ok() const { return ok_; }

  // True once the broker has the message (PUBACK for QoS 1).
  bool Publish(std::string_view topic, std::string_view payload, int qos = 1) {
    if (!ok_) return false;
    std::uint16_t id = qos > 0 ? ++next_id_ : 0;
    std::string out;
    if (!mqtt::EncodePublish(topic, payload, qos, id, false, false, out).ok()) return false;
    if (!conn_->Send(out)) return false;
    if (qos == 0) return true;
    std::optional<OwnedPacket> ack = conn_->Read(seconds(5));
    if (!ack) return false;
    Result<std::uint16_t> acked = mqtt::ParsePuback({ack->type, ack->flags, ack->body});
    return acked.ok() && *acked == id;
  }

 private:
  std::optional<Conn> conn_;
  bool ok_ = false;
  std::uint16_t next_id_ = 0;
};

// ---- a real broker ---------------------------------------------------------------------------

std::string FindBinary(const std::string& name) {
  for (const char* dir : {"/usr/sbin/", "/usr/bin/", "/usr/local/sbin/", "/usr/local/bin/"}) {
    std::string path = dir + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// A mosquitto child process on a loopback port, killed at scope exit.
class Mosquitto {
 public:
  Mosquitto() : port_(FreePort()) {
    ::chmod(dir_.path().c_str(), 0777);  // as root, mosquitto drops to user 'mosquitto'
    std::ofstream conf(dir_.path() + "/mosquitto.conf");
    conf << "listener " << port_ << " 127.0.0.1\n"
         << "allow_anonymous true\n"
         << "persistence false\n"
         << "log_dest file " << dir_.path() << "/mosquitto.log\n"
         << "log_type all\n";
  }
  ~Mosquitto() { Kill(SIGTERM); }

  std::uint16_t port() const { return port_; }

  // Starts the broker and waits until it accepts connections.
  ::testing::AssertionResult Start() {
    std::string binary = FindBinary("mosquitto");
    if (binary.empty()) return ::testing::AssertionFailure() << "mosquitto is not installed";
    std::string conf = dir_.path() + "/mosquitto.conf";
    char* argv[] = {binary.data(), const_cast<char*>("-c"), conf.data(), nullptr};
    if (::posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv, environ) != 0) {
      return ::testing::AssertionFailure() << "cannot start " << binary;
    }
    auto deadline = SteadyClock::now() + seconds(10);
    while (SteadyClock::now() < deadline) {
      if (Conn::Dial(port_)) return ::testing::AssertionSuccess();
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure() << "mosquitto exited at start: " << Log();
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return ::testing::AssertionFailure() << "mosquitto did not listen on " << port_;
  }

  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string Log() const {
    std::ifstream in(dir_.path() + "/mosquitto.log");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  testing::TempDir dir_;
  std::uint16_t port_;
  pid_t pid_ = -1;
};

// ---- what the handler saw --------------------------------------------------------------------

class Collector {
 public:
  MqttSubscriber::Handler Handler() {
    return [this](MqttMessage&& m) {
      std::lock_guard lock(mu_);
      messages_.push_back(std::move(m));
      cv_.notify_all();
    };
  }
  // Waits until at least n messages arrived; returns a copy of all of them.
  std::vector<MqttMessage> WaitFor(std::size_t n, milliseconds timeout = milliseconds(10'000)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
    return messages_;
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return messages_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MqttMessage> messages_;
};

MqttSubscriberOptions Options(std::uint16_t port, const std::string& client_id) {
  MqttSubscriberOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.client_id = client_id;
  o.topic = "aw/+/readings";
  o.qos = 1;
  o.clean_session = false;
  o.connect_timeout_ms = 5000;
  o.reconnect_min_ms = 50;
  o.reconnect_max_ms = 500;
  return o;
}

std::unique_ptr<MqttSubscriber> MustStart(const MqttSubscriberOptions& o,
                                          MqttSubscriber::Handler handler) {
  Result<std::unique_ptr<MqttSubscriber>> s = MqttSubscriber::Start(o, std::move(handler));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s).value() : nullptr;
}

// Waits for a condition that another thread makes true.
template <typename Pred>
bool Eventually(Pred pred, milliseconds timeout = milliseconds(10'000)) {
  auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

class MqttSubscriberTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()); }
  void TearDown() override {
    if (HasFailure()) std::cerr << "mosquitto log:\n" << broker_.Log();
  }
  Mosquitto broker_;
};

// ---- URL and options -------------------------------------------------------------------------

TEST(ParseMqttBroker, AcceptsTheDocumentedForms) {
  using Pair = std::pair<std::string, std::uint16_t>;
  auto parse = [](std::string_view url) {
    Result<Pair> r = ParseMqttBroker(url);
    EXPECT_TRUE(r.ok()) << url << ": " << r.status().message();
    return r.ok() ? *r : Pair{};
  };
  EXPECT_EQ(parse("tcp://broker.local:1884"), Pair("broker.local", 1884));
  EXPECT_EQ(parse("mqtt://10.0.0.5:1883"), Pair("10.0.0.5", 1883));
  EXPECT_EQ(parse("localhost:65535"), Pair("localhost", 65535));
  EXPECT_EQ(parse("localhost"), Pair("localhost", 1883));
  EXPECT_EQ(parse("tcp://h"), Pair("h", 1883));
  EXPECT_EQ(parse("[::1]:1884"), Pair("::1", 1884));
  EXPECT_EQ(parse("tcp://[::1]"), Pair("::1", 1883));
}

TEST(ParseMqttBroker, ExplainsWhatIsWrong) {
  auto error = [](std::string_view url) {
    Result<std::pair<std::string, std::uint16_t>> r = ParseMqttBroker(url);
    return r.ok() ? std::string("accepted") : r.status().message();
  };
  EXPECT_NE(error("ssl://h:8883").find("unsupported scheme \"ssl\""), std::string::npos);
  EXPECT_NE(error("ws://h:80").find("unsupported scheme"), std::string::npos);
  EXPECT_NE(error("h:0").find("bad port \"0\""), std::string::npos);
  EXPECT_NE(error("h:65536").find("bad port"), std::string::npos);
  EXPECT_NE(error("h:12ab").find("bad port"), std::string::npos);
  EXPECT_NE(error("h:-1").find("bad port"), std::string::npos);
  EXPECT_NE(error("h:").find("bad port \"\""), std::string::npos);
  EXPECT_NE(error("tcp://").find("empty host"), std::string::npos);
  EXPECT_NE(error(":1883").find("empty host"), std::string::npos);
  EXPECT_NE(error("").find("empty host"), std::string::npos);
  EXPECT_NE(error("::1").find("brackets"), std::string::npos);
  EXPECT_NE(error("tcp://h:1883/path").find("no path"), std::string::npos);
  EXPECT_NE(error("tcp://user@h:1883").find("no path"), std::string::npos);
  EXPECT_NE(error("[::1").find("unclosed"), std::string::npos);
}

TEST(MqttSubscriberOptions, StartRefusesBadOptions) {
  auto error = [](auto edit) {
    MqttSubscriberOptions o = Options(1, "x");
    edit(o);
    Result<std::unique_ptr<MqttSubscriber>> s = MqttSubscriber::Start(o, [](MqttMessage&&) {});
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
    return s.status().message();
  };
  EXPECT_NE(error([](auto& o) { o.qos = 2; }).find("QoS"), std::string::npos);
  EXPECT_NE(error([](auto& o) { o.topic = "a/#/b"; }).find("topic filter"), std::string::npos);
  EXPECT_NE(error([](auto& o) { o.keep_alive_seconds = 70'000; }).find("keep-alive"),
            std::string::npos);
  EXPECT_NE(error([](auto& o) { o.client_id = ""; }).find("clean session"), std::string::npos);
  std::string message = error([](auto& o) { o.password = "hunter2"; });
  EXPECT_NE(message.find("needs a user name"), std::string::npos);
  EXPECT_EQ(message.find("hunter2"), std::string::npos);
  EXPECT_NE(error([](auto& o) { o.reconnect_max_ms = 1; }).find("backoff"), std::string::npos);
}

TEST(MqttSubscriberStart, FailsClearlyWhenNothingListens) {
  MqttSubscriberOptions o = Options(FreePort(), "nobody");
  auto began = SteadyClock::now();
  Result<std::unique_ptr<MqttSubscriber>> s = MqttSubscriber::Start(o, [](MqttMessage&&) {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("refused"), std::string::npos) << s.status().message();
  EXPECT_LT(SteadyClock::now() - began, seconds(5));  // no retrying inside Start
}

// ---- against mosquitto -----------------------------------------------------------------------

TEST_F(MqttSubscriberTest, DeliversMessagesInOrderWithTopicAndPayload) {
  Collector got;
  auto sub = MustStart(Options(broker_.port(), "in-order"), got.Handler());
  ASSERT_NE(sub, nullptr);
  EXPECT_TRUE(sub->connected());
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  constexpr int kCount = 60;
  for (int i = 0; i < kCount; ++i) {
    std::string topic = "aw/s" + std::to_string(i % 3) + "/readings";
    ASSERT_TRUE(pub.Publish(topic, "ph=7." + std::to_string(i), i == 30 ? 0 : 1));
  }
  ASSERT_TRUE(pub.Publish("aw/other/topic", "not subscribed"));
  // Acknowledge as they come: mosquitto sends at most 20 unacknowledged QoS 1 messages
  // (max_inflight_messages) and holds the rest back until PUBACKs free the window.
  std::vector<MqttMessage> m;
  for (std::size_t acked = 0; acked < kCount;) {
    m = got.WaitFor(acked + 1);
    if (m.size() == acked) break;
    for (; acked < m.size(); ++acked) sub->Ack(m[acked].token);
  }
  ASSERT_EQ(m.size(), static_cast<std::size_t>(kCount));
  // MQTT orders messages of one QoS; mosquitto sends a QoS 0 message at once even while QoS 1
  // messages wait for the in-flight window, so the QoS 0 one may overtake them.
  std::vector<MqttMessage> qos1;
  int qos0 = 0;
  for (MqttMessage& msg : m) {
    EXPECT_FALSE(msg.dup);
    EXPECT_NE(msg.token, 0u);
    if (msg.qos == 0) {
      EXPECT_EQ(msg.payload, "ph=7.30");
      ++qos0;
    } else {
      qos1.push_back(std::move(msg));
    }
  }
  EXPECT_EQ(qos0, 1);
  ASSERT_EQ(qos1.size(), static_cast<std::size_t>(kCount - 1));
  for (int i = 0, j = 0; i < kCount; ++i) {
    if (i == 30) continue;
    EXPECT_EQ(qos1[j].topic, "aw/s" + std::to_string(i % 3) + "/readings");
    EXPECT_EQ(qos1[j].payload, "ph=7." + std::to_string(i));
    ++j;
  }
  EXPECT_TRUE(Eventually([&] { return sub->stats().acks == kCount - 1; }));  // QoS 0: no PUBACK
  sub->Stop(seconds(1));
  MqttSubscriberStats st = sub->stats();
  EXPECT_EQ(st.messages, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(st.stale_acks, 0u);
  EXPECT_FALSE(sub->connected());
}

TEST_F(MqttSubscriberTest, UnackedMessageIsRedeliveredWithDupToTheSameClientId) {
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  {
    Collector got;
    auto sub = MustStart(Options(broker_.port(), "redeliver"), got.Handler());
    ASSERT_NE(sub, nullptr);
    ASSERT_TRUE(pub.Publish("aw/s1/readings", "first"));
    ASSERT_EQ(got.WaitFor(1).size(), 1u);
    // Destroyed without Ack: the broker must keep "first".
  }
  Collector again;
  auto sub = MustStart(Options(broker_.port(), "redeliver"), again.Handler());
  ASSERT_NE(sub, nullptr);
  std::vector<MqttMessage> m = again.WaitFor(1);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].payload, "first");
  EXPECT_TRUE(m[0].dup);
  EXPECT_EQ(sub->stats().redelivered, 1u);
  sub->Ack(m[0].token);
  EXPECT_TRUE(Eventually([&] { return sub->stats().acks == 1; }));
  sub->Stop(seconds(1));
}

TEST_F(MqttSubscriberTest, AckedMessageIsNotRedelivered) {
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  {
    Collector got;
    auto sub = MustStart(Options(broker_.port(), "acked"), got.Handler());
    ASSERT_NE(sub, nullptr);
    ASSERT_TRUE(pub.Publish("aw/s1/readings", "done"));
    std::vector<MqttMessage> m = got.WaitFor(1);
    ASSERT_EQ(m.size(), 1u);
    sub->Ack(m[0].token);
    sub->Stop(seconds(2));
    EXPECT_EQ(sub->stats().acks, 1u);
  }
  Collector again;
  auto sub = MustStart(Options(broker_.port(), "acked"), again.Handler());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "marker"));
  std::vector<MqttMessage> m = again.WaitFor(1);
  ASSERT_GE(m.size(), 1u);
  EXPECT_EQ(m[0].payload, "marker");  // "done" did not come back before it
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(again.size(), 1u);
}

TEST_F(MqttSubscriberTest, AckOutOfOrderHoldsThePubackUntilEarlierMessagesAreAcked) {
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  {
    Collector got;
    auto sub = MustStart(Options(broker_.port(), "order"), got.Handler());
    ASSERT_NE(sub, nullptr);
    ASSERT_TRUE(pub.Publish("aw/s1/readings", "m1"));
    ASSERT_TRUE(pub.Publish("aw/s1/readings", "m2"));
    std::vector<MqttMessage> m = got.WaitFor(2);
    ASSERT_EQ(m.size(), 2u);
    sub->Ack(m[1].token);  // m2 is durable, m1 is not
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_EQ(sub->stats().acks, 0u);  // PUBACK(m2) waits for m1
    sub->Stop(milliseconds(200));      // m1 never acked
  }
  // Both come again: the broker never saw PUBACK(m2) either.
  Collector again;
  auto sub = MustStart(Options(broker_.port(), "order"), again.Handler());
  ASSERT_NE(sub, nullptr);
  std::vector<MqttMessage> m = again.WaitFor(2);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].payload, "m1");
  EXPECT_EQ(m[1].payload, "m2");
  EXPECT_TRUE(m[0].dup);
  EXPECT_TRUE(m[1].dup);
  sub->Ack(m[1].token);
  sub->Ack(m[0].token);  // releases both, in order
  EXPECT_TRUE(Eventually([&] { return sub->stats().acks == 2; }));
  sub->Stop(seconds(1));
  // And now they are gone.
  Collector third;
  auto last = MustStart(Options(broker_.port(), "order"), third.Handler());
  ASSERT_NE(last, nullptr);
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "marker"));
  std::vector<MqttMessage> after = third.WaitFor(1);
  ASSERT_GE(after.size(), 1u);
  EXPECT_EQ(after[0].payload, "marker");
}

TEST_F(MqttSubscriberTest, ResumedSessionMessagesWaitForStartToReturn) {
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  {
    Collector got;
    auto sub = MustStart(Options(broker_.port(), "resume"), got.Handler());
    ASSERT_NE(sub, nullptr);
    sub->Stop(milliseconds(0));
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub.Publish("aw/s1/readings", std::to_string(i)));
  // The caller's natural pattern: the handler uses the subscriber Start returned. Had the
  // handler run inside Start, it would block on the mutex until Start timed out.
  Collector got;
  auto collect = got.Handler();
  std::atomic<int> without_subscriber{0};
  std::mutex mu;
  std::unique_ptr<MqttSubscriber> sub;
  std::unique_lock lock(mu);
  sub = MustStart(Options(broker_.port(), "resume"), [&](MqttMessage&& m) {
    std::lock_guard l(mu);
    if (sub == nullptr) ++without_subscriber;
    if (sub != nullptr) sub->Ack(m.token);
    collect(std::move(m));
  });
  ASSERT_NE(sub, nullptr);
  lock.unlock();
  std::vector<MqttMessage> m = got.WaitFor(5);
  ASSERT_EQ(m.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(m[i].payload, std::to_string(i));
  EXPECT_EQ(without_subscriber.load(), 0);
  EXPECT_TRUE(Eventually([&] { return sub->stats().acks == 5; }));
  sub->Stop(seconds(1));
}

TEST_F(MqttSubscriberTest, StopWithBlockedHandlerReturnsAndLeavesMessagesWithTheBroker) {
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  auto sub = MustStart(Options(broker_.port(), "blocked"), [&](MqttMessage&&) {
    ++calls;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });  // e.g. waiting for a full pipeline
  });
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "m1"));
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "m2"));
  ASSERT_TRUE(Eventually([&] { return calls.load() == 1; }));
  // The application's own shutdown releases its handler a little after Stop begins.
  std::thread app_shutdown([&] {
    std::this_thread::sleep_for(milliseconds(300));
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  });
  auto began = SteadyClock::now();
  sub->Stop(milliseconds(100));  // m1 is never acked
  auto took = SteadyClock::now() - began;
  app_shutdown.join();
  EXPECT_LT(took, seconds(5));
  EXPECT_EQ(calls.load(), 1);  // m2 was not handed out once Stop began
  sub.reset();

  Collector again;
  auto next = MustStart(Options(broker_.port(), "blocked"), again.Handler());
  ASSERT_NE(next, nullptr);
  std::vector<MqttMessage> m = again.WaitFor(2);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].payload, "m1");
  EXPECT_TRUE(m[0].dup);
  EXPECT_EQ(m[1].payload, "m2");
}

TEST_F(MqttSubscriberTest, StopWaitsForAcksThatComeDuringTheDrain) {
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.ok());
  Collector got;
  auto sub = MustStart(Options(broker_.port(), "drain"), got.Handler());
  ASSERT_NE(sub, nullptr);
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "slow"));
  std::vector<MqttMessage> m = got.WaitFor(1);
  ASSERT_EQ(m.size(), 1u);
  std::thread late_ack([&] {
    std::this_thread::sleep_for(milliseconds(200));  // the write becomes durable meanwhile
    sub->Ack(m[0].token);
  });
  sub->Stop(seconds(5));
  late_ack.join();
  EXPECT_EQ(sub->stats().acks, 1u);
  EXPECT_EQ(sub->stats().stale_acks, 0u);
  sub->Ack(m[0].token);  // after Stop: stale, ignored
  EXPECT_EQ(sub->stats().stale_acks, 1u);
  sub.reset();

  Collector again;
  auto next = MustStart(Options(broker_.port(), "drain"), again.Handler());
  ASSERT_NE(next, nullptr);
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "marker"));
  ASSERT_GE(again.WaitFor(1).size(), 1u);
  EXPECT_EQ(again.WaitFor(1)[0].payload, "marker");
}

TEST_F(MqttSubscriberTest, StopDoesNotHangWhenTheBrokerIsGone) {
  MqttSubscriberOptions o = Options(broker_.port(), "gone");
  o.reconnect_min_ms = 5000;  // Stop must cut the backoff short
  o.reconnect_max_ms = 5000;
  Collector got;
  auto sub = MustStart(o, got.Handler());
  ASSERT_NE(sub, nullptr);
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.Publish("aw/s1/readings", "unacked"));
  ASSERT_EQ(got.WaitFor(1).size(), 1u);
  broker_.Kill(SIGKILL);
  // The loss is counted just after connected() turns false; a Stop between the two would end
  // the reader before it counts, so wait for the count itself.
  ASSERT_TRUE(Eventually([&] { return !sub->connected() && sub->stats().connection_losses > 0; }));
  auto began = SteadyClock::now();
  sub->Stop(seconds(10));  // nothing can be acked any more: must not wait the drain out
  EXPECT_LT(SteadyClock::now() - began, seconds(3));
  EXPECT_EQ(sub->stats().connection_losses, 1u);
}

TEST_F(MqttSubscriberTest, ReconnectsAndResubscribesAfterTheBrokerRestarts) {
  Collector got;
  auto sub = MustStart(Options(broker_.port(), "restart"), got.Handler());
  ASSERT_NE(sub, nullptr);
  {
    Publisher pub(broker_.port());
    ASSERT_TRUE(pub.Publish("aw/s1/readings", "before"));
    std::vector<MqttMessage> m = got.WaitFor(1);
    ASSERT_EQ(m.size(), 1u);
    sub->Ack(m[0].token);
    ASSERT_TRUE(Eventually([&] { return sub->stats().acks == 1; }));
  }
  std::vector<MqttMessage> first = got.WaitFor(1);
  broker_.Kill(SIGKILL);
  ASSERT_TRUE(Eventually([&] { return !sub->connected(); }));
  sub->Ack(first[0].token);  // the connection it belonged to is gone
  EXPECT_EQ(sub->stats().stale_acks, 1u);
  std::this_thread::sleep_for(milliseconds(300));  // a few failed attempts while it is down
  ASSERT_TRUE(broker_.Start());
  // The restarted broker kept no session (persistence off): only a new SUBSCRIBE brings
  // messages.
  ASSERT_TRUE(Eventually([&] { return sub->connected(); }));
  EXPECT_EQ(sub->stats().reconnects, 1u);
  Publisher pub(broker_.port());
  ASSERT_TRUE(pub.Publish("aw/s2/readings", "after"));
  std::vector<MqttMessage> m = got.WaitFor(2);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1].payload, "after");
  sub->Ack(m[1].token);
  EXPECT_TRUE(Eventually([&] { return sub->stats().acks == 2; }));
  sub->Stop(seconds(1));
}

TEST_F(MqttSubscriberTest, OversizedMessageIsSkippedAndAcknowledged) {
  std::string mosquitto_pub = FindBinary("mosquitto_pub");
  ASSERT_FALSE(mosquitto_pub.empty()) << "mosquitto_pub (mosquitto-clients) is not installed";
  MqttSubscriberOptions o = Options(broker_.port(), "oversized");
  o.max_packet_bytes = 1024;
  Collector got;
  auto sub = MustStart(o, got.Handler());
  ASSERT_NE(sub, nullptr);
  auto publish = [&](const std::string& payload) {
    std::string cmd = mosquitto_pub + " -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                      " -q 1 -t aw/big/readings -m " + payload;
    return std::system(cmd.c_str()) == 0;
  };
  ASSERT_TRUE(publish(std::string(4096, 'x')));
  ASSERT_TRUE(publish("small"));
  std::vector<MqttMessage> m = got.WaitFor(1);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].payload, "small");
  EXPECT_EQ(sub->stats().oversized, 1u);
  EXPECT_EQ(sub->stats().acks, 1u);  // the oversized one, at once
  sub->Ack(m[0].token);
  EXPECT_TRUE(Eventually([&] { return sub->stats().acks == 2; }));
  sub->Stop(seconds(1));
  sub.reset();

  Collector again;
  auto next = MustStart(o, again.Handler());
  ASSERT_NE(next, nullptr);
  ASSERT_TRUE(publish("marker"));
  ASSERT_GE(again.WaitFor(1).size(), 1u);
  EXPECT_EQ(again.WaitFor(1)[0].payload, "marker");
  EXPECT_EQ(next->stats().oversized, 0u);  // not sent again
}

// ---- against a scripted broker ---------------------------------------------------------------

// Listens on a loopback port and plays the broker's side of connections one at a time.
class FakeBroker {
 public:
  FakeBroker() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(listen_fd_, 4);
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~FakeBroker() { ::close(listen_fd_); }
  std::uint16_t port() const { return port_; }

  std::optional<Conn> Accept(milliseconds timeout = milliseconds(10'000)) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return std::nullopt;
    return Conn(fd);
  }

  // Reads CONNECT, answers CONNACK(rc), reads SUBSCRIBE, answers SUBACK(code), sending
  // `before_suback` between the two.
  static ::testing::AssertionResult Handshake(Conn& c, std::uint8_t connack_rc = 0,
                                              std::uint8_t suback = 1,
                                              const std::string& before_suback = "") {
    std::optional<OwnedPacket> connect = c.Read(seconds(5));
    if (!connect || connect->type != mqtt::kConnect) {
      return ::testing::AssertionFailure() << "no CONNECT";
    }
    if (!c.Send(std::string{0x20, 0x02, 0x00, static_cast<char>(connack_rc)})) {
      return ::testing::AssertionFailure() << "cannot send CONNACK";
    }
    if (connack_rc != 0) return ::testing::AssertionSuccess();
    std::optional<OwnedPacket> subscribe = c.Read(seconds(5));
    if (!subscribe || subscribe->type != mqtt::kSubscribe || subscribe->body.size() < 2) {
      return ::testing::AssertionFailure() << "no SUBSCRIBE";
    }
    std::string reply = before_suback;
    reply += std::string{static_cast<char>(0x90), 0x03, subscribe->body[0], subscribe->body[1],
                         static_cast<char>(suback)};
    if (!c.Send(reply)) return ::testing::AssertionFailure() << "cannot send SUBACK";
    return ::testing::AssertionSuccess();
  }

 private:
  int listen_fd_;
  std::uint16_t port_ = 0;
};

std::string Publish(std::string_view payload, int qos, std::uint16_t id) {
  std::string out;
  EXPECT_TRUE(mqtt::EncodePublish("aw/s1/readings", payload, qos, id, false, false, out).ok());
  return out;
}

// Starts a subscriber against the fake broker while the fake plays the handshake.
struct FakeSession {
  FakeBroker broker;
  std::optional<Conn> conn;
  std::unique_ptr<MqttSubscriber> sub;

  ::testing::AssertionResult Start(MqttSubscriberOptions o, MqttSubscriber::Handler handler,
                                   const std::string& before_suback = "") {
    o.port = broker.port();
    auto serve = std::async(std::launch::async, [&] {
      conn = broker.Accept();
      if (!conn) return ::testing::AssertionResult(::testing::AssertionFailure() << "no client");
      return FakeBroker::Handshake(*conn, 0, 1, before_suback);
    });
    Result<std::unique_ptr<MqttSubscriber>> s = MqttSubscriber::Start(o, std::move(handler));
    ::testing::AssertionResult served = serve.get();
    if (!served) return served;
    if (!s.ok()) return ::testing::AssertionFailure() << s.status().ToString();
    sub = std::move(s).value();
    return ::testing::AssertionSuccess();
  }
};

std::vector<std::uint16_t> ReadPubacks(Conn& c, std::size_t n) {
  std::vector<std::uint16_t> ids;
  while (ids.size() < n) {
    std::optional<OwnedPacket> p = c.Read(seconds(5));
    if (!p) break;
    if (p->type != mqtt::kPuback) continue;  // PINGREQ
    Result<std::uint16_t> id = mqtt::ParsePuback({p->type, p->flags, p->body});
    if (id.ok()) ids.push_back(*id);
  }
  return ids;
}

TEST(MqttSubscriberWire, PubacksLeaveInArrivalOrderWhateverTheAckOrder) {
  FakeSession f;
  Collector got;
  ASSERT_TRUE(f.Start(Options(0, "wire"), got.Handler()));
  // id 1 (QoS 1), a QoS 0 message, ids 2 and 3 (QoS 1).
  ASSERT_TRUE(f.conn->Send(Publish("a", 1, 1) + Publish("q0", 0, 0) + Publish("b", 1, 2) +
                           Publish("c", 1, 3)));
  std::vector<MqttMessage> m = got.WaitFor(4);
  ASSERT_EQ(m.size(), 4u);
  f.sub->Ack(m[3].token);
  f.sub->Ack(m[2].token);
  // Nothing may go out while message 1 is not acknowledged; the QoS 0 one holds back nothing.
  std::optional<OwnedPacket> early = f.conn->Read(milliseconds(300));
  EXPECT_FALSE(early.has_value()) << "packet type " << int(early ? early->type : 0);
  f.sub->Ack(m[0].token);
  EXPECT_EQ(ReadPubacks(*f.conn, 3), (std::vector<std::uint16_t>{1, 2, 3}));
  f.sub->Ack(m[1].token);  // QoS 0: a no-op
  f.sub->Ack(m[0].token);  // twice: harmless
  EXPECT_FALSE(f.conn->Read(milliseconds(200)).has_value());
  EXPECT_EQ(f.sub->stats().acks, 3u);
  f.sub->Stop(seconds(1));
  std::optional<OwnedPacket> last = f.conn->Read(seconds(2));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->type, mqtt::kDisconnect);
}

TEST(MqttSubscriberWire, ConcurrentAcksStillLeaveInArrivalOrder) {
  FakeSession f;
  Collector got;
  ASSERT_TRUE(f.Start(Options(0, "wire-threads"), got.Handler()));
  constexpr int kCount = 400;
  std::string burst;
  for (int i = 1; i <= kCount; ++i) burst += Publish("p", 1, static_cast<std::uint16_t>(i));
  ASSERT_TRUE(f.conn->Send(burst));
  std::vector<MqttMessage> m = got.WaitFor(kCount);
  ASSERT_EQ(m.size(), static_cast<std::size_t>(kCount));
  std::vector<std::uint64_t> tokens;
  for (const MqttMessage& msg : m) tokens.push_back(msg.token);
  std::shuffle(tokens.begin(), tokens.end(), std::mt19937(99));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < tokens.size(); i += 4) f.sub->Ack(tokens[i]);
    });
  }
  std::vector<std::uint16_t> ids = ReadPubacks(*f.conn, kCount);
  for (auto& t : threads) t.join();
  std::vector<std::uint16_t> expected(kCount);
  for (int i = 0; i < kCount; ++i) expected[i] = static_cast<std::uint16_t>(i + 1);
  EXPECT_EQ(ids, expected);
  f.sub->Stop(seconds(1));
}

TEST(MqttSubscriberWire, SendsPingreqWhileTheHandlerBlocks) {
  FakeSession f;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<std::uint64_t> token{0};
  MqttSubscriberOptions o = Options(0, "ping");
  o.keep_alive_seconds = 1;
  ASSERT_TRUE(f.Start(o, [&](MqttMessage&& m) {
    token = m.token;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
  }));
  ASSERT_TRUE(f.conn->Send(Publish("x", 1, 7)));
  for (int ping = 0; ping < 2; ++ping) {  // the handler is blocked throughout
    std::optional<OwnedPacket> p = f.conn->Read(seconds(3));
    ASSERT_TRUE(p.has_value()) << "no PINGREQ " << ping;
    EXPECT_EQ(p->type, mqtt::kPingreq);
    ASSERT_TRUE(f.conn->Send(std::string{static_cast<char>(0xD0), 0x00}));
  }
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  f.sub->Ack(token);
  EXPECT_EQ(ReadPubacks(*f.conn, 1), std::vector<std::uint16_t>{7});
  EXPECT_EQ(f.sub->stats().connection_losses, 0u);
  f.sub->Stop(seconds(1));
}

TEST(MqttSubscriberWire, DropsAConnectionThatAnswersNoPingAndReconnects) {
  FakeSession f;
  Collector got;
  MqttSubscriberOptions o = Options(0, "silent");
  o.keep_alive_seconds = 1;
  ASSERT_TRUE(f.Start(o, got.Handler()));
  std::optional<OwnedPacket> p = f.conn->Read(seconds(3));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->type, mqtt::kPingreq);
  // No PINGRESP: within about another keep-alive the client gives up and dials again.
  std::optional<Conn> second = f.broker.Accept(seconds(5));
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(FakeBroker::Handshake(*second));
  EXPECT_TRUE(Eventually([&] { return f.sub->connected(); }));
  EXPECT_EQ(f.sub->stats().connection_losses, 1u);
  EXPECT_EQ(f.sub->stats().reconnects, 1u);
  f.sub->Stop(seconds(1));
}

TEST(MqttSubscriberWire, MalformedPublishDropsTheConnectionNotTheProcess) {
  FakeSession f;
  Collector got;
  ASSERT_TRUE(f.Start(Options(0, "malformed"), got.Handler()));
  // QoS 3, then (on the next connection) a topic length past the body, then packet id 0.
  const std::string bad[] = {std::string{0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01},
                             std::string{0x30, 0x04, 0x00, 0x05, 'a', 'b'},
                             std::string{0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00},
                             std::string{0x34, 0x05, 0x00, 0x01, 't', 0x00, 0x01}};
  Conn* conn = &*f.conn;
  std::optional<Conn> next;
  for (const std::string& packet : bad) {
    ASSERT_TRUE(conn->Send(packet));
    next = f.broker.Accept(seconds(5));
    ASSERT_TRUE(next.has_value());
    ASSERT_TRUE(FakeBroker::Handshake(*next));
    conn = &*next;
    f.conn.reset();  // keeps only the newest connection open
  }
  ASSERT_TRUE(conn->Send(Publish("fine", 1, 9)));
  std::vector<MqttMessage> m = got.WaitFor(1);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].payload, "fine");
  EXPECT_EQ(f.sub->stats().connection_losses, 4u);
  f.sub->Stop(seconds(1));
}

TEST(MqttSubscriberWire, ReportsConnackRefusalInWords) {
  FakeBroker broker;
  auto serve = std::async(std::launch::async, [&] {
    std::optional<Conn> c = broker.Accept();
    if (c) (void)FakeBroker::Handshake(*c, 5);
    std::this_thread::sleep_for(milliseconds(100));
  });
  MqttSubscriberOptions o = Options(broker.port(), "refused");
  o.username = "user";
  o.password = "hunter2";
  Result<std::unique_ptr<MqttSubscriber>> s = MqttSubscriber::Start(o, [](MqttMessage&&) {});
  serve.get();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not authorized"), std::string::npos) << s.status().message();
  EXPECT_EQ(s.status().message().find("hunter2"), std::string::npos);
}

TEST(MqttSubscriberWire, ReportsSubackFailure) {
  FakeBroker broker;
  auto serve = std::async(std::launch::async, [&] {
    std::optional<Conn> c = broker.Accept();
    if (c) (void)FakeBroker::Handshake(*c, 0, 0x80);
    std::this_thread::sleep_for(milliseconds(100));
  });
  Result<std::unique_ptr<MqttSubscriber>> s =
      MqttSubscriber::Start(Options(broker.port(), "nosub"), [](MqttMessage&&) {});
  serve.get();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("refused the subscription"), std::string::npos)
      << s.status().message();
}

TEST(MqttSubscriberWire, StartTimesOutOnASilentBroker) {
  FakeBroker broker;
  auto serve = std::async(std::launch::async, [&] {
    std::optional<Conn> c = broker.Accept();
    std::this_thread::sleep_for(milliseconds(1500));  // reads CONNECT, never answers
  });
  MqttSubscriberOptions o = Options(broker.port(), "silent-start");
  o.connect_timeout_ms = 500;
  Result<std::unique_ptr<MqttSubscriber>> s = MqttSubscriber::Start(o, [](MqttMessage&&) {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("no CONNACK within 500 ms"), std::string::npos)
      << s.status().message();
  serve.get();
}

TEST(MqttSubscriberWire, MessagesBeforeSubackAreHeldInOrderAndOversizedOnesAcked) {
  FakeSession f;
  Collector got;
  MqttSubscriberOptions o = Options(0, "held");
  o.max_packet_bytes = 256;
  // A resumed session: the broker sends what it kept before it answers the SUBSCRIBE.
  std::string early =
      Publish("one", 1, 11) + Publish(std::string(1000, 'z'), 1, 12) + Publish("three", 1, 13);
  ASSERT_TRUE(f.Start(o, got.Handler(), early));
  std::vector<MqttMessage> m = got.WaitFor(2);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].payload, "one");
  EXPECT_EQ(m[1].payload, "three");
  EXPECT_EQ(f.sub->stats().oversized, 1u);
  f.sub->Ack(m[1].token);
  f.sub->Ack(m[0].token);
  // 12 was acknowledged by the subscriber itself, in its place between 11 and 13.
  EXPECT_EQ(ReadPubacks(*f.conn, 3), (std::vector<std::uint16_t>{11, 12, 13}));
  f.sub->Stop(seconds(1));
}

}  // namespace
}  // namespace aquawatch
