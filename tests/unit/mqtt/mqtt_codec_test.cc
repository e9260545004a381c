// The MQTT 3.1.1 codec against bytes written out by hand from the specification, and the frame
// splitter against every way a socket can cut a stream.
#include "ingest/mqtt/mqtt_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace aquawatch::mqtt {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// Packet holds a view; parsed results view into it too. Keep test bytes alive to the end.
std::string_view Keep(std::string bytes) {
  static std::deque<std::string> kept;
  kept.push_back(std::move(bytes));
  return kept.back();
}

std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[(static_cast<unsigned char>(c) >> 4) & 0xF]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0xF]);
  }
  return out;
}

// Feeds `stream` in the chunk sizes `next_chunk` returns and describes every event, so that two
// ways of cutting the same stream can be compared. Stops at the first error.
template <typename ChunkFn>
std::vector<std::string> Split(std::string_view stream, std::size_t max, ChunkFn next_chunk) {
  FrameSplitter splitter(max);
  std::vector<std::string> events;
  while (!stream.empty()) {
    std::size_t n = std::min(stream.size(), next_chunk());
    std::string chunk(stream.substr(0, n));  // a fresh buffer, as a socket read would be
    stream.remove_prefix(n);
    std::string_view input = chunk;
    for (;;) {
      Result<FrameSplitter::Event> e = splitter.Next(input);
      if (!e.ok()) {
        events.push_back("error: " + e.status().message());
        return events;
      }
      if (*e == FrameSplitter::Event::kNeedMore) break;
      if (*e == FrameSplitter::Event::kPacket) {
        const Packet& p = splitter.packet();
        events.push_back(std::string(PacketTypeName(p.type)) + " flags=" + std::to_string(p.flags) +
                         " body=" + Hex(p.body));
      } else {
        const OversizedPublish& o = splitter.oversized();
        events.push_back("oversized bytes=" + std::to_string(o.packet_bytes) +
                         " id=" + std::to_string(o.packet_id) + " qos=" + std::to_string(o.qos) +
                         " topic=" + std::string(o.topic) + (o.topic_truncated ? "..." : ""));
      }
    }
    if (!input.empty()) events.push_back("bug: input left over");
  }
  if (!splitter.at_packet_boundary()) events.push_back("truncated");
  return events;
}

std::vector<std::string> SplitWhole(std::string_view stream, std::size_t max = 1 << 20) {
  return Split(stream, max, [&] { return stream.size(); });
}

