// The MQTT 3.1.1 packets a subscriber needs, as pure functions over bytes, and a frame splitter
// that turns arbitrary socket reads into whole packets.
//
// Encoders append to a caller-owned std::string, so a caller that reuses its buffer allocates
// nothing per packet once the buffer has grown. Parsers return views into the bytes they were
// given (no copies); the views live as long as those bytes. Nothing here throws, logs or does
// I/O: every malformed input is an InvalidArgument status whose message names the problem, and
// MQTT says the receiver of a malformed packet closes the connection (section 4.8).
//
// Thread-safety: the free functions are pure. A FrameSplitter is a value owned by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace aquawatch::mqtt {

// Fixed-header packet types (MQTT 3.1.1 table 2.1); 0 and 15 are reserved.
enum PacketType : std::uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// "CONNACK", "PUBLISH", ...; "reserved" for 0 and 15. For logs and error messages.
std::string_view PacketTypeName(std::uint8_t type);

// The largest remaining length a 4-byte varint can carry (section 2.2.3).
inline constexpr std::uint32_t kMaxRemainingLength = 268'435'455;
// Fixed header (1 byte) plus the longest remaining-length varint.
inline constexpr std::size_t kMaxFixedHeaderBytes = 5;

// One whole packet: the fixed header's type and flags and the bytes after the remaining length.
struct Packet {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;  // low nibble of the first byte
  std::string_view body;
};

// Checks the first byte of a packet against table 2.2: a reserved type, flags that must be
// 0000 (or 0010 for PUBREL/SUBSCRIBE/UNSUBSCRIBE) but are not, or a PUBLISH with both QoS bits
// set are malformed.
Status CheckFixedHeader(std::uint8_t type, std::uint8_t flags);

// ---- encoders (client to broker, plus PUBLISH for tests and tools) ---------------------------

struct ConnectFields {
  std::string_view client_id;  // empty only with clean_session (the broker assigns one)
  bool clean_session = false;
  std::uint16_t keep_alive_seconds = 0;  // 0: no keep-alive
  std::string_view username;             // empty: no user name flag
  std::string_view password;             // REQUIRES: empty unless username is set
};
Status EncodeConnect(const ConnectFields& fields, std::string& out);

// One topic filter at `qos` (0 or 1). REQUIRES: packet_id != 0.
Status EncodeSubscribe(std::uint16_t packet_id, std::string_view topic_filter, int qos,
                       std::string& out);

// qos 0 or 1; packet_id is written only for QoS 1 and must then be non-zero.
Status EncodePublish(std::string_view topic, std::string_view payload, int qos,
                     std::uint16_t packet_id, bool dup, bool retain, std::string& out);

// These cannot fail. PUBACK needs a non-zero id; passing 0 is a bug of ours (asserted).
void EncodePuback(std::uint16_t packet_id, std::string& out);
void EncodePingreq(std::string& out);
void EncodeDisconnect(std::string& out);

// Appends the remaining-length varint. REQUIRES: length <= kMaxRemainingLength.
void AppendRemainingLength(std::uint32_t length, std::string& out);

// ---- parsers (broker to client) --------------------------------------------------------------

struct Connack {
  bool session_present = false;
  std::uint8_t return_code = 0;  // 0 accepted; see ConnackReturnCodeText
};
Result<Connack> ParseConnack(const Packet& packet);
// "accepted", "unacceptable protocol version", ..., "not authorized"; "unknown return code"
// for values MQTT 3.1.1 does not define.
std::string_view ConnackReturnCodeText(std::uint8_t code);

struct Suback {
  std::uint16_t packet_id = 0;
  // One byte per topic filter of the SUBSCRIBE: 0, 1 or 2 (granted QoS) or 0x80 (failure).
  std::string_view return_codes;
};
inline constexpr std::uint8_t kSubackFailure = 0x80;
Result<Suback> ParseSuback(const Packet& packet);

