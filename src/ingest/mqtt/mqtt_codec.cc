#include "ingest/mqtt/mqtt_codec.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace aquawatch::mqtt {
namespace {

constexpr std::size_t kMaxStringBytes = 65'535;  // UTF-8 strings carry a 2-byte length

void AppendU16(std::uint16_t v, std::string& out) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

void AppendString(std::string_view s, std::string& out) {
  AppendU16(static_cast<std::uint16_t>(s.size()), out);
  out.append(s);
}

std::uint16_t ReadU16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(bytes[at]) << 8) |
                                    static_cast<std::uint8_t>(bytes[at + 1]));
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF) without
// U+0000, which section 1.5.3 forbids in every MQTT string.
bool IsMqttUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      if (c == 0) return false;
      ++p;
      continue;
    }
    int extra;
    unsigned min;
    unsigned code;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min = 0x10000, code = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

Status Malformed(std::uint8_t type, std::string_view what) {
  return Status::InvalidArgument("malformed " + std::string(PacketTypeName(type)) + ": " +
                                 std::string(what));
}

Status ExpectType(const Packet& packet, std::uint8_t type) {
  if (packet.type != type) {
    return Status::InvalidArgument("expected " + std::string(PacketTypeName(type)) + ", got " +
                                   std::string(PacketTypeName(packet.type)));
  }
  return CheckFixedHeader(packet.type, packet.flags);
}

Status CheckString(std::string_view s, std::string_view what) {
  if (s.size() > kMaxStringBytes) {
    return Status::InvalidArgument(std::string(what) + " is longer than 65535 bytes");
  }
  if (!IsMqttUtf8(s)) {
    return Status::InvalidArgument(std::string(what) + " is not valid UTF-8 (or contains NUL)");
  }
  return Status::Ok();
}

}  // namespace

std::string_view PacketTypeName(std::uint8_t type) {
  static constexpr std::string_view kNames[16] = {
      "reserved", "CONNECT",  "CONNACK",    "PUBLISH", "PUBACK",      "PUBREC",
      "PUBREL",   "PUBCOMP",  "SUBSCRIBE",  "SUBACK",  "UNSUBSCRIBE", "UNSUBACK",
      "PINGREQ",  "PINGRESP", "DISCONNECT", "reserved"};
  return type < 16 ? kNames[type] : "reserved";
}

Status CheckFixedHeader(std::uint8_t type, std::uint8_t flags) {
  switch (type) {
    case kPublish:
      if ((flags & 0x06) == 0x06) return Malformed(type, "QoS bits are 3");
      return Status::Ok();
    case kPubrel:
    case kSubscribe:
    case kUnsubscribe:
      if (flags != 0x02) return Malformed(type, "fixed-header flags must be 0010");
      return Status::Ok();
    case kConnect:
    case kConnack:
    case kPuback:
    case kPubrec:
    case kPubcomp:
    case kSuback:
    case kUnsuback:
    case kPingreq:
    case kPingresp:
    case kDisconnect:
      if (flags != 0) return Malformed(type, "fixed-header flags must be 0000");
      return Status::Ok();
    default:
      return Status::InvalidArgument("reserved packet type " + std::to_string(type));
  }
}

