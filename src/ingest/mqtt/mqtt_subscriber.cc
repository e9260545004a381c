// MqttSubscriber over POSIX sockets. Two threads per subscriber:
//
//  - the reader connects, runs the handshake, reads packets and calls the handler; it alone
//    opens and closes the socket, and it reconnects with backoff when the connection drops;
//  - the pinger sends PINGREQ when nothing was written for keep_alive_seconds, so the broker
//    keeps the connection while the handler blocks the reader.
//
// Locks, always taken in this order: ack_mu_ (connection generation, sequence, the queue of
// QoS 1 messages waiting for their PUBACK, stopping/gate flags) then write_mu_ (the socket as
// the writers see it, keep-alive state, the output buffer). Ack takes write_mu_ before it lets
// go of ack_mu_, so PUBACKs reach the socket in the order they left the queue even when several
// threads acknowledge at once. Nothing is held while the handler runs.
#include "ingest/mqtt/mqtt_subscriber.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "ingest/mqtt/mqtt_codec.h"

namespace aquawatch {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Token = generation (24 bits) << 40 | arrival sequence on that connection (40 bits). 2^40
// messages is years of one connection at any plausible rate; generations wrap after 16 million
// reconnects, long after any token of theirs could still be around.
constexpr int kSeqBits = 40;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;
constexpr std::uint64_t kGenMask = (std::uint64_t{1} << (64 - kSeqBits)) - 1;

constexpr std::uint16_t kSubscribePacketId = 1;  // one SUBSCRIBE per connection
constexpr std::size_t kReadChunkBytes = 64 << 10;
// A resumed session's messages that arrive before the first SUBACK are copied and held until
// Start returns. The broker's in-flight window (mosquitto: 20 QoS 1 messages) bounds them in
// practice; this bounds them against a broker that misbehaves.
constexpr std::size_t kMaxHeldBytes = 64u << 20;

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

int RemainingMs(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

bool SetNonBlockingCloexec(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 &&
         ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
}

// Writes all of `data` to a non-blocking socket, waiting for room up to the deadline.
Status SendAll(int fd, std::string_view data, SteadyClock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int left = RemainingMs(deadline);
      if (left == 0) return Status::IoError("write timed out (the broker is not reading)");
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, left) < 0 && errno != EINTR) return Status::IoError(ErrnoText(errno));
      continue;
    }
    return Status::IoError("write: " + ErrnoText(errno));
  }
  return Status::Ok();
}

Status ValidateOptions(const MqttSubscriberOptions& o) {
  if (o.host.empty()) return Status::InvalidArgument("mqtt: empty broker host");
  if (o.port == 0) return Status::InvalidArgument("mqtt: broker port 0");
  if (o.qos != 0 && o.qos != 1) {
    return Status::InvalidArgument("mqtt: QoS must be 0 or 1, not " + std::to_string(o.qos));
  }
  if (o.keep_alive_seconds < 0 || o.keep_alive_seconds > 65535) {
    return Status::InvalidArgument("mqtt: keep-alive must be 0 to 65535 seconds");
  }
  if (o.connect_timeout_ms <= 0) {
    return Status::InvalidArgument("mqtt: connect timeout must be positive");
  }
  if (o.reconnect_min_ms <= 0 || o.reconnect_max_ms < o.reconnect_min_ms) {
    return Status::InvalidArgument("mqtt: reconnect backoff needs 0 < min <= max");
  }
  // The handshake packets must fit, or no connection could ever be made.
  if (o.max_packet_bytes < 64) {
    return Status::InvalidArgument("mqtt: max_packet_bytes must be at least 64");
  }
  if (Status s = mqtt::ValidateTopicFilter(o.topic); !s.ok()) {
    return Status::InvalidArgument("mqtt: " + s.message());
  }
  return Status::Ok();
}

class MqttSubscriberImpl final : public MqttSubscriber {
 public:
  MqttSubscriberImpl(const MqttSubscriberOptions& options, Handler handler, std::string connect)
      : options_(options),
        handler_(std::move(handler)),
        connect_packet_(std::move(connect)),
        broker_(options.host + ":" + std::to_string(options.port)),
        splitter_(options.max_packet_bytes),
        read_buf_(kReadChunkBytes) {}

