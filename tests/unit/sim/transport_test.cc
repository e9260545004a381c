#include "sim/transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "ingest/decode/decode.h"
#include "sim/fleet.h"

namespace aquawatch::sim {
namespace {

constexpr std::int64_t kStart = 1'700'000'000'000'000'000;

ReadingBatch FleetBatch(std::size_t sensors, bool contaminated) {
  FleetOptions o;
  o.sensors = sensors;
  o.start_time_ns = kStart;
  if (contaminated) o.contamination_every_ns = 60 * kNanosPerSecond;
  Fleet fleet(o);
  ReadingBatch b;
  fleet.Step(kStart + 600 * kNanosPerSecond, b);
  return b;
}

void ExpectSameReadings(const ReadingBatch& want, const ReadingBatch& got) {
  ASSERT_EQ(want.size(), got.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want.sensor(i), got.sensor(i));
    EXPECT_EQ(want.site(i), got.site(i));
    EXPECT_EQ(want.zone(i), got.zone(i));
    EXPECT_EQ(want.time_ns(i), got.time_ns(i));
    ASSERT_EQ(want.field_end(i) - want.field_begin(i), got.field_end(i) - got.field_begin(i));
    for (std::size_t k = 0; k < want.field_end(i) - want.field_begin(i); ++k) {
      std::size_t fw = want.field_begin(i) + k, fg = got.field_begin(i) + k;
      EXPECT_EQ(want.field_param(fw), got.field_param(fg));
      EXPECT_EQ(want.field_value(fw), got.field_value(fg)) << want.field_name(fw);
    }
  }
}

TEST(Encode, LineProtocolLooksLikeInfluxLines) {
  ReadingBatch b;
  b.BeginReading("s-1", 1'700'000'000'123'456'789, "site 1", "z,1");
  b.AddField(ParameterId::kPh, 7.25);
  b.AddCustomField("uv254", 0.1);
  std::string out;
  std::vector<std::uint32_t> offsets;
  EncodeLineProtocol(b, out, &offsets);
  EXPECT_EQ(out,
            "water,sensor=s-1,site=site\\ 1,zone=z\\,1 ph=7.25,uv254=0.1 1700000000123456789\n");
  ASSERT_EQ(offsets.size(), 1u);
  EXPECT_EQ(out.substr(offsets[0], 19), "1700000000123456789");
}

TEST(Encode, JsonLooksLikeTheApiFormat) {
  ReadingBatch b;
  b.BeginReading("s-1", 1'700'000'000'123'000'000, "a\"b", "");
  b.AddField(ParameterId::kFreeChlorineMgL, 0.05);
  b.BeginReading("s-2", 1'700'000'000'124'000'000);
  b.AddField(ParameterId::kOrpMv, 700);
  std::string out;
  std::vector<std::uint32_t> offsets;
  EncodeJson(b, out, &offsets);
  EXPECT_EQ(out,
            "{\"readings\":[{\"sensor\":\"s-1\",\"time\":1700000000123,\"site\":\"a\\\"b\","
            "\"values\":{\"free_chlorine_mg_l\":0.05}},{\"sensor\":\"s-2\",\"time\":1700000000124,"
            "\"values\":{\"orp_mv\":700}}]}");
  ASSERT_EQ(offsets.size(), 2u);
  EXPECT_EQ(out.substr(offsets[1], 13), "1700000000124");
}

TEST(Encode, NonFiniteValuesAreLeftOut) {
  ReadingBatch b;
  b.BeginReading("s-1", kStart);
  b.AddField(ParameterId::kPh, NAN);
  b.BeginReading("s-2", kStart);
  b.AddField(ParameterId::kPh, 7.0);
  b.AddField(ParameterId::kOrpMv, INFINITY);
  std::string lp, js;
  EncodeLineProtocol(b, lp);
  EncodeJson(b, js);
  EXPECT_EQ(lp, "water,sensor=s-2 ph=7 1700000000000000000\n");
  EXPECT_EQ(js,
            "{\"readings\":[{\"sensor\":\"s-2\",\"time\":1700000000000,\"values\":{\"ph\":7}}]}");
}

// The decoders are the server's; the simulator must produce exactly what they read back.
TEST(Encode, LineProtocolRoundTripsThroughTheDecoder) {
  ReadingBatch want = FleetBatch(200, true);
  std::string text;
  EncodeLineProtocol(want, text);
  ReadingBatch got;
  std::vector<DecodeError> errors;
  DecodeOutcome r = DecodeLineProtocol(text, LineProtocolOptions{}, got, errors);
  EXPECT_EQ(r.rejected, 0u) << (errors.empty() ? "" : errors[0].reason);
  EXPECT_EQ(r.accepted, want.size());
  ExpectSameReadings(want, got);
}

TEST(Encode, JsonRoundTripsThroughTheDecoder) {
  ReadingBatch want = FleetBatch(200, true);
  std::string text;
  EncodeJson(want, text);
  ReadingBatch got;
  std::vector<DecodeError> errors;
  DecodeOutcome r = DecodeJson(text, JsonOptions{}, got, errors);
  EXPECT_EQ(r.rejected, 0u) << (errors.empty() ? "" : errors[0].reason);
  EXPECT_EQ(r.accepted, want.size());
  ExpectSameReadings(want, got);
}

// A loopback listener on an ephemeral port that collects everything one client sends.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  int port() const { return port_; }