struct Publish {
  std::string_view topic;  // valid UTF-8, non-empty, no wildcards, no U+0000
  std::string_view payload;
  std::uint16_t packet_id = 0;  // 0 for QoS 0
  int qos = 0;                  // 0 or 1: a subscriber never asks for QoS 2
  bool dup = false;
  bool retain = false;
};
// Rejects QoS 2 (we subscribe with at most QoS 1, so a broker must not send it) and QoS 3,
// a topic length that runs past the body, a QoS 1 packet without a packet id or with id 0,
// and a topic that is not a valid topic name.
Result<Publish> ParsePublish(const Packet& packet);

// PUBACK, for a test or tool that publishes at QoS 1. Returns the packet id (never 0).
Result<std::uint16_t> ParsePuback(const Packet& packet);
Status ParsePingresp(const Packet& packet);

// Topic name (PUBLISH) and topic filter (SUBSCRIBE) rules of section 4.7: 1 to 65535 bytes of
// valid UTF-8 without U+0000; names carry no wildcards; in filters '#' is last and alone in its
// level and '+' is alone in its level.
Status ValidateTopicName(std::string_view topic);
Status ValidateTopicFilter(std::string_view filter);

// ---- framing ---------------------------------------------------------------------------------

// What the splitter learnt of a PUBLISH it skipped for being over the size limit: enough to
// acknowledge it (packet id) and to say in a log which topic it was for.
struct OversizedPublish {
  std::size_t packet_bytes = 0;  // fixed header + remaining length
  std::uint16_t packet_id = 0;   // 0 for QoS 0
  int qos = 0;
  bool dup = false;
  std::string_view topic;  // at most kTopicPrefixBytes bytes of the topic, not validated
  bool topic_truncated = false;
};

// Splits a byte stream into packets. Feed it whatever read() returned; it hands back one event
// at a time. A packet that arrives whole inside one chunk is returned as a view into that chunk
// (no copy); one that spans chunks is gathered into an internal buffer that keeps its capacity,
// so the steady state allocates nothing. That buffer never grows past max_packet_bytes: a
// PUBLISH over the limit is skipped as it streams past, keeping only its flags, packet id and
// the start of its topic, so that the caller can still acknowledge it; any other packet over
// the limit is an error (a broker has no business sending one).
//
// After an error the splitter stays failed (every Next returns the error) until Reset: the
// stream has lost its framing and the connection must be closed.
class FrameSplitter {
 public:
  static constexpr std::size_t kTopicPrefixBytes = 128;

  enum class Event {
    kNeedMore,          // `input` is used up without completing a packet
    kPacket,            // packet() holds a whole packet
    kOversizedPublish,  // oversized() describes a PUBLISH that was skipped
  };

  // REQUIRES: max_packet_bytes >= 2 (the smallest packet).
  explicit FrameSplitter(std::size_t max_packet_bytes);

  // Consumes bytes from the front of `input` (advancing it) until one event completes or the
  // input runs out. The views of packet() and oversized() stay valid until the next call to
  // Next or Reset, and as long as the bytes of `input` they may point into.
  Result<Event> Next(std::string_view& input);

  const Packet& packet() const { return packet_; }
  const OversizedPublish& oversized() const { return oversized_; }

  // True when no part of a packet is pending (a stream that ends here was cut cleanly).
  bool at_packet_boundary() const { return state_ == State::kHeader && header_len_ == 0; }

  // Forgets any partial packet and an earlier error, for a new connection.
  void Reset();

 private:
  enum class State { kHeader, kBody, kSkip, kFailed };

  Result<Event> HeaderByte(std::uint8_t byte);
  Result<Event> Skip(std::string_view& input);
  Result<Event> Fail(Status status);

  const std::size_t max_packet_bytes_;
  State state_ = State::kHeader;
  Status error_;
  std::uint8_t header_[kMaxFixedHeaderBytes] = {};
  std::size_t header_len_ = 0;
  std::uint32_t remaining_ = 0;  // remaining length of the current packet
  std::string body_;             // a body that spans chunks; cleared, not freed, between packets
  bool release_body_ = false;    // body_ backs the last packet handed out
  Packet packet_;
  // Skipping an oversized PUBLISH: position in its body and what was learnt so far.
  std::uint32_t skip_pos_ = 0;
  std::uint32_t topic_len_ = 0;
  OversizedPublish oversized_;
  char topic_prefix_[kTopicPrefixBytes] = {};
};

}  // namespace aquawatch::mqtt
