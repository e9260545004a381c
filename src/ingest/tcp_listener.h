// TcpListener: InfluxDB line protocol over plain TCP (default port 8089), many lines per packet.
//
// The protocol has no acknowledgements; a sender learns about overload because the listener
// stops reading its socket while the shard queues are full (TCP flow control does the rest).
// Rejected lines are counted and logged, never answered.
// Thread-safety: Start/Stop from one thread; connections run on the io_context's threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "ingest/decode/decode.h"
#include "ingest/ingest_channel.h"

namespace boost::asio {
class io_context;
}

namespace aquawatch {

struct TcpListenerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8089;  // 0 = any free port
  Precision precision = Precision::kNanoseconds;
  std::size_t read_buffer_bytes = 256 * 1024;  // also the longest accepted line
};

class TcpListener {
 public:
  static Result<std::unique_ptr<TcpListener>> Start(boost::asio::io_context& io,
                                                    const TcpListenerOptions& options,
                                                    IngestChannel& channel, Clock& clock);
  virtual ~TcpListener() = default;
  virtual std::uint16_t port() const = 0;
  // Stops accepting and reading; each connection still hands the batch it holds to the pipeline.
  virtual void Stop() = 0;
  // After Stop: waits until every connection is closed, or `timeout`; returns how many are left.
  virtual std::size_t Drain(std::chrono::milliseconds timeout) = 0;
};

}  // namespace aquawatch
