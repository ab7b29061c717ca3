// Helpers for the policy tests: subjects, times, and hand-built inside packets.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "policy/loader.h"
#include "policy/packet.h"
#include "policy/schedule.h"

namespace keymesh::policy::test {

inline WallTime utc(std::string_view text) {
  auto t = parse_rfc3339(text);
  BOOST_REQUIRE_MESSAGE(t.has_value(), "bad test time " << text);
  return *t;
}

inline Subject subject(std::string name, std::vector<std::string> groups = {},
                       std::string kind = "workload") {
  Subject s;
  s.name = std::move(name);
  s.groups = std::move(groups);
  s.kind = std::move(kind);
  s.fingerprint = "fp-" + s.name;
  return s;
}

inline IpPrefix prefix(std::string_view text) {
  auto p = IpPrefix::parse(text);
  BOOST_REQUIRE(p.has_value());
  return *p;
}

inline Policy policy_from(std::string_view yaml) {
  auto p = parse_policy(yaml);
  BOOST_REQUIRE_MESSAGE(p.has_value(), "policy did not load: " << p.error().message);
  return std::move(*p);
}

// ---- Packets ----

inline std::vector<std::uint8_t> address_bytes(std::string_view text) {
  auto a = IpAddress::parse(text);
  BOOST_REQUIRE(a.has_value());
  return {a->bytes.begin(), a->bytes.begin() + std::ptrdiff_t(a->size())};
}

inline void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = std::uint8_t(v >> 8);
  b[at + 1] = std::uint8_t(v);
}

// An IP header (v4 or v6 by the address form) carrying `l4` with protocol `proto`.
inline std::vector<std::uint8_t> ip_packet(std::string_view src, std::string_view dst,
                                           std::uint8_t proto,
                                           const std::vector<std::uint8_t>& l4) {
  const auto s = address_bytes(src), d = address_bytes(dst);
  std::vector<std::uint8_t> p;
  if (s.size() == 4) {
    p.assign(20, 0);
    p[0] = 0x45;
    put16(p, 2, std::uint16_t(20 + l4.size()));
    p[8] = 64;
    p[9] = proto;
    std::copy(s.begin(), s.end(), p.begin() + 12);
    std::copy(d.begin(), d.end(), p.begin() + 16);
  } else {
    p.assign(40, 0);
    p[0] = 0x60;
    put16(p, 4, std::uint16_t(l4.size()));
    p[6] = proto;
    p[7] = 64;
    std::copy(s.begin(), s.end(), p.begin() + 8);
    std::copy(d.begin(), d.end(), p.begin() + 24);
  }
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

inline std::vector<std::uint8_t> tcp(std::string_view src, std::uint16_t sport,
                                     std::string_view dst, std::uint16_t dport,
                                     std::uint8_t flags) {
  std::vector<std::uint8_t> h(20, 0);
  put16(h, 0, sport);
  put16(h, 2, dport);
  h[12] = 0x50;
  h[13] = flags;
  return ip_packet(src, dst, ipproto::kTcp, h);
}

inline std::vector<std::uint8_t> udp(std::string_view src, std::uint16_t sport,
                                     std::string_view dst, std::uint16_t dport) {
  std::vector<std::uint8_t> h(12, 0);
  put16(h, 0, sport);
  put16(h, 2, dport);
  put16(h, 4, 12);
  return ip_packet(src, dst, ipproto::kUdp, h);
}

// ICMP (v4 or v6 by address form) echo request/reply or any type, with `payload` appended.
inline std::vector<std::uint8_t> icmp(std::string_view src, std::string_view dst,
                                      std::uint8_t type, std::uint16_t id,
                                      const std::vector<std::uint8_t>& payload = {}) {
  std::vector<std::uint8_t> h(8, 0);
  h[0] = type;
  put16(h, 4, id);
  h.insert(h.end(), payload.begin(), payload.end());
  const bool v6 = src.find(':') != std::string_view::npos;
  return ip_packet(src, dst, v6 ? ipproto::kIcmpV6 : ipproto::kIcmp, h);
}

inline PacketView view(const std::vector<std::uint8_t>& p) { return parse_packet(p); }

}  // namespace keymesh::policy::test
