#include "tun/icmp_too_big.h"

#include <algorithm>

#include "tun/checksum.h"

namespace keymesh::tun {
using namespace checksum;

namespace {

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoIcmpv6 = 58;
constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kIcmpHeader = 8;
constexpr std::size_t kMaxIpv4Answer = 576;   // RFC 1812 §4.3.2.3
constexpr std::size_t kMaxIpv6Answer = 1280;  // RFC 4443 §2.4 (c)

// ICMP types that are errors (no answer about them): IPv4 unreachable, source quench,
// redirect, time exceeded, parameter problem; IPv6: everything below 128.
bool is_icmpv4_error(std::uint8_t type) noexcept {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

bool ipv4_source_answerable(const std::uint8_t* src) noexcept {
  if (src[0] == 0 || src[0] == 127 || src[0] >= 224) return false;  // 0/8, loopback, multicast+
  return true;
}

bool ipv6_source_answerable(const std::uint8_t* src) noexcept {
  static constexpr std::uint8_t kUnspecified[16] = {};
  static constexpr std::uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(src, kUnspecified, 16) == 0 || std::memcmp(src, kLoopback, 16) == 0) return false;
  return src[0] != 0xff;  // multicast
}

std::size_t answer_v4(std::span<const std::uint8_t> p, std::uint32_t mtu,
                      std::span<std::uint8_t> out) noexcept {
  const std::size_t ihl = std::size_t(p[0] & 0x0f) * 4;
  if (ihl < kIpv4Header || p.size() < ihl) return 0;
  if ((load_be16(&p[6]) & 0x1fff) != 0) return 0;  // not the first fragment
  if (!ipv4_source_answerable(&p[12])) return 0;
  if (p[9] == kProtoIcmp && (p.size() < ihl + 1 || is_icmpv4_error(p[ihl]))) return 0;
  const std::size_t quoted = std::min(p.size(), kMaxIpv4Answer - kIpv4Header - kIcmpHeader);
  const std::size_t total = kIpv4Header + kIcmpHeader + quoted;
  if (out.size() < total) return 0;
  std::uint8_t* o = out.data();
  std::memset(o, 0, kIpv4Header + kIcmpHeader);
  o[0] = 0x45;
  o[1] = 0xc0;  // network control, as routers send ICMP
  store_be16(&o[2], std::uint16_t(total));
  o[8] = 64;
  o[9] = kProtoIcmp;
  std::memcpy(&o[12], &p[16], 4);  // from the packet's destination
  std::memcpy(&o[16], &p[12], 4);  // to its source
  set_ipv4_header_checksum(out.first(kIpv4Header), kIpv4Header);
  std::uint8_t* icmp = o + kIpv4Header;
  icmp[0] = 3;
  icmp[1] = 4;
  store_be16(&icmp[6], std::uint16_t(std::clamp<std::uint32_t>(mtu, kMinIpv4Mtu, 0xffff)));
  std::memcpy(icmp + kIcmpHeader, p.data(), quoted);
  store_be16(&icmp[2], std::uint16_t(~sum16({icmp, kIcmpHeader + quoted})));
  return total;
}

std::size_t answer_v6(std::span<const std::uint8_t> p, std::uint32_t mtu,
                      std::span<std::uint8_t> out) noexcept {
  if (p.size() < kIpv6Header) return 0;
  if (!ipv6_source_answerable(&p[8])) return 0;
  if (p[6] == kProtoIcmpv6 && (p.size() < kIpv6Header + 1 || p[kIpv6Header] < 128)) return 0;
  const std::size_t quoted = std::min(p.size(), kMaxIpv6Answer - kIpv6Header - kIcmpHeader);
  const std::size_t length = kIcmpHeader + quoted;
  const std::size_t total = kIpv6Header + length;
  if (out.size() < total) return 0;
  std::uint8_t* o = out.data();
  std::memset(o, 0, kIpv6Header + kIcmpHeader);
  o[0] = 0x60;
  store_be16(&o[4], std::uint16_t(length));
  o[6] = kProtoIcmpv6;
  o[7] = 64;
  std::memcpy(&o[8], &p[24], 16);   // from the packet's destination
  std::memcpy(&o[24], &p[8], 16);   // to its source
  std::uint8_t* icmp = o + kIpv6Header;
  icmp[0] = 2;
  store_be32(&icmp[4], std::max(mtu, kMinIpv6Mtu));
  std::memcpy(icmp + kIcmpHeader, p.data(), quoted);
  const std::uint32_t sum =
      fold(std::uint64_t(sum16({icmp, length})) + pseudo_header_sum(out.first(total), kProtoIcmpv6, length));
  store_be16(&icmp[2], std::uint16_t(~sum));
  return total;
}

}  // namespace

std::size_t build_too_big(std::span<const std::uint8_t> packet, std::uint32_t mtu,
                          std::span<std::uint8_t> out) noexcept {
  if (packet.empty()) return 0;
  switch (packet[0] >> 4) {
    case 4: return answer_v4(packet, mtu, out);
    case 6: return answer_v6(packet, mtu, out);
    default: return 0;
  }
}

}  // namespace keymesh::tun
