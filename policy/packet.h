// Allocation-free view of an inside IP packet, as far as policy and connection tracking need:
// addresses, transport protocol, ports (or ICMP echo id), TCP flags, and for ICMP errors the
// ports of the packet they quote. The view points into the caller's buffer and is valid only
// while that buffer is. parse_packet never reads outside `packet` and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "policy/rule.h"

namespace keymesh::policy {

namespace ipproto {
inline constexpr std::uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kIcmpV6 = 58;
}

namespace tcpflag {
inline constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
}

enum class IcmpKind : std::uint8_t {
  kNone,          // not ICMP
  kEchoRequest,   // v4 8, v6 128
  kEchoReply,     // v4 0, v6 129
  kError,         // unreachable, time exceeded, parameter problem, packet too big
  kOther,         // anything else (router advertisements, timestamps...)
};

// The addresses and ports a flow is known by. For ICMP echo, src_port is the echo id and
// dst_port is 0, so a request and its reply have mirrored tuples like TCP and UDP do.
struct FlowTuple {
  std::uint8_t version = 0;   // 4 or 6
  std::uint8_t ip_proto = 0;  // IANA protocol number (ICMPv4 and ICMPv6 both kept as is)
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  const std::uint8_t* src = nullptr;  // 4 or 16 bytes, inside the packet
  const std::uint8_t* dst = nullptr;
};

struct PacketView {
  bool valid = false;      // false: not a complete IPv4/IPv6 header (drop)
  bool fragment = false;   // a non-first fragment: no transport header to check
  bool truncated = false;  // the transport header is cut short (drop)
  std::uint32_t size = 0;  // IP bytes, header included (flow records count them)
  Proto proto = Proto::kOther;
  FlowTuple tuple;
  std::uint8_t tcp_flags = 0;
  IcmpKind icmp = IcmpKind::kNone;
  // For IcmpKind::kError: the quoted packet's tuple (as the quoted packet travelled, i.e.
  // from us to the peer that reports the error). `inner_valid` false if it is too short.
  bool inner_valid = false;
  FlowTuple inner;

  // The port that policy checks: destination port for TCP/UDP, 0 otherwise.
  std::uint16_t policy_port() const noexcept {
    return proto == Proto::kTcp || proto == Proto::kUdp ? tuple.dst_port : 0;
  }
};

namespace packet_detail {

inline Proto proto_of(std::uint8_t p) noexcept {
  switch (p) {
    case ipproto::kTcp:
      return Proto::kTcp;
    case ipproto::kUdp:
      return Proto::kUdp;
    case ipproto::kIcmp:
    case ipproto::kIcmpV6:
      return Proto::kIcmp;
    default:
      return Proto::kOther;
  }
}

// Finds the transport header: sets tuple version/addresses/ip_proto and returns its offset
// (0 when the IP header is invalid). `fragment` is set for non-first fragments. For a quoted
// packet (`quoted`), the stated length may exceed the bytes present.
inline std::size_t parse_ip(std::span<const std::uint8_t> p, bool quoted, FlowTuple& t,
                            bool& fragment, std::size_t& end) noexcept {
  if (p.empty()) return 0;
  const std::uint8_t version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < 20) return 0;
    const std::size_t ihl = std::size_t(p[0] & 0x0f) * 4;
    const std::size_t len = load_be16(&p[2]);
    if (ihl < 20 || ihl > p.size() || len < ihl) return 0;
    if (!quoted && len > p.size()) return 0;
    end = quoted ? p.size() : len;
    t.version = 4;
    t.ip_proto = p[9];
    t.src = &p[12];
    t.dst = &p[16];
    fragment = (load_be16(&p[6]) & 0x1fff) != 0;
    return ihl;
  }
  if (version == 6) {
    if (p.size() < 40) return 0;
    const std::size_t len = 40 + std::size_t(load_be16(&p[4]));
    if (!quoted && len > p.size()) return 0;
    end = quoted ? p.size() : len;
    t.version = 6;
    t.src = &p[8];
    t.dst = &p[24];
    std::uint8_t next = p[6];
    std::size_t off = 40;
    // Walk extension headers (a bounded number): hop-by-hop, routing, destination options,
    // fragment. Anything else is the transport protocol.
    for (int i = 0; i < 8; ++i) {
      if (next == 0 || next == 43 || next == 60) {
        if (off + 8 > end) return 0;
        const std::uint8_t following = p[off];
        off += (std::size_t(p[off + 1]) + 1) * 8;
        next = following;
      } else if (next == 44) {
        if (off + 8 > end) return 0;
        const std::uint8_t following = p[off];
        if ((load_be16(&p[off + 2]) & 0xfff8) != 0) fragment = true;
        off += 8;
        next = following;
      } else {
        break;
      }
    }
    if (off > end) return 0;
    t.ip_proto = next;
    return off;
  }
  return 0;
}

