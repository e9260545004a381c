// Fuzz target for the MQTT codec: arbitrary bytes as a broker-to-client stream, through the
// frame splitter and every packet parser. Besides "no crash, no sanitizer report" it checks the
// contracts the subscriber relies on: how the socket cuts the stream changes nothing (whole,
// one byte at a time and uneven chunks give the same packets and the same error); every
// accepted PUBLISH re-encodes to the bytes it came from; and under a small size limit a PUBLISH
// becomes an "oversized" event that still carries its packet id, without the body being kept.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/mqtt/mqtt_codec.h"

namespace {

namespace mqtt = aquawatch::mqtt;
using Event = mqtt::FrameSplitter::Event;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Seen {
  Event event = Event::kNeedMore;
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::string body;       // packet body, or the oversized topic prefix
  std::size_t bytes = 0;  // oversized: packet size
  std::uint16_t packet_id = 0;
  int qos = 0;
};

struct Run {
  std::vector<Seen> events;
  std::string error;  // empty: no error
  bool at_boundary = true;
};

// Feeds `stream` in chunks of the sizes `chunk(i)` gives for the i-th chunk.
template <typename ChunkFn>
Run Split(std::string_view stream, std::size_t max, ChunkFn chunk) {
  Run run;
  mqtt::FrameSplitter splitter(max);
  std::string buffer;
  for (std::size_t i = 0; !stream.empty(); ++i) {
    std::size_t n = std::min(stream.size(), chunk(i));
    buffer.assign(stream.substr(0, n));  // a view into the chunk must not outlive it
    stream.remove_prefix(n);
    std::string_view input = buffer;
    for (;;) {
      std::size_t before = input.size();
      aquawatch::Result<Event> e = splitter.Next(input);
      Check(input.size() <= before);
      if (!e.ok()) {
        run.error = e.status().message();
        Check(!run.error.empty());
        // A failed splitter stays failed.
        std::string_view more = "\xD0";
        Check(!splitter.Next(more).ok());
        return run;
      }
      if (*e == Event::kNeedMore) {
        Check(input.empty());
        break;
      }
      Seen s;
      s.event = *e;
      if (*e == Event::kPacket) {
        const mqtt::Packet& p = splitter.packet();
        Check(p.body.size() <= max);
        Check(mqtt::CheckFixedHeader(p.type, p.flags).ok());
        s.type = p.type;
        s.flags = p.flags;
        s.body.assign(p.body);
      } else {
        const mqtt::OversizedPublish& o = splitter.oversized();
        Check(o.packet_bytes > max);
        Check(o.qos == 0 || o.qos == 1);
        Check((o.packet_id != 0) == (o.qos == 1));
        Check(o.topic.size() <= mqtt::FrameSplitter::kTopicPrefixBytes);
        s.type = mqtt::kPublish;
        s.body.assign(o.topic);
        s.bytes = o.packet_bytes;
        s.packet_id = o.packet_id;
        s.qos = o.qos;
      }
      run.events.push_back(std::move(s));
    }
  }
  run.at_boundary = splitter.at_packet_boundary();
  return run;
}

bool Same(const Run& a, const Run& b) {
  if (a.error != b.error || a.at_boundary != b.at_boundary) return false;
  if (a.events.size() != b.events.size()) return false;
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    const Seen& x = a.events[i];
    const Seen& y = b.events[i];
    if (x.event != y.event || x.type != y.type || x.flags != y.flags || x.body != y.body ||
        x.bytes != y.bytes || x.packet_id != y.packet_id || x.qos != y.qos) {
      return false;
    }
  }
  return true;
}

// Every parser on every packet; the one for its type checked further.
void ParseAll(const Seen& s) {
  mqtt::Packet p{s.type, s.flags, s.body};
  auto publish = mqtt::ParsePublish(p);
  auto connack = mqtt::ParseConnack(p);
  auto suback = mqtt::ParseSuback(p);
  auto puback = mqtt::ParsePuback(p);
  aquawatch::Status pingresp = mqtt::ParsePingresp(p);
  Check(!publish.ok() || s.type == mqtt::kPublish);
  Check(!connack.ok() || s.type == mqtt::kConnack);
  Check(!suback.ok() || s.type == mqtt::kSuback);
  Check(!puback.ok() || s.type == mqtt::kPuback);
  Check(!pingresp.ok() || s.type == mqtt::kPingresp);
  if (connack.ok()) Check(s.body.size() == 2);
  if (suback.ok()) Check(!suback->return_codes.empty() && suback->packet_id != 0);
  if (puback.ok()) Check(*puback != 0);
  if (publish.ok()) {
    Check(publish->qos == 0 || publish->qos == 1);
    Check((publish->packet_id != 0) == (publish->qos == 1));
    Check(mqtt::ValidateTopicName(publish->topic).ok());
    Check(2 + publish->topic.size() + (publish->qos ? 2 : 0) + publish->payload.size() ==
          s.body.size());
    // Re-encodes to the same body (and flags, but for DUP on QoS 0, which we never send).
    std::string again;
    Check(mqtt::EncodePublish(publish->topic, publish->payload, publish->qos, publish->packet_id,
                              publish->dup, publish->retain, again)
              .ok());
    mqtt::FrameSplitter splitter(again.size());
    std::string_view input = again;
    auto e = splitter.Next(input);
    Check(e.ok() && *e == Event::kPacket && input.empty());
    Check(splitter.packet().body == s.body);
    std::uint8_t flags = s.flags;
    if (publish->qos == 0) flags &= ~0x08;
    Check(splitter.packet().flags == flags);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t kLarge = 1 << 20;
  Run whole = Split(stream, kLarge, [&](std::size_t) { return stream.size(); });
  for (const Seen& s : whole.events) {
    Check(s.event == Event::kPacket || s.bytes > 0);
    if (s.event == Event::kPacket) ParseAll(s);
  }
  Check(Same(whole, Split(stream, kLarge, [](std::size_t) { return std::size_t{1}; })));
  // Uneven chunks from the input itself, so the fuzzer explores the cuts too.
  auto uneven = [&](std::size_t i) { return std::size_t{1} + (size ? data[i % size] % 23 : 0); };
  Check(Same(whole, Split(stream, kLarge, uneven)));

  // A small limit: a PUBLISH over it is skipped but keeps its packet id and QoS; the packets
  // before it are unchanged, whatever the cuts.
  constexpr std::size_t kSmall = 24;
  Run small = Split(stream, kSmall, [&](std::size_t) { return stream.size(); });
  Check(Same(small, Split(stream, kSmall, [](std::size_t) { return std::size_t{1}; })));
  Check(Same(small, Split(stream, kSmall, uneven)));
  for (std::size_t i = 0; i < small.events.size() && i < whole.events.size(); ++i) {
    const Seen& s = small.events[i];
    const Seen& w = whole.events[i];
    if (w.event != Event::kPacket) {  // over even the large limit
      Check(s.event == Event::kOversizedPublish && s.packet_id == w.packet_id);
      continue;
    }
    if (s.event == Event::kPacket) {
      Check(s.type == w.type && s.flags == w.flags && s.body == w.body);
      continue;
    }
    Check(w.type == mqtt::kPublish && s.bytes > kSmall);
    auto publish = mqtt::ParsePublish({w.type, w.flags, w.body});
    if (publish.ok()) {
      Check(s.packet_id == publish->packet_id && s.qos == publish->qos);
      Check(publish->topic.substr(0, s.body.size()) == s.body);
    }
  }
  return 0;
}
