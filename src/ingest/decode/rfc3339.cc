// RFC 3339 timestamps to nanoseconds since the Unix epoch.
//
// Hand-written rather than std::get_time or strptime: those depend on the locale and the TZ
// environment, accept sloppy input, and are slow. The grammar is fixed-width, so one pass with
// days-from-civil arithmetic (H. Hinnant's algorithm) is both strict and fast.
#include <cstdint>
#include <string>
#include <string_view>

#include "ingest/decode/decode.h"

namespace aquawatch {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.
constexpr std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);

constexpr bool IsLeapYear(int y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr int DaysInMonth(int y, int m) {
  constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Status Fail(std::string_view why) const {
    // Bound the echo of the input: the text comes from the network.
    constexpr std::size_t kMaxEcho = 64;
    std::string shown(s_.substr(0, kMaxEcho));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
    }
    if (s_.size() > kMaxEcho) shown += "...";
    return Status::InvalidArgument("invalid RFC 3339 time \"" + shown + "\": " + std::string(why));
  }

  // Reads exactly `count` decimal digits.
  bool Digits(int count, int& value) {
    if (s_.size() - pos_ < static_cast<std::size_t>(count)) return false;
    int v = 0;
    for (int i = 0; i < count; ++i) {
      char c = s_[pos_ + static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += static_cast<std::size_t>(count);
    value = v;
    return true;
  }

  bool Char(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool CharOf(std::string_view set) {
    if (pos_ < s_.size() && set.find(s_[pos_]) != std::string_view::npos) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() const { return pos_ == s_.size(); }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void Next() { ++pos_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<std::int64_t> ParseRfc3339(std::string_view text) {
  Parser p(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!p.Digits(4, year) || !p.Char('-') || !p.Digits(2, month) || !p.Char('-') ||
      !p.Digits(2, day)) {
    return p.Fail("expected a YYYY-MM-DD date");
  }
  if (month < 1 || month > 12) return p.Fail("month " + std::to_string(month) + " out of range");
  if (day < 1 || day > DaysInMonth(year, month)) {
    return p.Fail("day " + std::to_string(day) + " does not exist in that month");
  }
  // RFC 3339 allows a lowercase 't' and, by its note on ISO 8601, a space.
  if (!p.CharOf("Tt ")) return p.Fail("expected 'T' between date and time");
  if (!p.Digits(2, hour) || !p.Char(':') || !p.Digits(2, minute) || !p.Char(':') ||
      !p.Digits(2, second)) {
    return p.Fail("expected an hh:mm:ss time");
  }
  if (hour > 23) return p.Fail("hour " + std::to_string(hour) + " out of range");
  if (minute > 59) return p.Fail("minute " + std::to_string(minute) + " out of range");
  // Second 60 exists only at a leap second; like InfluxDB (Go's time package) we reject it
  // rather than silently folding it into the next minute.
  if (second > 59) return p.Fail("second " + std::to_string(second) + " out of range");

  std::int64_t frac_ns = 0;
  if (p.Char('.')) {
    int digits = 0;
    while (p.Peek() >= '0' && p.Peek() <= '9') {
      if (++digits > 9) return p.Fail("more than 9 fractional digits");
      frac_ns = frac_ns * 10 + (p.Peek() - '0');
      p.Next();
    }
    if (digits == 0) return p.Fail("expected digits after '.'");
    for (int i = digits; i < 9; ++i) frac_ns *= 10;
  }

  int offset_seconds = 0;
  if (!p.CharOf("Zz")) {
    char sign = p.Peek();
    if (sign != '+' && sign != '-') return p.Fail("expected 'Z' or a +hh:mm / -hh:mm offset");
    p.Next();
    int oh = 0, om = 0;
    if (!p.Digits(2, oh) || !p.Char(':') || !p.Digits(2, om)) {
      return p.Fail("expected a +hh:mm / -hh:mm offset");
    }
    if (oh > 23 || om > 59) return p.Fail("offset out of range");
    offset_seconds = (oh * 3600 + om * 60) * (sign == '-' ? -1 : 1);
  }
  if (!p.AtEnd()) return p.Fail("unexpected text after the time");

  // Local time minus its offset is UTC. Seconds cannot overflow for 4-digit years; nanoseconds
  // can (int64 covers 1677-09-21 to 2262-04-11).
  std::int64_t seconds =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second - offset_seconds;
  // Borrow a second before negative instants so the earliest representable one (whose whole
  // seconds alone would overflow) still parses.
  if (seconds < 0 && frac_ns > 0) {
    seconds += 1;
    frac_ns -= 1'000'000'000;
  }
  std::int64_t ns = 0;
  if (__builtin_mul_overflow(seconds, std::int64_t{1'000'000'000}, &ns) ||
      __builtin_add_overflow(ns, frac_ns, &ns)) {
    return p.Fail("out of range for nanoseconds since 1970 (years 1678-2261 are safe)");
  }
  return ns;
}

}  // namespace aquawatch