std::string PublishBytes(std::string_view topic, std::string_view payload, int qos,
                         std::uint16_t id) {
  std::string out;
  Status s = EncodePublish(topic, payload, qos, id, false, false, out);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

// ---- encoders --------------------------------------------------------------------------------

TEST(MqttCodec, RemainingLengthMatchesSpecTable) {
  // Section 2.2.3, table 2.4: the edges of each varint length.
  struct Case {
    std::uint32_t value;
    std::string bytes;
  } cases[] = {
      {0, Bytes({0x00})},
      {127, Bytes({0x7F})},
      {128, Bytes({0x80, 0x01})},
      {16'383, Bytes({0xFF, 0x7F})},
      {16'384, Bytes({0x80, 0x80, 0x01})},
      {2'097'151, Bytes({0xFF, 0xFF, 0x7F})},
      {2'097'152, Bytes({0x80, 0x80, 0x80, 0x01})},
      {268'435'455, Bytes({0xFF, 0xFF, 0xFF, 0x7F})},
  };
  for (const Case& c : cases) {
    std::string out;
    AppendRemainingLength(c.value, out);
    EXPECT_EQ(Hex(out), Hex(c.bytes)) << c.value;
  }
}

TEST(MqttCodec, ConnectPersistentSessionWithoutCredentials) {
  std::string out;
  ConnectFields f;
  f.client_id = "aw";
  f.clean_session = false;
  f.keep_alive_seconds = 20;
  ASSERT_TRUE(EncodeConnect(f, out).ok());
  // Section 3.1: fixed header, "MQTT", level 4, flags 0 (no clean session), keep-alive 20,
  // client id.
  EXPECT_EQ(Hex(out), Hex(Bytes({0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x14,
                                 0x00, 0x02, 'a', 'w'})));
}

TEST(MqttCodec, ConnectWithUserNameAndPasswordAndCleanSession) {
  std::string out = "keep";  // encoders append
  ConnectFields f;
  f.client_id = "aw";
  f.clean_session = true;
  f.keep_alive_seconds = 10;
  f.username = "u";
  f.password = "p";
  ASSERT_TRUE(EncodeConnect(f, out).ok());
  // Flags 1100 0010: user name, password, clean session (section 3.1.2.3).
  EXPECT_EQ(Hex(out),
            Hex("keep" + Bytes({0x10, 0x14, 0x00, 0x04, 'M', 'Q',  'T',  'T', 0x04, 0xC2, 0x00,
                                0x0A, 0x00, 0x02, 'a',  'w', 0x00, 0x01, 'u', 0x00, 0x01, 'p'})));
}

TEST(MqttCodec, ConnectUserNameWithoutPassword) {
  std::string out;
  ConnectFields f;
  f.client_id = "aw";
  f.username = "u";
  ASSERT_TRUE(EncodeConnect(f, out).ok());
  EXPECT_EQ(static_cast<std::uint8_t>(out[9]), 0x80);
}

TEST(MqttCodec, ConnectRefusesWhatTheBrokerWouldRefuse) {
  std::string out;
  ConnectFields f;
  f.client_id = "";
  f.clean_session = false;
  EXPECT_FALSE(EncodeConnect(f, out).ok());  // section 3.1.3.1: needs clean session
  f.client_id = "aw";
  f.password = "secret";
  Status s = EncodeConnect(f, out);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("secret"), std::string::npos);  // a password is never echoed
  f.password = "";
  std::string long_id(70'000, 'x');
  f.client_id = long_id;
  EXPECT_FALSE(EncodeConnect(f, out).ok());
  std::string with_nul("a\0b", 3);
  f.client_id = with_nul;
  EXPECT_FALSE(EncodeConnect(f, out).ok());
  EXPECT_TRUE(out.empty());  // nothing half-written
  f.client_id = "";
  f.clean_session = true;
  EXPECT_TRUE(EncodeConnect(f, out).ok());
}

TEST(MqttCodec, SubscribeMatchesSpec) {
  std::string out;
  // Section 3.8: packet id 10, filter "a/b", requested QoS 1; flags 0010.
  ASSERT_TRUE(EncodeSubscribe(10, "a/b", 1, out).ok());
  EXPECT_EQ(Hex(out), Hex(Bytes({0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01})));
  out.clear();
  ASSERT_TRUE(EncodeSubscribe(1, "aquawatch/+/readings", 0, out).ok());
  EXPECT_EQ(static_cast<std::uint8_t>(out.back()), 0);
}

TEST(MqttCodec, SubscribeRefusesBadArguments) {
  std::string out;
  EXPECT_FALSE(EncodeSubscribe(0, "a", 1, out).ok());
  EXPECT_FALSE(EncodeSubscribe(1, "a", 2, out).ok());
  EXPECT_FALSE(EncodeSubscribe(1, "a", -1, out).ok());
  EXPECT_FALSE(EncodeSubscribe(1, "", 1, out).ok());
  EXPECT_FALSE(EncodeSubscribe(1, "a/#/b", 1, out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(MqttCodec, PubackPingreqDisconnectMatchSpec) {
  std::string out;
  EncodePuback(10, out);
  EXPECT_EQ(Hex(out), "40 02 00 0a");
  out.clear();
  EncodePuback(0x1234, out);
  EXPECT_EQ(Hex(out), "40 02 12 34");
  out.clear();
  EncodePingreq(out);
  EXPECT_EQ(Hex(out), "c0 00");
  out.clear();
  EncodeDisconnect(out);
  EXPECT_EQ(Hex(out), "e0 00");
}

TEST(MqttCodec, PublishMatchesSpec) {
  // Section 3.3.2.3, table 3.4: topic "a/b", packet id 10.
  EXPECT_EQ(Hex(PublishBytes("a/b", "hi", 1, 10)),
            Hex(Bytes({0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'})));
  EXPECT_EQ(Hex(PublishBytes("a/b", "", 0, 0)),
            Hex(Bytes({0x30, 0x05, 0x00, 0x03, 'a', '/', 'b'})));
  std::string out;
  ASSERT_TRUE(EncodePublish("t", "x", 1, 7, true, true, out).ok());
  EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0x3B);  // DUP, QoS 1, RETAIN
  out.clear();
  ASSERT_TRUE(EncodePublish("t", "x", 0, 0, true, false, out).ok());
  EXPECT_EQ(static_cast<std::uint8_t>(out[0]), 0x30);  // no DUP at QoS 0 (3.3.1.1)
  EXPECT_FALSE(EncodePublish("t", "x", 1, 0, false, false, out).ok());
  EXPECT_FALSE(EncodePublish("t", "x", 2, 1, false, false, out).ok());
  EXPECT_FALSE(EncodePublish("a/+", "x", 0, 0, false, false, out).ok());
}

TEST(MqttCodec, PublishOfLongPayloadUsesLongerVarint) {
  std::string payload(200, 'p');
  std::string bytes = PublishBytes("t", payload, 0, 0);
  EXPECT_EQ(Hex(bytes.substr(0, 3)), "30 cb 01");  // 203 = 0x4B | 0x80, 0x01
  EXPECT_EQ(bytes.size(), 3u + 203u);
}

// ---- parsers ---------------------------------------------------------------------------------

TEST(MqttCodec, ParsesConnack) {
  Result<Connack> c = ParseConnack({kConnack, 0, Keep(Bytes({0x01, 0x00}))});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->session_present);
  EXPECT_EQ(c->return_code, 0);
  c = ParseConnack({kConnack, 0, Keep(Bytes({0x00, 0x05}))});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->session_present);
  EXPECT_EQ(ConnackReturnCodeText(c->return_code), "not authorized");
  EXPECT_EQ(ConnackReturnCodeText(4), "bad user name or password");
  EXPECT_EQ(ConnackReturnCodeText(0), "accepted");
  EXPECT_EQ(ConnackReturnCodeText(99), "unknown return code");
}

TEST(MqttCodec, RejectsMalformedConnack) {
  EXPECT_FALSE(ParseConnack({kConnack, 0, Keep(Bytes({0x00}))}).ok());
  EXPECT_FALSE(ParseConnack({kConnack, 0, Keep(Bytes({0x00, 0x00, 0x00}))}).ok());
  EXPECT_FALSE(ParseConnack({kConnack, 0, Keep(Bytes({0x02, 0x00}))}).ok());  // reserved ack flag
  EXPECT_FALSE(ParseConnack({kConnack, 1, Keep(Bytes({0x00, 0x00}))}).ok());  // fixed-header flags
  EXPECT_FALSE(ParseConnack({kSuback, 0, Keep(Bytes({0x00, 0x00}))}).ok());   // wrong type
}

TEST(MqttCodec, ParsesSuback) {
  Result<Suback> s = ParseSuback({kSuback, 0, Keep(Bytes({0x00, 0x01, 0x01}))});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->packet_id, 1);
  ASSERT_EQ(s->return_codes.size(), 1u);
  EXPECT_EQ(static_cast<std::uint8_t>(s->return_codes[0]), 1);
  s = ParseSuback({kSuback, 0, Keep(Bytes({0x00, 0x0A, 0x80, 0x00}))});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(static_cast<std::uint8_t>(s->return_codes[0]), kSubackFailure);
}

TEST(MqttCodec, RejectsMalformedSuback) {
  EXPECT_FALSE(ParseSuback({kSuback, 0, Keep(Bytes({0x00, 0x01}))}).ok());        // no return code
  EXPECT_FALSE(ParseSuback({kSuback, 0, Keep(Bytes({0x00, 0x00, 0x00}))}).ok());  // id 0
  EXPECT_FALSE(ParseSuback({kSuback, 0, Keep(Bytes({0x00, 0x01, 0x03}))}).ok());  // code 3
  EXPECT_FALSE(ParseSuback({kSuback, 2, Keep(Bytes({0x00, 0x01, 0x00}))}).ok());  // flags
}

TEST(MqttCodec, ParsesPublish) {
  Result<Publish> p = ParsePublish(
      {kPublish, 0x0B, Keep(Bytes({0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}))});
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->topic, "a/b");
  EXPECT_EQ(p->payload, "hi");
  EXPECT_EQ(p->packet_id, 10);
  EXPECT_EQ(p->qos, 1);
  EXPECT_TRUE(p->dup);
  EXPECT_TRUE(p->retain);
  p = ParsePublish({kPublish, 0, Keep(Bytes({0x00, 0x01, 't'}))});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->qos, 0);
  EXPECT_EQ(p->packet_id, 0);
  EXPECT_EQ(p->payload, "");
  // Payload bytes are opaque: NUL and invalid UTF-8 are fine there.
  p = ParsePublish({kPublish, 0, Keep(Bytes({0x00, 0x01, 't', 0x00, 0xFF}))});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->payload.size(), 2u);
  // A multi-byte UTF-8 topic ("é").
  p = ParsePublish({kPublish, 0, Keep(Bytes({0x00, 0x02, 0xC3, 0xA9}))});
  EXPECT_TRUE(p.ok());
}

TEST(MqttCodec, RejectsMalformedPublish) {
  auto err = [](std::uint8_t flags, std::string body) {
    Result<Publish> p = ParsePublish({kPublish, flags, Keep(std::move(body))});
    return p.ok() ? std::string("accepted") : p.status().message();
  };
  EXPECT_NE(err(0x06, Bytes({0x00, 0x01, 't', 0x00, 0x01})).find("QoS bits are 3"),
            std::string::npos);
  EXPECT_NE(err(0x04, Bytes({0x00, 0x01, 't', 0x00, 0x01})).find("QoS 2"), std::string::npos);
  EXPECT_NE(err(0x02, Bytes({0x00, 0x01, 't', 0x00, 0x00})).find("packet id 0"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x05, 'a', 'b'})).find("runs past"), std::string::npos);
  EXPECT_NE(err(0x02, Bytes({0x00, 0x01, 't', 0x00})).find("without a packet id"),
            std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00})).find("no topic length"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({})).find("no topic length"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x00})).find("empty topic"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x03, 'a', '/', '+'})).find("wildcard"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x01, '#'})).find("wildcard"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x02, 'a', 0x00})).find("UTF-8"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x01, 0xFF})).find("UTF-8"), std::string::npos);
  EXPECT_NE(err(0x00, Bytes({0x00, 0x02, 0xC0, 0xAF})).find("UTF-8"),
            std::string::npos);  // overlong
  EXPECT_NE(err(0x00, Bytes({0x00, 0x03, 0xED, 0xA0, 0x80})).find("UTF-8"),
            std::string::npos);  // surrogate
  EXPECT_NE(err(0x00, Bytes({0x00, 0x02, 0xE2, 0x82})).find("UTF-8"), std::string::npos);
}