  ~MqttSubscriberImpl() override { Stop(milliseconds(0)); }

  // Starts the threads and waits for the first connection's SUBACK or failure.
  Status Begin() {
    int fds[2];
    if (::pipe(fds) != 0) return Status::IoError("mqtt: pipe: " + ErrnoText(errno));
    wake_read_ = Fd(fds[0]);
    wake_write_ = Fd(fds[1]);
    if (!SetNonBlockingCloexec(fds[0]) || !SetNonBlockingCloexec(fds[1])) {
      return Status::IoError("mqtt: fcntl: " + ErrnoText(errno));
    }
    pinger_ = std::thread([this] { PingerLoop(); });
    reader_ = std::thread([this] { ReaderLoop(); });
    std::unique_lock lock(ack_mu_);
    ack_cv_.wait(lock, [&] { return start_done_; });
    if (!start_status_.ok()) return start_status_;
    gate_open_ = true;  // from here the handler may run
    ack_cv_.notify_all();
    return Status::Ok();
  }

  void Ack(std::uint64_t token) override {
    std::unique_lock lock(ack_mu_);
    if (!live_ || token == 0 || (token >> kSeqBits) != (generation_ & kGenMask)) {
      stale_acks_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::uint64_t seq = token & kSeqMask;
    auto it = std::lower_bound(pending_.begin(), pending_.end(), seq,
                               [](const Pending& p, std::uint64_t s) { return p.seq < s; });
    // Not queued: a QoS 0 message, or one whose PUBACK is already out.
    if (it == pending_.end() || it->seq != seq) return;
    it->acked = true;
    FlushAcks(lock);
  }

  void Stop(milliseconds drain) override {
    {
      std::lock_guard lock(ack_mu_);
      if (stop_called_) return;
      stop_called_ = true;
      stopping_ = true;  // no message is handed out after this
      ack_cv_.notify_all();
    }
    // Wakes a reader that is connecting, backing off or waiting for a socket it has not yet
    // shown to the writers. A full pipe is fine: one byte is enough.
    [[maybe_unused]] ssize_t ignored = ::write(wake_write_.get(), "x", 1);
    {
      std::unique_lock lock(ack_mu_);
      ack_cv_.wait_for(lock, drain, [&] { return pending_.empty() || !live_; });
      if (!pending_.empty()) {
        spdlog::info("mqtt: stopping with {} unacknowledged messages; {} will deliver them again",
                     pending_.size(), broker_);
      }
      // Later Acks are stale: their PUBACKs would follow our DISCONNECT.
      live_ = false;
      pending_.clear();
    }
    {
      std::lock_guard lock(write_mu_);
      if (fd_ >= 0 && !write_failed_) {
        out_.clear();
        mqtt::EncodeDisconnect(out_);
        // A short, separate deadline: a broker that is gone must not hold up shutdown.
        auto deadline =
            SteadyClock::now() + milliseconds(std::min(options_.connect_timeout_ms, 1000));
        (void)SendAll(fd_, out_, deadline);
        ::shutdown(fd_, SHUT_RDWR);  // the reader sees end of stream and exits
      }
      exit_ = true;
      write_cv_.notify_all();
    }
    assert(std::this_thread::get_id() != reader_.get_id());  // not from the handler
    if (pinger_.joinable()) pinger_.join();
    if (in_handler_.load(std::memory_order_relaxed)) {
      // Nothing can interrupt the application's handler; say why Stop is not returning.
      spdlog::warn("mqtt: Stop is waiting for the message handler to return");
    }
    if (reader_.joinable()) reader_.join();
  }

  bool connected() const override { return subscribed_.load(std::memory_order_acquire); }

  MqttSubscriberStats stats() const override {
    MqttSubscriberStats s;
    s.messages = messages_.load(std::memory_order_relaxed);
    s.acks = acks_.load(std::memory_order_relaxed);
    s.oversized = oversized_.load(std::memory_order_relaxed);
    s.reconnects = reconnects_.load(std::memory_order_relaxed);
    s.stale_acks = stale_acks_.load(std::memory_order_relaxed);
    s.redelivered = redelivered_.load(std::memory_order_relaxed);
    s.connection_losses = connection_losses_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct Pending {
    std::uint64_t seq;
    std::uint16_t packet_id;
    bool acked;
  };

  // A PUBLISH that arrived before the first SUBACK, kept until Start returns.
  struct Held {
    MqttMessage message;
    std::uint16_t packet_id;
    bool oversized;  // acknowledge in its turn, do not hand out
  };

  enum class Phase { kAwaitConnack, kAwaitSuback, kRunning };

  // Pops every acknowledged message at the head of the queue and writes their PUBACKs.
  // REQUIRES: `ack_lock` holds ack_mu_; it is released on return.
  void FlushAcks(std::unique_lock<std::mutex>& ack_lock) {
    if (pending_.empty() || !pending_.front().acked) return;
    std::unique_lock write_lock(write_mu_);
    out_.clear();
    std::uint64_t n = 0;
    while (!pending_.empty() && pending_.front().acked) {
      mqtt::EncodePuback(pending_.front().packet_id, out_);
      pending_.pop_front();
      ++n;
    }
    if (pending_.empty()) ack_cv_.notify_all();  // Stop may be draining
    ack_lock.unlock();
    // A failed write loses these PUBACKs; the connection is closed and the broker sends the
    // messages again, which is what an unacknowledged message means.
    if (WriteLocked(out_)) acks_.fetch_add(n, std::memory_order_relaxed);
  }

  // REQUIRES: write_mu_ held. On failure shuts the socket down so the reader notices.
  bool WriteLocked(std::string_view bytes) {
    if (fd_ < 0 || write_failed_) return false;
    auto deadline = SteadyClock::now() + milliseconds(options_.connect_timeout_ms);
    Status s = SendAll(fd_, bytes, deadline);
    if (!s.ok()) {
      // A partial packet may be on the wire: the stream is unusable.
      write_failed_ = true;
      write_error_ = s.message();
      ::shutdown(fd_, SHUT_RDWR);
      return false;
    }
    last_send_ = SteadyClock::now();
    return true;
  }

  void PingerLoop() {
    const auto keep_alive = std::chrono::seconds(options_.keep_alive_seconds);
    std::unique_lock lock(write_mu_);
    while (!exit_) {
      if (fd_ < 0 || write_failed_ || options_.keep_alive_seconds == 0) {
        write_cv_.wait(lock);
        continue;
      }
      auto due = last_send_ + keep_alive;
      if (SteadyClock::now() < due) {
        write_cv_.wait_until(lock, due);
        continue;
      }
      out_.clear();
      mqtt::EncodePingreq(out_);
      if (!ping_outstanding_) ping_sent_ = SteadyClock::now();
      ping_outstanding_ = true;
      WriteLocked(out_);
    }
  }

  void ReaderLoop() {
    int backoff_ms = options_.reconnect_min_ms;
    bool first = true;
    for (;;) {
      bool established = false;
      Status s = RunConnection(first, established);
      if (first && !established) {
        std::lock_guard lock(ack_mu_);
        start_status_ = s.ok() ? Status::Unavailable("mqtt: stopped while connecting") : s;
        start_done_ = true;
        ack_cv_.notify_all();
        return;
      }
      first = false;
      if (IsStopping()) return;
      if (established) {
        connection_losses_.fetch_add(1, std::memory_order_relaxed);
        backoff_ms = options_.reconnect_min_ms;
        spdlog::warn("mqtt: connection to {} lost ({}); reconnecting in {} ms", broker_,
                     s.message(), backoff_ms);
      } else {
        spdlog::warn("mqtt: cannot connect to {} ({}); retrying in {} ms", broker_, s.message(),
                     backoff_ms);
      }
      pollfd p{wake_read_.get(), POLLIN, 0};
      if (::poll(&p, 1, backoff_ms) > 0 || IsStopping()) return;
      backoff_ms = static_cast<int>(
          std::min<long long>(static_cast<long long>(backoff_ms) * 2, options_.reconnect_max_ms));
    }
  }

  bool IsStopping() {
    std::lock_guard lock(ack_mu_);
    return stopping_;
  }

  Result<Fd> Dial(SteadyClock::time_point deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    std::string port = std::to_string(options_.port);
    // Blocking and not interruptible; a numeric address or /etc/hosts answers at once.
    int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &list);
    if (rc != 0) {
      return Status::Unavailable("cannot resolve " + options_.host + ": " + ::gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(list, &::freeaddrinfo);
    std::string error = "no address";
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      Fd fd(::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol));
      if (fd.get() < 0 || !SetNonBlockingCloexec(fd.get())) {
        error = "socket: " + ErrnoText(errno);
        continue;
      }
      if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
          error = ErrnoText(errno);
          continue;
        }
        pollfd p[2] = {{fd.get(), POLLOUT, 0}, {wake_read_.get(), POLLIN, 0}};
        int n;
        do {
          n = ::poll(p, 2, RemainingMs(deadline));
        } while (n < 0 && errno == EINTR);
        if (p[1].revents != 0) return Status::Unavailable("stopping");
        if (n == 0) {
          error = "connect timed out after " + std::to_string(options_.connect_timeout_ms) + " ms";
          continue;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
          error = ErrnoText(err);
          continue;
        }
      }
      int one = 1;  // PUBACKs and pings are tiny and latency is what they are about
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    return Status::Unavailable(error);
  }

