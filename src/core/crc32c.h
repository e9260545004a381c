// CRC-32C (Castagnoli), the checksum of every log record.
// Uses the SSE4.2 instruction when the CPU has it, a table otherwise. Thread-safe (pure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace aquawatch {

std::uint32_t Crc32c(const void* data, std::size_t size, std::uint32_t crc = 0);
inline std::uint32_t Crc32c(std::string_view s) { return Crc32c(s.data(), s.size()); }

}  // namespace aquawatch
