// Minimal JSON text builder for API responses: appends to a std::string, no DOM, no allocation
// beyond the output. Thread-safety: one writer per thread.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/duration.h"  // FormatRfc3339, which JSON responses use for times

namespace aquawatch {

// Appends `s` as a quoted JSON string.
inline void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out.push_back(hex[(c >> 4) & 0xF]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// Appends a number; NaN and infinities (not JSON) become null.
inline void AppendJsonNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

inline void AppendJsonInt(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

// Text a client sent (a key, a name), quoted for an error message and cut at 64 bytes so a hostile
// request cannot make the answer huge: 'abc' or 'abc…'.
inline std::string QuoteClientText(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  out.append(text.substr(0, kMax));
  if (text.size() > kMax) out += "…";
  out += "'";
  return out;
}

// "key": (with a leading comma unless `first`)
inline void AppendJsonKey(std::string& out, std::string_view key, bool first = false) {
  if (!first) out.push_back(',');
  AppendJsonString(out, key);
  out.push_back(':');
}

}  // namespace aquawatch