  // One connection from dial to close. Returns why it ended; `established` tells whether it got
  // as far as the SUBACK.
  Status RunConnection(bool first, bool& established) {
    auto deadline = SteadyClock::now() + milliseconds(options_.connect_timeout_ms);
    Result<Fd> dialed = Dial(deadline);
    if (!dialed.ok()) return dialed.status();
    Fd sock = std::move(dialed).value();
    if (Status s = SendAll(sock.get(), connect_packet_, deadline); !s.ok()) return s;
    splitter_.Reset();
    held_.clear();
    held_bytes_ = 0;
    Phase phase = Phase::kAwaitConnack;
    Status end = ReadPackets(sock.get(), first, phase, deadline, established);

    // Tear down: tokens of this connection become stale (before connected() turns false, so a
    // caller that saw it false gets its late Acks counted stale), writers stop using the socket.
    {
      std::lock_guard lock(ack_mu_);
      live_ = false;
      pending_.clear();
      ack_cv_.notify_all();
    }
    subscribed_.store(false, std::memory_order_release);
    {
      std::lock_guard lock(write_mu_);
      // A failed write shut the socket down; its error says more than the read that followed.
      if (write_failed_) end = Status::IoError(write_error_);
      fd_ = -1;
      write_failed_ = false;
      ping_outstanding_ = false;
    }
    held_.clear();
    return end;  // `sock` closes here, after no writer can reach it
  }

