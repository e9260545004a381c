// Fnv1a64: a string hash that is the same on every build and platform, for anything that must
// not move across restarts or upgrades (a sensor's shard, its chunk windows).
#pragma once

#include <cstdint>
#include <string_view>

namespace aquawatch {

inline std::uint64_t Fnv1a64(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace aquawatch
