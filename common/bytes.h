// Byte helpers: little-endian loads/stores, hex and WireGuard-style base64 keys.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keymesh {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;
using MutableByteSpan = std::span<std::uint8_t>;

inline std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}
inline std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  return std::uint64_t(load_le32(p)) | std::uint64_t(load_le32(p + 4)) << 32;
}
inline void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = std::uint8_t(v);
  p[1] = std::uint8_t(v >> 8);
  p[2] = std::uint8_t(v >> 16);
  p[3] = std::uint8_t(v >> 24);
}
inline void store_le64(std::uint8_t* p, std::uint64_t v) noexcept {
  store_le32(p, std::uint32_t(v));
  store_le32(p + 4, std::uint32_t(v >> 32));
}
inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return std::uint16_t(p[0] << 8 | p[1]);
}

std::string to_hex(ByteSpan bytes);
std::optional<Bytes> from_hex(std::string_view hex);

// Standard base64 with padding, as `wg genkey` prints keys (44 characters for 32 bytes).
std::string to_base64(ByteSpan bytes);
std::optional<Bytes> from_base64(std::string_view text);

// Constant-time equality (sodium_memcmp); sizes must match.
bool equal_ct(ByteSpan a, ByteSpan b) noexcept;

}  // namespace keymesh