  // The read loop of one connection, handshake included.
  Status ReadPackets(int fd, bool first, Phase& phase, SteadyClock::time_point deadline,
                     bool& established) {
    std::string_view unread;
    for (;;) {
      for (;;) {
        Result<mqtt::FrameSplitter::Event> e = splitter_.Next(unread);
        if (!e.ok()) return Status::IoError("protocol error: " + e.status().message());
        if (*e == mqtt::FrameSplitter::Event::kNeedMore) break;
        Status s = *e == mqtt::FrameSplitter::Event::kPacket
                       ? OnPacket(fd, first, phase, deadline, established)
                       : OnOversized();
        if (!s.ok()) return s;
      }
      // Before the socket is shown to the writers only the pipe can interrupt us; after that
      // Stop shuts the socket down (and the pipe, once written, would wake every poll).
      bool watch_pipe = phase == Phase::kAwaitConnack;
      pollfd p[2] = {{fd, POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
      int n = ::poll(p, watch_pipe ? 2 : 1, PollTimeoutMs(phase, deadline));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IoError("poll: " + ErrnoText(errno));
      }
      if (watch_pipe && p[1].revents != 0) return Status::Ok();  // stopping
      if (n == 0) {
        if (Status s = CheckTimeouts(phase, deadline); !s.ok()) return s;
        continue;
      }
      ssize_t got = ::read(fd, read_buf_.data(), read_buf_.size());
      if (got == 0) {
        if (IsStopping()) return Status::Ok();
        return Status::Unavailable(splitter_.at_packet_boundary()
                                       ? "the broker closed the connection"
                                       : "the broker closed the connection inside a packet");
      }
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        if (IsStopping()) return Status::Ok();
        return Status::IoError("read: " + ErrnoText(errno));
      }
      unread = std::string_view(read_buf_.data(), static_cast<std::size_t>(got));
    }
  }