  // Accepts one connection and reads until EOF.
  std::string AcceptAndReadAll() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return {};
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string data;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    ::close(c);
    return data;
  }

  // Accepts one connection and answers each HTTP request with the next canned response.
  std::vector<std::string> ServeHttp(const std::vector<std::string>& responses) {
    std::vector<std::string> requests;
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return requests;
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string pending;
    char buf[65536];
    for (const std::string& response : responses) {
      // Read one request: headers, then Content-Length bytes.
      while (true) {
        auto end = pending.find("\r\n\r\n");
        if (end != std::string::npos) {
          auto cl = pending.find("Content-Length: ");
          std::size_t body = cl == std::string::npos ? 0 : std::stoul(pending.substr(cl + 16));
          if (pending.size() >= end + 4 + body) {
            requests.push_back(pending.substr(0, end + 4 + body));
            pending.erase(0, end + 4 + body);
            break;
          }
        }
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) {
          ::close(c);
          return requests;
        }
        pending.append(buf, static_cast<std::size_t>(n));
      }
      EXPECT_EQ(::write(c, response.data(), response.size()),
                static_cast<ssize_t>(response.size()));
    }
    ::close(c);
    return requests;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(TcpSender, DeliversLineProtocolToALoopbackListener) {
  Listener listener;
  std::string received;
  std::thread server([&] { received = listener.AcceptAndReadAll(); });
  ReadingBatch batch = FleetBatch(50, false);
  std::string expected;
  {
    SenderOptions o;
    o.transport = Transport::kTcp;
    o.target = "127.0.0.1:" + std::to_string(listener.port());
    auto sender = NewSender(o);
    ASSERT_TRUE(sender.ok()) << sender.status().ToString();
    EXPECT_EQ((*sender)->format(), WireFormat::kLineProtocol);
    for (int round = 0; round < 3; ++round) {
      SendReport report;
      ASSERT_TRUE((*sender)->Send(batch, &report).ok());
      EXPECT_EQ(report.accepted, batch.size());
      EXPECT_FALSE(report.acknowledged);
      EncodeLineProtocol(batch, expected);
    }
  }  // closing the sender ends the stream
  server.join();
  EXPECT_EQ(received, expected);
}

TEST(TcpSender, UnreachableTargetFailsAtOpen) {
  SenderOptions o;
  o.transport = Transport::kTcp;
  o.target = "127.0.0.1:1";  // nothing listens on port 1 in a test sandbox
  EXPECT_FALSE(NewSender(o).ok());
}

TEST(HttpSender, RetriesOverloadThenCountsPartialRejection) {
  Listener listener;
  const std::string kBody = R"({"error":"bad ph","accepted":1,"rejected":1,"errors":[]})";
  std::vector<std::string> requests;
  std::thread server([&] {
    requests = listener.ServeHttp({
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(kBody.size()) + "\r\n\r\n" + kBody,
    });
  });
  SenderOptions o;
  o.transport = Transport::kHttp;
  o.target = "http://127.0.0.1:" + std::to_string(listener.port());
  auto sender = NewSender(o);
  ASSERT_TRUE(sender.ok()) << sender.status().ToString();
  ReadingBatch b;
  b.BeginReading("s-1", kStart);
  b.AddField(ParameterId::kPh, 7.1);
  b.BeginReading("s-2", kStart);
  b.AddField(ParameterId::kPh, 7.2);
  SendReport report;
  EXPECT_TRUE((*sender)->Send(b, &report).ok());
  EXPECT_EQ(report.accepted, 2u);
  EXPECT_TRUE(report.acknowledged);
  EXPECT_EQ(report.overloaded, 1);
  EXPECT_EQ(report.unavailable, 1);
  Status s = (*sender)->Send(b, &report);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(report.accepted, 1u);
  EXPECT_EQ(report.rejected, 1u);
  EXPECT_EQ(report.server_error, "bad ph");
  sender->reset();
  server.join();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].rfind("POST /api/v1/readings HTTP/1.1\r\n", 0), 0u) << requests[0];
  EXPECT_NE(requests[0].find("\"sensor\":\"s-1\""), std::string::npos);
  EXPECT_EQ(requests[0].substr(requests[0].find("\r\n\r\n")),
            requests[2].substr(requests[2].find("\r\n\r\n")))
      << "the same batch is retried";
}

TEST(HttpUrl, Parses) {
  auto ep = ParseHttpUrl("http://127.0.0.1:8080/prefix/");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, "8080");
  EXPECT_EQ(ep->prefix, "/prefix");
  EXPECT_EQ(ParseHttpUrl("http://localhost")->port, "80");
  EXPECT_FALSE(ParseHttpUrl("https://x").ok());
  EXPECT_FALSE(ParseHttpUrl("nonsense").ok());
}

}  // namespace
}  // namespace aquawatch::sim
