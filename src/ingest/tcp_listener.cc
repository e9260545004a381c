#include "ingest/tcp_listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cstring>

#include "core/live_set.h"

namespace aquawatch {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  TcpConnection(tcp::socket socket, const TcpListenerOptions& options, IngestChannel& channel,
                Clock& clock, std::shared_ptr<LiveSet<TcpConnection>> live)
      : live_(std::move(live)),
        socket_(std::move(socket)),
        retry_timer_(socket_.get_executor()),
        options_(options),
        channel_(channel),
        clock_(clock),
        buffer_(options.read_buffer_bytes, '\0') {}

  ~TcpConnection() { live_->Remove(this); }

  void Start() {
    live_->Add(shared_from_this());
    DoRead();
  }

  // Shutdown: stop reading; the batch in hand, if any, is still handed to the pipeline.
  void Finish() {
    net::post(socket_.get_executor(), [self = shared_from_this()] {
      self->finishing_ = true;
      if (!self->submitting_) self->CloseSocket();
    });
  }

 private:
  void CloseSocket() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  void DoRead() {
    if (finishing_) return CloseSocket();
    socket_.async_read_some(net::buffer(buffer_.data() + filled_, buffer_.size() - filled_),
                            [self = shared_from_this()](boost::system::error_code ec,
                                                        std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(boost::system::error_code ec, std::size_t n) {
    if (ec) {
      // End of stream: a last line without a newline is still a line.
      if (ec == net::error::eof && filled_ > 0 && !discarding_) {
        DecodeUpTo(filled_);
        filled_ = 0;
        closing_ = true;
        if (!batch_.empty()) return TrySubmit();
      }
      return;
    }
    filled_ += n;
    std::string_view data(buffer_.data(), filled_);
    std::size_t last_newline = data.rfind('\n');
    if (last_newline == std::string_view::npos) {
      if (filled_ == buffer_.size()) {
        // A line longer than the whole buffer: reject it and skip to the next newline.
        if (!discarding_) {
          channel_.CountRejected(1);
          spdlog::warn("{}: line {}: longer than {} bytes, rejected", channel_.name(), next_line_,
                       buffer_.size());
        }
        discarding_ = true;
        filled_ = 0;
      }
      return DoRead();
    }
    std::size_t consumed = last_newline + 1;
    if (discarding_) {
      // Drop the tail of the over-long line up to and including its newline.
      std::size_t first_newline = data.find('\n');
      std::memmove(buffer_.data(), buffer_.data() + first_newline + 1, filled_ - first_newline - 1);
      filled_ -= first_newline + 1;
      consumed -= first_newline + 1;
      ++next_line_;
      discarding_ = false;
    }
    DecodeUpTo(consumed);
    std::memmove(buffer_.data(), buffer_.data() + consumed, filled_ - consumed);
    filled_ -= consumed;
    if (batch_.empty()) return DoRead();
    TrySubmit();
  }

  void DecodeUpTo(std::size_t end) {
    std::string_view text(buffer_.data(), end);
    LineProtocolOptions lp;
    lp.precision = options_.precision;
    lp.default_time_ns = clock_.NowNs();
    lp.first_line = next_line_;
    batch_.Clear();
    batch_.arrival_ns = lp.default_time_ns;
    errors_.clear();
    channel_.Decode(WireFormat::kLineProtocol, text, lp, batch_, errors_);
    next_line_ += static_cast<std::uint32_t>(std::count(text.begin(), text.end(), '\n'));
  }

  // Holds the socket unread until the pipeline takes the batch: that is the backpressure.
  void TrySubmit() {
    submitting_ = true;
    Status s = channel_.Submit(batch_, [](const WriteResult&) {});
    if (s.ok()) {
      submitting_ = false;
      batch_.Clear();
      if (!closing_) DoRead();
      return;
    }
    if (!channel_.pipeline().Healthy()) {
      spdlog::error("{}: closing connection: {}", channel_.name(), s.message());
      submitting_ = false;
      CloseSocket();
      return;
    }
    retry_timer_.expires_after(std::chrono::milliseconds(2));
    retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->TrySubmit();
    });
  }

  // Shared: pending handlers, and so connections, can outlive the listener until io stops.
  std::shared_ptr<LiveSet<TcpConnection>> live_;
  tcp::socket socket_;
  net::steady_timer retry_timer_;
  const TcpListenerOptions& options_;
  IngestChannel& channel_;
  Clock& clock_;
  std::string buffer_;
  std::size_t filled_ = 0;
  std::uint32_t next_line_ = 1;  // line number of the buffer's first line, per connection
  bool discarding_ = false;
  bool closing_ = false;
  // Touched only on the connection's strand.
  bool submitting_ = false;  // a decoded batch waits for room in the pipeline
  bool finishing_ = false;   // the listener is stopping: read no more
  ReadingBatch batch_;
  std::vector<DecodeError> errors_;
};

class TcpListenerImpl final : public TcpListener {
 public:
  TcpListenerImpl(net::io_context& io, TcpListenerOptions options, IngestChannel& channel,
                  Clock& clock)
      : io_(io),
        acceptor_(net::make_strand(io)),
        options_(std::move(options)),
        channel_(channel),
        clock_(clock) {}

  Status Listen() {
    boost::system::error_code ec;
    auto address = net::ip::make_address(options_.address, ec);
    if (ec) {
      return Status::InvalidArgument("tcp address \"" + options_.address + "\": " + ec.message());
    }
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::IoError("tcp listen on " + options_.address + ":" +
                             std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    DoAccept();
    return Status::Ok();
  }

  std::uint16_t port() const override { return port_; }

  void Stop() override {
    net::post(acceptor_.get_executor(), [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
    });
    for (const auto& c : live_->Snapshot()) c->Finish();
  }

  std::size_t Drain(std::chrono::milliseconds timeout) override {
    // A connection accepted just before the acceptor closed joins after the first sweep.
    for (const auto& c : live_->Snapshot()) c->Finish();
    return live_->WaitEmpty(timeout);
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(
        net::make_strand(io_), [this](boost::system::error_code ec, tcp::socket socket) {
          if (ec == net::error::operation_aborted) return;
          if (!ec) {
            std::make_shared<TcpConnection>(std::move(socket), options_, channel_, clock_, live_)
                ->Start();
          }
          if (acceptor_.is_open()) DoAccept();
        });
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  TcpListenerOptions options_;
  IngestChannel& channel_;
  Clock& clock_;
  std::uint16_t port_ = 0;
  std::shared_ptr<LiveSet<TcpConnection>> live_ = std::make_shared<LiveSet<TcpConnection>>();
};

}  // namespace

Result<std::unique_ptr<TcpListener>> TcpListener::Start(net::io_context& io,
                                                        const TcpListenerOptions& options,
                                                        IngestChannel& channel, Clock& clock) {
  auto listener = std::make_unique<TcpListenerImpl>(io, options, channel, clock);
  Status s = listener->Listen();
  if (!s.ok()) return s;
  return std::unique_ptr<TcpListener>(std::move(listener));
}

}  // namespace aquawatch