  int PollTimeoutMs(Phase phase, SteadyClock::time_point deadline) {
    int timeout = -1;  // Stop or the broker wakes us
    if (phase != Phase::kRunning) timeout = RemainingMs(deadline);
    if (options_.keep_alive_seconds > 0) {
      const auto keep_alive = std::chrono::seconds(options_.keep_alive_seconds);
      std::lock_guard lock(write_mu_);
      int ka = ping_outstanding_ ? RemainingMs(ping_sent_ + keep_alive)
                                 : static_cast<int>(options_.keep_alive_seconds) * 1000;
      timeout = timeout < 0 ? ka : std::min(timeout, ka);
    }
    return timeout;
  }

  // Called when nothing arrived for a poll timeout, so a late answer is not sitting unread.
  Status CheckTimeouts(Phase phase, SteadyClock::time_point deadline) {
    if (phase != Phase::kRunning && SteadyClock::now() >= deadline) {
      return Status::Unavailable(std::string("no ") +
                                 (phase == Phase::kAwaitConnack ? "CONNACK" : "SUBACK") +
                                 " within " + std::to_string(options_.connect_timeout_ms) + " ms");
    }
    if (options_.keep_alive_seconds > 0) {
      std::lock_guard lock(write_mu_);
      if (ping_outstanding_ &&
          SteadyClock::now() >= ping_sent_ + std::chrono::seconds(options_.keep_alive_seconds)) {
        return Status::Unavailable("no PINGRESP within " +
                                   std::to_string(options_.keep_alive_seconds) + " s");
      }
    }
    return Status::Ok();
  }

