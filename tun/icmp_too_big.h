// The answer to an inner packet that does not fit the path: ICMP "fragmentation needed"
// (IPv4, type 3 code 4, RFC 1191) or ICMPv6 "packet too big" (type 2, RFC 8201), written back
// into the TUN device so the sender's kernel lowers its path MTU for that destination and
// TCP re-segments. Sans-I/O and allocation-free.
//
// The answer comes from the packet's destination address (the tunnel stands in for the hop
// that could not carry it), so the workload's own filters see an error about a flow it opened.
// It quotes as much of the packet as RFC 1812 / RFC 4443 allow (576 / 1280 bytes in all).
// No answer is built for: ICMP errors (no error about an error), IPv4 fragments other than
// the first, sources that are unspecified, multicast, broadcast or loopback, or packets too
// short to hold their own IP header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace keymesh::tun {

// Smallest answers the kernel takes as path MTUs: IPv4's minimum (RFC 791) and IPv6's (RFC 8200).
inline constexpr std::uint32_t kMinIpv4Mtu = 576;
inline constexpr std::uint32_t kMinIpv6Mtu = 1280;
inline constexpr std::size_t kMaxTooBigAnswer = 1280;  // room `out` needs for any answer

// Writes into `out` the answer telling the sender of `packet` that at most `mtu` bytes fit,
// and returns its size; 0 when the packet gets no answer (see above) or `out` is too small.
// `mtu` is raised to the family's minimum.
std::size_t build_too_big(std::span<const std::uint8_t> packet, std::uint32_t mtu,
                          std::span<std::uint8_t> out) noexcept;

}  // namespace keymesh::tun