TEST(MqttCodec, ParsesPubackAndPingresp) {
  Result<std::uint16_t> id = ParsePuback({kPuback, 0, Keep(Bytes({0x12, 0x34}))});
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 0x1234);
  EXPECT_FALSE(ParsePuback({kPuback, 0, Keep(Bytes({0x00, 0x00}))}).ok());
  EXPECT_FALSE(ParsePuback({kPuback, 0, Keep(Bytes({0x00}))}).ok());
  EXPECT_TRUE(ParsePingresp({kPingresp, 0, ""}).ok());
  EXPECT_FALSE(ParsePingresp({kPingresp, 0, "x"}).ok());
  EXPECT_FALSE(ParsePingresp({kPingreq, 0, ""}).ok());
}

TEST(MqttCodec, FixedHeaderFlagsFollowTable) {
  EXPECT_FALSE(CheckFixedHeader(0, 0).ok());   // reserved
  EXPECT_FALSE(CheckFixedHeader(15, 0).ok());  // reserved
  EXPECT_TRUE(CheckFixedHeader(kSubscribe, 2).ok());
  EXPECT_FALSE(CheckFixedHeader(kSubscribe, 0).ok());
  EXPECT_TRUE(CheckFixedHeader(kPubrel, 2).ok());
  EXPECT_FALSE(CheckFixedHeader(kPingresp, 1).ok());
  EXPECT_TRUE(CheckFixedHeader(kPublish, 0x0D).ok());
  EXPECT_FALSE(CheckFixedHeader(kPublish, 0x06).ok());
}