  Status OnPacket(int fd, bool first, Phase& phase, SteadyClock::time_point& deadline,
                  bool& established) {
    const mqtt::Packet& packet = splitter_.packet();
    if (phase == Phase::kAwaitConnack) {
      Result<mqtt::Connack> ack = mqtt::ParseConnack(packet);
      if (!ack.ok()) return Status::IoError("protocol error: " + ack.status().message());
      if (ack->return_code != 0) {
        return Status::Unavailable("broker refused the connection: " +
                                   std::string(mqtt::ConnackReturnCodeText(ack->return_code)) +
                                   " (CONNACK return code " + std::to_string(ack->return_code) +
                                   ")");
      }
      session_present_ = ack->session_present;
      return GoLive(fd, phase, deadline);
    }
    switch (packet.type) {
      case mqtt::kPublish: {
        Result<mqtt::Publish> p = mqtt::ParsePublish(packet);
        if (!p.ok()) return Status::IoError("protocol error: " + p.status().message());
        MqttMessage m;
        m.topic.assign(p->topic);
        m.payload.assign(p->payload);
        m.qos = p->qos;
        m.dup = p->dup;
        if (HoldingForStart()) return Hold(std::move(m), p->packet_id, false);
        Deliver(std::move(m), p->packet_id);
        return Status::Ok();
      }
      case mqtt::kSuback: {
        if (phase != Phase::kAwaitSuback) return Status::IoError("protocol error: extra SUBACK");
        Result<mqtt::Suback> ack = mqtt::ParseSuback(packet);
        if (!ack.ok()) return Status::IoError("protocol error: " + ack.status().message());
        if (ack->packet_id != kSubscribePacketId || ack->return_codes.size() != 1) {
          return Status::IoError("protocol error: SUBACK does not match our SUBSCRIBE");
        }
        auto granted = static_cast<std::uint8_t>(ack->return_codes[0]);
        if (granted == mqtt::kSubackFailure) {
          return Status::Unavailable("broker refused the subscription to \"" + options_.topic +
                                     "\" (SUBACK 0x80: not authorized or bad filter)");
        }
        if (granted < options_.qos) {
          spdlog::warn("mqtt: {} granted QoS {} for \"{}\", not {}: messages may be lost", broker_,
                       granted, options_.topic, options_.qos);
        }
        phase = Phase::kRunning;
        established = true;
        subscribed_.store(true, std::memory_order_release);
        if (!first) reconnects_.fetch_add(1, std::memory_order_relaxed);
        spdlog::info("mqtt: subscribed to \"{}\" on {} as \"{}\" (QoS {}, session {})",
                     options_.topic, broker_, options_.client_id, granted,
                     session_present_ ? "resumed" : "new");
        if (first) return ReleaseHeld();
        return Status::Ok();
      }
      case mqtt::kPingresp: {
        if (Status s = mqtt::ParsePingresp(packet); !s.ok()) {
          return Status::IoError("protocol error: " + s.message());
        }
        std::lock_guard lock(write_mu_);
        ping_outstanding_ = false;
        return Status::Ok();
      }
      default:
        return Status::IoError("protocol error: unexpected " +
                               std::string(mqtt::PacketTypeName(packet.type)) + " from the broker");
    }
  }

  // After an accepted CONNACK: new generation, socket shown to the writers, SUBSCRIBE out.
  Status GoLive(int fd, Phase& phase, SteadyClock::time_point& deadline) {
    {
      std::lock_guard lock(ack_mu_);
      ++generation_;
      if ((generation_ & kGenMask) == 0) ++generation_;  // tokens are never 0
      next_seq_ = 0;
      pending_.clear();
      live_ = !stopping_;
    }
    std::lock_guard lock(write_mu_);
    // Stop sets exit_ under this lock before it shuts the socket down; either it sees our fd
    // or we see its flag, never neither.
    if (exit_) return Status::Ok();
    fd_ = fd;
    write_failed_ = false;
    ping_outstanding_ = false;
    last_send_ = SteadyClock::now();
    write_cv_.notify_all();
    out_.clear();
    if (Status s = mqtt::EncodeSubscribe(kSubscribePacketId, options_.topic, options_.qos, out_);
        !s.ok()) {
      return s;  // ValidateOptions makes this unreachable
    }
    if (!WriteLocked(out_)) return Status::IoError("sending SUBSCRIBE: " + write_error_);
    phase = Phase::kAwaitSuback;
    deadline = SteadyClock::now() + milliseconds(options_.connect_timeout_ms);
    return Status::Ok();
  }

  bool HoldingForStart() {
    std::lock_guard lock(ack_mu_);
    return !gate_open_;
  }

  Status Hold(MqttMessage m, std::uint16_t packet_id, bool oversized) {
    held_bytes_ += m.topic.size() + m.payload.size() + sizeof(Held);
    if (held_bytes_ > kMaxHeldBytes) {
      return Status::Unavailable("the broker sent more than 64 MiB of messages before the SUBACK");
    }
    held_.push_back(Held{std::move(m), packet_id, oversized});
    return Status::Ok();
  }

  // First connection only: tell Start, wait until it has returned, then hand out what arrived
  // before the SUBACK, in order.
  Status ReleaseHeld() {
    std::unique_lock lock(ack_mu_);
    start_status_ = Status::Ok();
    start_done_ = true;
    ack_cv_.notify_all();
    ack_cv_.wait(lock, [&] { return gate_open_ || stopping_; });
    lock.unlock();
    for (Held& h : held_) {
      if (h.oversized) {
        AckOversized(h.message.qos, h.packet_id);
      } else {
        Deliver(std::move(h.message), h.packet_id);
      }
    }
    held_.clear();
    return Status::Ok();
  }

