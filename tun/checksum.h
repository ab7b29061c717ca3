// Internet checksums (RFC 1071) and big-endian field access for the packets the inside edge
// builds or rewrites: TUN offload segmentation and coalescing (offload.cpp) and the ICMP
// "too big" answers (icmp_too_big.cpp). Allocation-free; header-only so the packet path
// inlines them.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace keymesh::tun::checksum {

inline std::uint16_t load_be16(const std::uint8_t* p) noexcept { return std::uint16_t(p[0] << 8 | p[1]); }
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = std::uint8_t(v >> 8);
  p[1] = std::uint8_t(v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  store_be16(p, std::uint16_t(v >> 16));
  store_be16(p + 2, std::uint16_t(v));
}

inline std::uint32_t fold(std::uint64_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return std::uint32_t(sum);
}

// One's-complement sum of `data` as big-endian 16-bit words (an odd tail byte is padded with
// zero), folded to 16 bits. Summed in host order a word pair at a time and swapped at the
// end: the one's-complement sum commutes with byte swapping (RFC 1071 §2(B)).
inline std::uint16_t sum16(std::span<const std::uint8_t> data) noexcept {
  const std::uint8_t* p = data.data();
  std::size_t n = data.size();
  std::uint64_t acc = 0;
  while (n >= 32) {
    std::uint64_t w[4];
    std::memcpy(w, p, 32);
    for (std::uint64_t x : w) acc += (x & 0xffffffff) + (x >> 32);
    p += 32;
    n -= 32;
  }
  while (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    const std::uint8_t pad[2] = {p[0], 0};
    std::uint16_t w;
    std::memcpy(&w, pad, 2);
    acc += w;
  }
  const auto host = std::uint16_t(fold(acc));
  if constexpr (std::endian::native == std::endian::little) return std::byteswap(host);
  return host;
}

// Sum of the TCP/UDP pseudo-header of `ip` (version 4 or 6) for an L4 length `length`.
inline std::uint32_t pseudo_header_sum(std::span<const std::uint8_t> ip, std::uint8_t protocol,
                                std::size_t length) noexcept {
  const bool v4 = (ip[0] >> 4) == 4;
  const auto addresses = v4 ? ip.subspan(12, 8) : ip.subspan(8, 32);
  return fold(std::uint64_t(sum16(addresses)) + protocol + length);
}

inline void set_ipv4_header_checksum(std::span<std::uint8_t> ip, std::size_t header_len) noexcept {
  store_be16(&ip[10], 0);
  store_be16(&ip[10], std::uint16_t(~sum16(ip.first(header_len))));
}

}  // namespace keymesh::tun::checksum