TEST(MqttCodec, TopicFilterRules) {
  for (const char* ok : {"a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "/", "a//b", "sport/+"}) {
    EXPECT_TRUE(ValidateTopicFilter(ok).ok()) << ok;
  }
  for (const char* bad : {"", "a#", "a/#/b", "a+", "a/b+", "+a", "#/a", "##"}) {
    EXPECT_FALSE(ValidateTopicFilter(bad).ok()) << bad;
  }
  EXPECT_TRUE(ValidateTopicName("a/b").ok());
  EXPECT_FALSE(ValidateTopicName("a/+").ok());
}

// ---- frame splitter --------------------------------------------------------------------------

// A stream with every packet a subscriber receives, bodies of 0, 2 and over 127 bytes.
std::string MixedStream() {
  std::string s = Bytes({0x20, 0x02, 0x01, 0x00});  // CONNACK
  s += Bytes({0x90, 0x03, 0x00, 0x01, 0x01});       // SUBACK
  s += PublishBytes("a/b", "one", 1, 1);
  s += Bytes({0xD0, 0x00});  // PINGRESP
  s += PublishBytes("a/c", std::string(300, 'x'), 1, 2);
  s += PublishBytes("q0", "", 0, 0);
  s += PublishBytes("a/b", std::string(20'000, 'y'), 1, 3);  // 3-byte varint
  return s;
}

TEST(FrameSplitter, SplitsWholeStream) {
  std::vector<std::string> events = SplitWhole(MixedStream());
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0], "CONNACK flags=0 body=01 00");
  EXPECT_EQ(events[1], "SUBACK flags=0 body=00 01 01");
  EXPECT_EQ(events[2],
            "PUBLISH flags=2 body=" + Hex(Bytes({0, 3, 'a', '/', 'b', 0, 1})) + " " + Hex("one"));
  EXPECT_EQ(events[3], "PINGRESP flags=0 body=");
  EXPECT_EQ(events[5], "PUBLISH flags=0 body=00 02 71 30");
}

TEST(FrameSplitter, OneByteAtATimeGivesTheSameEvents) {
  std::string stream = MixedStream();
  EXPECT_EQ(Split(stream, 1 << 20, [] { return std::size_t{1}; }), SplitWhole(stream));
}

TEST(FrameSplitter, RandomChunksGiveTheSameEvents) {
  std::string stream = MixedStream();
  std::vector<std::string> whole = SplitWhole(stream);
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<std::size_t> size(1, round < 100 ? 8 : 4096);
    ASSERT_EQ(Split(stream, 1 << 20, [&] { return size(rng); }), whole) << "round " << round;
  }
}