  void Deliver(MqttMessage message, std::uint16_t packet_id) {
    {
      std::lock_guard lock(ack_mu_);
      // After Stop began nothing is handed out; the broker delivers it to the next session.
      if (stopping_ || !live_) return;
      std::uint64_t seq = next_seq_++;
      message.token = ((generation_ & kGenMask) << kSeqBits) | (seq & kSeqMask);
      // Queued before the handler runs, so an Ack from any thread finds it and Stop waits for it.
      if (message.qos > 0) pending_.push_back(Pending{seq, packet_id, false});
    }
    messages_.fetch_add(1, std::memory_order_relaxed);
    if (message.dup) redelivered_.fetch_add(1, std::memory_order_relaxed);
    in_handler_.store(true, std::memory_order_relaxed);
    handler_(std::move(message));
    in_handler_.store(false, std::memory_order_relaxed);
  }

  Status OnOversized() {
    const mqtt::OversizedPublish& o = splitter_.oversized();
    oversized_.fetch_add(1, std::memory_order_relaxed);
    auto now = SteadyClock::now();
    if (now - last_oversized_log_ >= std::chrono::seconds(1)) {  // at most one line a second
      std::string more = oversized_unlogged_ == 0
                             ? std::string()
                             : fmt::format(" ({} more since the last report)", oversized_unlogged_);
      spdlog::warn("mqtt: skipped and acknowledged a PUBLISH of {} bytes on \"{}{}\" (limit {}){}",
                   o.packet_bytes, o.topic, o.topic_truncated ? "..." : "",
                   options_.max_packet_bytes, more);
      last_oversized_log_ = now;
      oversized_unlogged_ = 0;
    } else {
      ++oversized_unlogged_;
    }
    if (HoldingForStart()) {
      MqttMessage m;
      m.qos = o.qos;
      return Hold(std::move(m), o.packet_id, true);
    }
    AckOversized(o.qos, o.packet_id);
    return Status::Ok();
  }

  // An oversized message takes its place in the order and is acknowledged at once, so its
  // PUBACK goes out as soon as the messages before it are acknowledged.
  void AckOversized(int qos, std::uint16_t packet_id) {
    if (qos == 0) return;
    std::unique_lock lock(ack_mu_);
    if (stopping_ || !live_) return;
    pending_.push_back(Pending{next_seq_++, packet_id, true});
    FlushAcks(lock);
  }

  const MqttSubscriberOptions options_;
  const Handler handler_;
  const std::string connect_packet_;  // holds the password: never logged
  const std::string broker_;          // "host:port" for logs

  std::thread reader_;
  std::thread pinger_;
  Fd wake_read_;
  Fd wake_write_;

  // Reader thread only.
  mqtt::FrameSplitter splitter_;
  std::vector<char> read_buf_;
  std::vector<Held> held_;
  std::size_t held_bytes_ = 0;
  bool session_present_ = false;
  SteadyClock::time_point last_oversized_log_{};
  std::uint64_t oversized_unlogged_ = 0;

  std::mutex ack_mu_;
  std::condition_variable ack_cv_;  // start_done_, gate_open_, pending_ drained, live_
  std::uint64_t generation_ = 0;    // GUARDED_BY(ack_mu_)
  std::uint64_t next_seq_ = 0;      // GUARDED_BY(ack_mu_)
  std::deque<Pending> pending_;     // GUARDED_BY(ack_mu_); QoS 1 only, in arrival order
  bool live_ = false;               // GUARDED_BY(ack_mu_); tokens of generation_ are valid
  bool stopping_ = false;           // GUARDED_BY(ack_mu_)
  bool stop_called_ = false;        // GUARDED_BY(ack_mu_)
  bool gate_open_ = false;          // GUARDED_BY(ack_mu_); Start has returned
  bool start_done_ = false;         // GUARDED_BY(ack_mu_)
  Status start_status_;             // GUARDED_BY(ack_mu_)

