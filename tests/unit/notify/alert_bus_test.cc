// The alert bus's codec: every field survives the trip, bad messages are refused with a reason.
// (The broker itself is exercised by tests/integration/test_alert_bus.py against RabbitMQ.)
#include <gtest/gtest.h>

#include "notify/alert_bus.h"

namespace aquawatch {
namespace {

TEST(AlertBusCodec, EveryFieldRoundTrips) {
  AlertEvent e;
  e.type = AlertEvent::Type::kAcknowledged;
  e.from_reading = true;
  Alert& a = e.alert;
  a.id = 1ull << 40;
  a.sensor = "s \"1\"";
  a.site = "plant";
  a.zone = "north";
  a.kind = "threshold";
  a.parameter = "free_chlorine_mg_l";
  a.classification = "x";
  a.level = Level::kCriticalLow;
  a.priority = AlertPriority::kLow;
  a.value = 0.05;
  a.threshold = 0.2;
  a.reading_time_ns = 1'800'000'000'123'456'789;
  a.received_ns = a.reading_time_ns + 7;
  a.opened_ns = a.reading_time_ns - 1;
  a.message = "line\nbreak";
  a.state = AlertState::kAcknowledged;
  a.active = false;
  a.cleared_ns = 11;
  a.cleared_at_ns = 12;
  a.resolved_ns = 13;
  a.resolved_at_ns = 14;
  a.resolved_by = "bob";
  a.acked_by = "alice";
  a.ack_comment = "on it";
  a.acked_at_ns = 15;
  a.reopened = 2;
  a.updated_at_ns = 16;
  a.history_size = 9;
  a.suppressed_by = "silence 3";
  auto back = DecodeAlertEvent(EncodeAlertEvent(e));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->type, e.type);
  EXPECT_TRUE(back->from_reading);
  const Alert& b = back->alert;
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.sensor, a.sensor);
  EXPECT_EQ(b.zone, a.zone);
  EXPECT_EQ(b.level, a.level);
  EXPECT_EQ(b.priority, a.priority);
  EXPECT_EQ(b.state, a.state);
  EXPECT_DOUBLE_EQ(b.value, a.value);
  EXPECT_EQ(b.reading_time_ns, a.reading_time_ns) << "nanoseconds, not milliseconds";
  EXPECT_EQ(b.received_ns, a.received_ns);
  EXPECT_EQ(b.message, a.message);
  EXPECT_FALSE(b.active);
  EXPECT_EQ(b.resolved_at_ns, 14);
  EXPECT_EQ(b.acked_by, "alice");
  EXPECT_EQ(b.reopened, 2u);
  EXPECT_EQ(b.history_size, 9u);
  EXPECT_EQ(b.suppressed_by, "silence 3");
}

TEST(AlertBusCodec, BadMessagesSayWhy) {
  EXPECT_EQ(DecodeAlertEvent("not json").status().message(), "alert event: not a JSON object");
  EXPECT_EQ(DecodeAlertEvent(R"({"type":"exploded"})").status().message(),
            "alert event: unknown type exploded");
  AlertEvent e{.type = AlertEvent::Type::kOpened, .alert = {}, .from_reading = false};
  std::string text = EncodeAlertEvent(e);
  text.replace(text.find("\"sensor\""), 8, "\"sensxr\"");
  EXPECT_EQ(DecodeAlertEvent(text).status().message(), "alert event: field \"sensor\" missing");
}

}  // namespace
}  // namespace aquawatch