TEST(FrameSplitter, PacketInsideOneChunkIsNotCopied) {
  std::string stream = PublishBytes("t", "payload", 1, 5);
  FrameSplitter splitter(1024);
  std::string_view input = stream;
  Result<FrameSplitter::Event> e = splitter.Next(input);
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(*e, FrameSplitter::Event::kPacket);
  EXPECT_EQ(splitter.packet().body.data(), stream.data() + 2);
  EXPECT_TRUE(input.empty());
  EXPECT_TRUE(splitter.at_packet_boundary());
}

TEST(FrameSplitter, ReturnsOneEventPerCallAndLeavesTheRest) {
  std::string stream = Bytes({0xD0, 0x00, 0xD0, 0x00});
  FrameSplitter splitter(1024);
  std::string_view input = stream;
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kPacket);
  EXPECT_EQ(input.size(), 2u);
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kPacket);
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kNeedMore);
}

TEST(FrameSplitter, TruncatedStreamIsNotAPacket) {
  std::string stream = PublishBytes("a/b", "hello", 1, 9);
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    std::vector<std::string> events = SplitWhole(stream.substr(0, cut));
    ASSERT_EQ(events.size(), 1u) << cut;
    EXPECT_EQ(events[0], "truncated") << cut;
  }
}

TEST(FrameSplitter, RejectsRemainingLengthOverFourBytes) {
  auto events = SplitWhole(Bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "error: remaining length longer than 4 bytes");
}