void AppendRemainingLength(std::uint32_t length, std::string& out) {
  assert(length <= kMaxRemainingLength);
  do {
    std::uint8_t byte = length % 128;
    length /= 128;
    if (length > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (length > 0);
}

Status EncodeConnect(const ConnectFields& f, std::string& out) {
  if (f.client_id.empty() && !f.clean_session) {
    // Section 3.1.3.1: the broker must refuse it (return code 2); say so before connecting.
    return Status::InvalidArgument("an empty MQTT client id needs clean session");
  }
  if (!f.password.empty() && f.username.empty()) {
    return Status::InvalidArgument("an MQTT password needs a user name");
  }
  if (Status s = CheckString(f.client_id, "MQTT client id"); !s.ok()) return s;
  if (Status s = CheckString(f.username, "MQTT user name"); !s.ok()) return s;
  if (f.password.size() > kMaxStringBytes) {  // binary data, not UTF-8
    return Status::InvalidArgument("MQTT password is longer than 65535 bytes");
  }
  std::uint8_t flags = f.clean_session ? 0x02 : 0x00;
  // 10 bytes of variable header: protocol name "MQTT", level 4, flags, keep-alive.
  std::size_t length = 10 + 2 + f.client_id.size();
  if (!f.username.empty()) {
    flags |= 0x80;
    length += 2 + f.username.size();
  }
  if (!f.password.empty()) {
    flags |= 0x40;
    length += 2 + f.password.size();
  }
  out.push_back(static_cast<char>(kConnect << 4));
  AppendRemainingLength(static_cast<std::uint32_t>(length), out);
  AppendString("MQTT", out);
  out.push_back(4);  // protocol level of 3.1.1
  out.push_back(static_cast<char>(flags));
  AppendU16(f.keep_alive_seconds, out);
  AppendString(f.client_id, out);
  if (!f.username.empty()) AppendString(f.username, out);
  if (!f.password.empty()) AppendString(f.password, out);
  return Status::Ok();
}

Status EncodeSubscribe(std::uint16_t packet_id, std::string_view topic_filter, int qos,
                       std::string& out) {
  if (packet_id == 0) return Status::InvalidArgument("SUBSCRIBE needs a non-zero packet id");
  if (qos != 0 && qos != 1) {
    return Status::InvalidArgument("subscription QoS must be 0 or 1, not " + std::to_string(qos));
  }
  if (Status s = ValidateTopicFilter(topic_filter); !s.ok()) return s;
  out.push_back(static_cast<char>((kSubscribe << 4) | 0x02));
  AppendRemainingLength(static_cast<std::uint32_t>(2 + 2 + topic_filter.size() + 1), out);
  AppendU16(packet_id, out);
  AppendString(topic_filter, out);
  out.push_back(static_cast<char>(qos));
  return Status::Ok();
}

Status EncodePublish(std::string_view topic, std::string_view payload, int qos,
                     std::uint16_t packet_id, bool dup, bool retain, std::string& out) {
  if (qos != 0 && qos != 1) {
    return Status::InvalidArgument("PUBLISH QoS must be 0 or 1, not " + std::to_string(qos));
  }
  if (qos == 1 && packet_id == 0) {
    return Status::InvalidArgument("a QoS 1 PUBLISH needs a non-zero packet id");
  }
  if (Status s = ValidateTopicName(topic); !s.ok()) return s;
  std::size_t length = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  if (length > kMaxRemainingLength) {
    return Status::InvalidArgument("PUBLISH payload too large for MQTT (" +
                                   std::to_string(payload.size()) + " bytes)");
  }
  std::uint8_t flags = static_cast<std::uint8_t>(qos << 1);
  if (dup && qos > 0) flags |= 0x08;  // section 3.3.1.1: DUP is 0 for every QoS 0 message
  if (retain) flags |= 0x01;
  out.push_back(static_cast<char>((kPublish << 4) | flags));
  AppendRemainingLength(static_cast<std::uint32_t>(length), out);
  AppendString(topic, out);
  if (qos > 0) AppendU16(packet_id, out);
  out.append(payload);
  return Status::Ok();
}

void EncodePuback(std::uint16_t packet_id, std::string& out) {
  assert(packet_id != 0);
  out.push_back(static_cast<char>(kPuback << 4));
  out.push_back(2);
  AppendU16(packet_id, out);
}

void EncodePingreq(std::string& out) {
  out.push_back(static_cast<char>(kPingreq << 4));
  out.push_back(0);
}

void EncodeDisconnect(std::string& out) {
  out.push_back(static_cast<char>(kDisconnect << 4));
  out.push_back(0);
}

std::string_view ConnackReturnCodeText(std::uint8_t code) {
  switch (code) {
    case 0:
      return "accepted";
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "client identifier rejected";
    case 3:
      return "server unavailable";
    case 4:
      return "bad user name or password";
    case 5:
      return "not authorized";
    default:
      return "unknown return code";
  }
}

Result<Connack> ParseConnack(const Packet& packet) {
  if (Status s = ExpectType(packet, kConnack); !s.ok()) return s;
  if (packet.body.size() != 2) return Malformed(kConnack, "body is not 2 bytes");
  auto ack_flags = static_cast<std::uint8_t>(packet.body[0]);
  if ((ack_flags & 0xFE) != 0) return Malformed(kConnack, "reserved acknowledge flags set");
  Connack c;
  c.session_present = (ack_flags & 0x01) != 0;
  c.return_code = static_cast<std::uint8_t>(packet.body[1]);
  return c;
}

Result<Suback> ParseSuback(const Packet& packet) {
  if (Status s = ExpectType(packet, kSuback); !s.ok()) return s;
  if (packet.body.size() < 3) return Malformed(kSuback, "no return code");
  Suback s;
  s.packet_id = ReadU16(packet.body, 0);
  if (s.packet_id == 0) return Malformed(kSuback, "packet id 0");
  s.return_codes = packet.body.substr(2);
  for (char c : s.return_codes) {
    auto code = static_cast<std::uint8_t>(c);
    if (code > 2 && code != kSubackFailure) {
      return Malformed(kSuback, "return code " + std::to_string(code));
    }
  }
  return s;
}

Result<Publish> ParsePublish(const Packet& packet) {
  if (Status s = ExpectType(packet, kPublish); !s.ok()) return s;
  Publish p;
  p.qos = (packet.flags >> 1) & 0x03;
  if (p.qos == 2) {
    return Malformed(kPublish, "QoS 2, but the subscription asked for at most QoS 1");
  }
  p.dup = (packet.flags & 0x08) != 0;
  p.retain = (packet.flags & 0x01) != 0;
  const std::string_view body = packet.body;
  if (body.size() < 2) return Malformed(kPublish, "no topic length");
  std::size_t topic_len = ReadU16(body, 0);
  if (topic_len > body.size() - 2) {
    return Malformed(
        kPublish, "topic length " + std::to_string(topic_len) + " runs past the end of the packet");
  }
  p.topic = body.substr(2, topic_len);
  std::size_t at = 2 + topic_len;
  if (p.qos > 0) {
    if (body.size() - at < 2) return Malformed(kPublish, "QoS 1 without a packet id");
    p.packet_id = ReadU16(body, at);
    if (p.packet_id == 0) return Malformed(kPublish, "packet id 0");
    at += 2;
  }
  if (Status s = ValidateTopicName(p.topic); !s.ok()) return Malformed(kPublish, s.message());
  p.payload = body.substr(at);
  return p;
}

Result<std::uint16_t> ParsePuback(const Packet& packet) {
  if (Status s = ExpectType(packet, kPuback); !s.ok()) return s;
  if (packet.body.size() != 2) return Malformed(kPuback, "body is not 2 bytes");
  std::uint16_t id = ReadU16(packet.body, 0);
  if (id == 0) return Malformed(kPuback, "packet id 0");
  return id;
}

Status ParsePingresp(const Packet& packet) {
  if (Status s = ExpectType(packet, kPingresp); !s.ok()) return s;
  if (!packet.body.empty()) return Malformed(kPingresp, "non-empty body");
  return Status::Ok();
}

Status ValidateTopicName(std::string_view topic) {
  if (topic.empty()) return Status::InvalidArgument("empty topic name");
  if (Status s = CheckString(topic, "topic name"); !s.ok()) return s;
  if (topic.find_first_of("+#") != std::string_view::npos) {
    return Status::InvalidArgument("topic name contains a wildcard");
  }
  return Status::Ok();
}

Status ValidateTopicFilter(std::string_view filter) {
  if (filter.empty()) return Status::InvalidArgument("empty topic filter");
  if (Status s = CheckString(filter, "topic filter"); !s.ok()) return s;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    char c = filter[i];
    if (c != '+' && c != '#') continue;
    bool starts_level = i == 0 || filter[i - 1] == '/';
    bool ends_level = i + 1 == filter.size() || filter[i + 1] == '/';
    if (!starts_level || !ends_level) {
      return Status::InvalidArgument("topic filter \"" + std::string(filter) + "\": '" +
                                     std::string(1, c) + "' must fill a whole level");
    }
    if (c == '#' && i + 1 != filter.size()) {
      return Status::InvalidArgument("topic filter \"" + std::string(filter) +
                                     "\": '#' must be the last level");
    }
  }
  return Status::Ok();
}

// ---- FrameSplitter ---------------------------------------------------------------------------

FrameSplitter::FrameSplitter(std::size_t max_packet_bytes) : max_packet_bytes_(max_packet_bytes) {
  assert(max_packet_bytes >= 2);
}

void FrameSplitter::Reset() {
  state_ = State::kHeader;
  error_ = Status::Ok();
  header_len_ = 0;
  remaining_ = 0;
  body_.clear();
  release_body_ = false;
  packet_ = Packet{};
  oversized_ = OversizedPublish{};
}

Result<FrameSplitter::Event> FrameSplitter::Fail(Status status) {
  state_ = State::kFailed;
  error_ = status;
  return status;
}

// Takes one byte of the fixed header. Returns kNeedMore while the header is incomplete, and
// kPacket for a packet without a body.
Result<FrameSplitter::Event> FrameSplitter::HeaderByte(std::uint8_t byte) {
  header_[header_len_++] = byte;
  if (header_len_ == 1) {
    if (Status s = CheckFixedHeader(byte >> 4, byte & 0x0F); !s.ok()) return Fail(std::move(s));
    return Event::kNeedMore;
  }
  if ((byte & 0x80) != 0) {
    if (header_len_ == kMaxFixedHeaderBytes) {
      return Fail(Status::InvalidArgument("remaining length longer than 4 bytes"));
    }
    return Event::kNeedMore;
  }
  std::uint32_t length = 0;
  for (std::size_t i = header_len_ - 1; i >= 1; --i) length = length * 128 + (header_[i] & 0x7F);
  const std::uint8_t type = header_[0] >> 4;
  const std::uint8_t flags = header_[0] & 0x0F;
  const std::size_t total = header_len_ + length;
  remaining_ = length;
  packet_ = Packet{type, flags, {}};
  if (total > max_packet_bytes_) {
    if (type != kPublish) {
      return Fail(Status::InvalidArgument(std::string(PacketTypeName(type)) + " of " +
                                          std::to_string(total) + " bytes is over the limit of " +
                                          std::to_string(max_packet_bytes_)));
    }
    oversized_ = OversizedPublish{};
    oversized_.packet_bytes = total;
    oversized_.qos = (flags >> 1) & 0x03;
    oversized_.dup = (flags & 0x08) != 0;
    if (oversized_.qos == 2) {
      return Fail(Malformed(kPublish, "QoS 2, but the subscription asked for at most QoS 1"));
    }
    if (length < 2u + (oversized_.qos > 0 ? 2u : 0u)) {
      return Fail(Malformed(kPublish, "too short for its topic and packet id"));
    }
    skip_pos_ = 0;
    topic_len_ = 0;
    state_ = State::kSkip;
    return Event::kNeedMore;
  }
  header_len_ = 0;
  if (length == 0) return Event::kPacket;
  state_ = State::kBody;
  return Event::kNeedMore;
}

// Walks through an oversized PUBLISH: topic length, topic (its start kept for the log), packet
// id, then the rest without looking. Only the few header bytes are handled one at a time.
Result<FrameSplitter::Event> FrameSplitter::Skip(std::string_view& input) {
  const std::uint32_t id_end = 2 + topic_len_ + (oversized_.qos > 0 ? 2 : 0);
  while (!input.empty() && skip_pos_ < remaining_) {
    auto byte = static_cast<std::uint8_t>(input[0]);
    if (skip_pos_ < 2) {
      topic_len_ = topic_len_ * 256 + byte;
      input.remove_prefix(1);
      ++skip_pos_;
      if (skip_pos_ == 2) {
        if (2u + topic_len_ + (oversized_.qos > 0 ? 2u : 0u) > remaining_) {
          return Fail(Malformed(kPublish, "topic length " + std::to_string(topic_len_) +
                                              " runs past the end of the packet"));
        }
        return Skip(input);  // id_end depends on the topic length just read
      }
    } else if (skip_pos_ < 2 + topic_len_) {
      std::size_t n = std::min<std::size_t>(input.size(), 2 + topic_len_ - skip_pos_);
      std::size_t kept = skip_pos_ - 2;
      if (kept < kTopicPrefixBytes) {
        std::memcpy(topic_prefix_ + kept, input.data(), std::min(n, kTopicPrefixBytes - kept));
      }
      input.remove_prefix(n);
      skip_pos_ += static_cast<std::uint32_t>(n);
    } else if (skip_pos_ < id_end) {
      oversized_.packet_id = static_cast<std::uint16_t>(oversized_.packet_id * 256 + byte);
      input.remove_prefix(1);
      ++skip_pos_;
      if (skip_pos_ == id_end && oversized_.packet_id == 0) {
        return Fail(Malformed(kPublish, "packet id 0"));
      }
    } else {
      std::size_t n = std::min<std::size_t>(input.size(), remaining_ - skip_pos_);
      input.remove_prefix(n);
      skip_pos_ += static_cast<std::uint32_t>(n);
    }
  }
  if (skip_pos_ < remaining_) return Event::kNeedMore;
  oversized_.topic_truncated = topic_len_ > kTopicPrefixBytes;
  oversized_.topic =
      std::string_view(topic_prefix_, std::min<std::size_t>(topic_len_, kTopicPrefixBytes));
  state_ = State::kHeader;
  header_len_ = 0;
  return Event::kOversizedPublish;
}

Result<FrameSplitter::Event> FrameSplitter::Next(std::string_view& input) {
  if (state_ == State::kFailed) return error_;
  if (release_body_) {
    body_.clear();  // keeps its capacity: the next spanning packet reuses it
    release_body_ = false;
  }
  while (!input.empty()) {
    switch (state_) {
      case State::kHeader: {
        auto byte = static_cast<std::uint8_t>(input[0]);
        input.remove_prefix(1);
        Result<Event> e = HeaderByte(byte);
        if (!e.ok() || *e != Event::kNeedMore) return e;
        break;
      }
      case State::kBody: {
        if (body_.empty() && input.size() >= remaining_) {
          packet_.body = input.substr(0, remaining_);  // whole in this chunk: no copy
          input.remove_prefix(remaining_);
          state_ = State::kHeader;
          return Event::kPacket;
        }
        std::size_t n = std::min<std::size_t>(input.size(), remaining_ - body_.size());
        body_.append(input.data(), n);
        input.remove_prefix(n);
        if (body_.size() == remaining_) {
          packet_.body = body_;
          release_body_ = true;
          state_ = State::kHeader;
          return Event::kPacket;
        }
        break;
      }
      case State::kSkip:
        return Skip(input);
      case State::kFailed:
        return error_;
    }
  }
  return Event::kNeedMore;
}

}  // namespace aquawatch::mqtt