  std::mutex write_mu_;
  std::condition_variable write_cv_;     // wakes the pinger
  int fd_ = -1;                          // GUARDED_BY(write_mu_); -1 when no writer may use it
  bool write_failed_ = false;            // GUARDED_BY(write_mu_)
  std::string write_error_;              // GUARDED_BY(write_mu_)
  bool exit_ = false;                    // GUARDED_BY(write_mu_)
  std::string out_;                      // GUARDED_BY(write_mu_); reused for every write
  SteadyClock::time_point last_send_{};  // GUARDED_BY(write_mu_)
  SteadyClock::time_point ping_sent_{};  // GUARDED_BY(write_mu_)
  bool ping_outstanding_ = false;        // GUARDED_BY(write_mu_)

  std::atomic<bool> subscribed_{false};
  std::atomic<bool> in_handler_{false};
  std::atomic<std::uint64_t> messages_{0};
  std::atomic<std::uint64_t> acks_{0};
  std::atomic<std::uint64_t> oversized_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> stale_acks_{0};
  std::atomic<std::uint64_t> redelivered_{0};
  std::atomic<std::uint64_t> connection_losses_{0};
};

Status ParsePort(std::string_view text, std::string_view url, std::uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return Status::InvalidArgument("mqtt broker \"" + std::string(url) + "\": bad port \"" +
                                   std::string(text) + "\" (want 1 to 65535)");
  }
  port = static_cast<std::uint16_t>(value);
  return Status::Ok();
}

}  // namespace

Result<std::pair<std::string, std::uint16_t>> ParseMqttBroker(std::string_view url) {
  auto bad = [&](std::string why) {
    return Status::InvalidArgument("mqtt broker \"" + std::string(url) + "\": " + why);
  };
  std::string_view rest = url;
  if (std::size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    std::string_view name = rest.substr(0, scheme);
    if (name != "tcp" && name != "mqtt") {
      return bad("unsupported scheme \"" + std::string(name) +
                 "\" (use tcp:// or mqtt://; TLS and WebSockets are not supported)");
    }
    rest.remove_prefix(scheme + 3);
  }
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return bad("only host and port are allowed (no path, query or user)");
  }
  std::string_view host = rest;
  std::string_view port_text;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected ':' after ']'");
      port_text = after.substr(1);
      has_port = true;
    }
  } else if (std::size_t colon = rest.find(':'); colon != std::string_view::npos) {
    if (rest.find(':', colon + 1) != std::string_view::npos) {
      return bad("an IPv6 address must be in brackets, as in [::1]:1883");
    }
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    has_port = true;
  }
  if (host.empty()) return bad("empty host");
  std::uint16_t port = 1883;
  if (has_port) {
    if (Status s = ParsePort(port_text, url, port); !s.ok()) return s;
  }
  return std::pair<std::string, std::uint16_t>(std::string(host), port);
}

Result<std::unique_ptr<MqttSubscriber>> MqttSubscriber::Start(const MqttSubscriberOptions& options,
                                                              Handler handler) {
  if (Status s = ValidateOptions(options); !s.ok()) return s;
  if (!handler) return Status::InvalidArgument("mqtt: no message handler");
  mqtt::ConnectFields fields;
  fields.client_id = options.client_id;
  fields.clean_session = options.clean_session;
  fields.keep_alive_seconds = static_cast<std::uint16_t>(options.keep_alive_seconds);
  fields.username = options.username;
  fields.password = options.password;
  std::string connect;
  if (Status s = mqtt::EncodeConnect(fields, connect); !s.ok()) {
    return Status::InvalidArgument("mqtt: " + s.message());
  }
  auto impl = std::make_unique<MqttSubscriberImpl>(options, std::move(handler), std::move(connect));
  if (Status s = impl->Begin(); !s.ok()) {
    impl->Stop(milliseconds(0));
    return Status::Unavailable("mqtt: " + options.host + ":" + std::to_string(options.port) + ": " +
                               s.message());
  }
  return std::unique_ptr<MqttSubscriber>(std::move(impl));
}

}  // namespace aquawatch