TEST(FrameSplitter, RejectsBadFirstByteAtOnce) {
  EXPECT_EQ(SplitWhole(Bytes({0x36}))[0], "error: malformed PUBLISH: QoS bits are 3");
  EXPECT_EQ(SplitWhole(Bytes({0x00, 0x00}))[0], "error: reserved packet type 0");
  EXPECT_EQ(SplitWhole(Bytes({0xF0, 0x00}))[0], "error: reserved packet type 15");
  EXPECT_NE(SplitWhole(Bytes({0x91, 0x00}))[0].find("flags must be 0000"), std::string::npos);
}

TEST(FrameSplitter, StaysFailedUntilReset) {
  FrameSplitter splitter(1024);
  std::string bad = Bytes({0x36, 0x00});
  std::string_view input = bad;
  EXPECT_FALSE(splitter.Next(input).ok());
  std::string good = Bytes({0xD0, 0x00});
  input = good;
  EXPECT_FALSE(splitter.Next(input).ok());
  splitter.Reset();
  input = good;
  Result<FrameSplitter::Event> e = splitter.Next(input);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, FrameSplitter::Event::kPacket);
}

TEST(FrameSplitter, ResetDropsAPartialPacket) {
  FrameSplitter splitter(1024);
  std::string partial = PublishBytes("t", "abcdef", 0, 0).substr(0, 5);
  std::string_view input = partial;
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kNeedMore);
  EXPECT_FALSE(splitter.at_packet_boundary());
  splitter.Reset();
  EXPECT_TRUE(splitter.at_packet_boundary());
  std::string ping = Bytes({0xD0, 0x00});
  input = ping;
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kPacket);
  EXPECT_EQ(splitter.packet().type, kPingresp);
}

TEST(FrameSplitter, SkipsOversizedPublishButLearnsItsPacketId) {
  std::string big = PublishBytes("sensors/s1", std::string(5000, 'z'), 1, 0x0102);
  std::string stream = big + PublishBytes("sensors/s1", "small", 1, 0x0103);
  std::vector<std::string> expected = {
      "oversized bytes=" + std::to_string(big.size()) + " id=258 qos=1 topic=sensors/s1",
      "PUBLISH flags=2 body=" + Hex(Bytes({0, 10})) + " " + Hex("sensors/s1") + " 01 03 " +
          Hex("small")};
  EXPECT_EQ(SplitWhole(stream, 1000), expected);
  EXPECT_EQ(Split(stream, 1000, [] { return std::size_t{1}; }), expected);
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> size(1, 700);
  for (int round = 0; round < 50; ++round) {
    EXPECT_EQ(Split(stream, 1000, [&] { return size(rng); }), expected);
  }
}

TEST(FrameSplitter, OversizedLimitCountsTheWholePacket) {
  std::string p = PublishBytes("t", std::string(100, 'a'), 0, 0);  // 2 + 103 bytes
  EXPECT_EQ(SplitWhole(p, p.size())[0].substr(0, 7), "PUBLISH");
  EXPECT_EQ(SplitWhole(p, p.size() - 1)[0], "oversized bytes=105 id=0 qos=0 topic=t");
}