// Reads ports (TCP/UDP) or the echo id (ICMP echo) at `l4`; false if too short.
inline bool parse_ports(std::span<const std::uint8_t> p, std::size_t l4, std::size_t end,
                        FlowTuple& t) noexcept {
  if (t.ip_proto == ipproto::kTcp || t.ip_proto == ipproto::kUdp) {
    if (l4 + 4 > end) return false;
    t.src_port = load_be16(&p[l4]);
    t.dst_port = load_be16(&p[l4 + 2]);
  }
  return true;
}

}  // namespace packet_detail

inline PacketView parse_packet(std::span<const std::uint8_t> packet) noexcept {
  using namespace packet_detail;
  PacketView v;
  std::size_t end = 0;
  const std::size_t l4 = parse_ip(packet, false, v.tuple, v.fragment, end);
  if (l4 == 0) return v;
  v.valid = true;
  v.size = std::uint32_t(end);
  v.proto = proto_of(v.tuple.ip_proto);
  if (v.fragment) return v;
  FlowTuple& t = v.tuple;
  if (v.proto == Proto::kTcp) {
    if (l4 + 20 > end) {
      v.truncated = true;
      return v;
    }
    parse_ports(packet, l4, end, t);
    v.tcp_flags = packet[l4 + 13];
  } else if (v.proto == Proto::kUdp) {
    if (l4 + 8 > end) {
      v.truncated = true;
      return v;
    }
    parse_ports(packet, l4, end, t);
  } else if (v.proto == Proto::kIcmp) {
    const bool v6 = t.ip_proto == ipproto::kIcmpV6;
    if ((v6 && t.version != 6) || (!v6 && t.version != 4) || l4 + 8 > end) {
      v.truncated = true;  // ICMPv4 in IPv6 (or the reverse) is as good as malformed
      return v;
    }
    const std::uint8_t type = packet[l4];
    const std::uint16_t id = load_be16(&packet[l4 + 4]);
    if (type == (v6 ? 128 : 8)) {
      v.icmp = IcmpKind::kEchoRequest;
      t.src_port = id;
    } else if (type == (v6 ? 129 : 0)) {
      v.icmp = IcmpKind::kEchoReply;
      t.dst_port = id;  // mirrored: the reply travels back along the request's tuple
    } else if (v6 ? type <= 4 && type >= 1 : type == 3 || type == 11 || type == 12) {
      v.icmp = IcmpKind::kError;
      const auto quoted = packet.subspan(l4 + 8, end - (l4 + 8));
      bool inner_fragment = false;
      std::size_t inner_end = 0;
      const std::size_t inner_l4 = parse_ip(quoted, true, v.inner, inner_fragment, inner_end);
      if (inner_l4 != 0 && !inner_fragment && v.inner.version == t.version) {
        v.inner_valid = parse_ports(quoted, inner_l4, inner_end, v.inner);
        if (v.inner_valid && proto_of(v.inner.ip_proto) == Proto::kIcmp) {
          // A quoted echo request: its id is the flow's port.
          if (inner_l4 + 8 > inner_end) {
            v.inner_valid = false;
          } else {
            const std::uint8_t itype = quoted[inner_l4];
            const std::uint16_t iid = load_be16(&quoted[inner_l4 + 4]);
            if (itype == (v6 ? 128 : 8)) v.inner.src_port = iid;
            else if (itype == (v6 ? 129 : 0)) v.inner.dst_port = iid;
            else v.inner_valid = false;  // errors about errors are not tracked
          }
        }
      }
    } else {
      v.icmp = IcmpKind::kOther;
    }
  }
  return v;
}

}  // namespace keymesh::policy
