// Minimal, allocation-free view of an inside IP packet header: version, addresses, length.
// Used on both paths: route by destination when sending, check the source after decrypting.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/ip.h"

namespace keymesh::daemon {

struct IpHeaderView {
  std::uint8_t version = 0;       // 4 or 6; 0 when malformed
  const std::uint8_t* src = nullptr;
  const std::uint8_t* dst = nullptr;
  std::size_t total_length = 0;   // from the header; <= the buffer it was parsed from
};

// Rejects anything that is not a complete IPv4 or IPv6 header whose stated length fits in
// `packet` (trailing bytes, e.g. WireGuard padding, are allowed and ignored).
inline IpHeaderView parse_ip_header(std::span<const std::uint8_t> packet) noexcept {
  IpHeaderView v;
  if (packet.empty()) return v;
  const std::uint8_t version = packet[0] >> 4;
  if (version == 4 && packet.size() >= 20) {
    const std::size_t len = load_be16(&packet[2]);
    const std::size_t ihl = std::size_t(packet[0] & 0x0f) * 4;
    if (ihl < 20 || len < ihl || len > packet.size()) return v;
    v = {4, &packet[12], &packet[16], len};
  } else if (version == 6 && packet.size() >= 40) {
    const std::size_t len = 40 + std::size_t(load_be16(&packet[4]));
    if (len > packet.size()) return v;
    v = {6, &packet[8], &packet[24], len};
  }
  return v;
}

// The address at `bytes` (one of a parsed header's `src`/`dst`), as routing tables and
// discovery look it up. `version` is the header's: 4 or 6.
inline IpAddress address_of(const std::uint8_t* bytes, std::uint8_t version) noexcept {
  return version == 4 ? IpAddress::v4(bytes) : IpAddress::v6(bytes);
}
inline IpAddress source_of(const IpHeaderView& ip) noexcept { return address_of(ip.src, ip.version); }
inline IpAddress destination_of(const IpHeaderView& ip) noexcept {
  return address_of(ip.dst, ip.version);
}

}  // namespace keymesh::daemon