TEST(FrameSplitter, OversizedPublishKeepsOnlyTheStartOfALongTopic) {
  std::string topic(300, 't');
  std::vector<std::string> events = SplitWhole(PublishBytes(topic, "x", 1, 4), 100);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "oversized bytes=308 id=4 qos=1 topic=" +
                           std::string(FrameSplitter::kTopicPrefixBytes, 't') + "...");
}

TEST(FrameSplitter, RejectsMalformedOversizedPublish) {
  // Topic length runs past the body.
  std::string bad_topic = Bytes({0x32, 0x7F, 0x01, 0x00});
  bad_topic += std::string(125, 'x');
  EXPECT_NE(SplitWhole(bad_topic, 20)[0].find("runs past"), std::string::npos);
  // Packet id 0.
  std::string id0 = Bytes({0x32, 0x40, 0x00, 0x01, 't', 0x00, 0x00});
  id0 += std::string(0x40 - 5, 'x');
  EXPECT_NE(SplitWhole(id0, 20)[0].find("packet id 0"), std::string::npos);
  // QoS 2.
  std::string qos2 = Bytes({0x34, 0x40, 0x00, 0x01, 't', 0x00, 0x01});
  qos2 += std::string(0x40 - 5, 'x');
  EXPECT_NE(SplitWhole(qos2, 20)[0].find("QoS 2"), std::string::npos);
  // Too short for a packet id.
  EXPECT_NE(SplitWhole(Bytes({0x32, 0x03, 0x00, 0x01, 't'}), 4)[0].find("too short"),
            std::string::npos);
}

TEST(FrameSplitter, RefusesOversizedPacketsOtherThanPublish) {
  std::string suback = Bytes({0x90, 0x7F, 0x00, 0x01});
  suback += std::string(125, 0x00);
  std::vector<std::string> events = SplitWhole(suback, 64);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "error: SUBACK of 129 bytes is over the limit of 64");
}

TEST(FrameSplitter, HugeDeclaredLengthIsNotBuffered) {
  // A PUBLISH that claims 256 MiB: the splitter must skip it as it streams, not reserve it.
  std::string head = Bytes({0x32, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 't', 0x00, 0x09});
  FrameSplitter splitter(1 << 20);
  std::string_view input = head;
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kNeedMore);
  std::string filler(1 << 16, 'f');
  for (int i = 0; i < 16; ++i) {  // 1 MiB more of it, still inside the packet
    input = filler;
    ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kNeedMore);
  }
  EXPECT_FALSE(splitter.at_packet_boundary());
}

TEST(FrameSplitter, MalformedPacketsAfterGoodOnesKeepTheGoodOnes) {
  std::string stream = Bytes({0xD0, 0x00}) + Bytes({0x30, 0x04, 0x00, 0x05, 'a', 'b'});
  std::vector<std::string> events = SplitWhole(stream);
  // Framing is fine (4 bytes of body); the topic length mismatch is the parser's to find.
  ASSERT_EQ(events.size(), 2u);
  FrameSplitter splitter(1024);
  std::string_view input = stream;
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kPacket);
  ASSERT_EQ(*splitter.Next(input), FrameSplitter::Event::kPacket);
  EXPECT_FALSE(ParsePublish(splitter.packet()).ok());
}

TEST(FrameSplitter, RandomGarbageNeverCrashes) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 2000; ++round) {
    std::string garbage(static_cast<std::size_t>(byte(rng)), '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    FrameSplitter splitter(64);
    std::string_view input = garbage;
    for (int steps = 0; steps < 1000; ++steps) {
      Result<FrameSplitter::Event> e = splitter.Next(input);
      if (!e.ok() || *e == FrameSplitter::Event::kNeedMore) break;
      if (*e == FrameSplitter::Event::kPacket) {
        const Packet& p = splitter.packet();
        (void)ParsePublish(p);
        (void)ParseConnack(p);
        (void)ParseSuback(p);
        (void)ParsePuback(p);
        (void)ParsePingresp(p);
      }
    }
  }
}

}  // namespace
}  // namespace aquawatch::mqtt
