// An underlay UDP endpoint (IPv4 or IPv6 address and port), small and copyable.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip.h"

namespace keymesh::udp {

struct Endpoint {
  std::uint8_t family = 0;  // 0 (unset), AF_INET or AF_INET6
  std::uint16_t port = 0;   // host byte order
  std::array<std::uint8_t, 16> addr{};  // IPv4 uses the first 4 bytes

  bool valid() const noexcept { return family != 0; }
  // The address alone, without the port.
  IpAddress address() const noexcept {
    IpAddress a;
    a.family = family;
    a.bytes = addr;
    return a;
  }
  bool operator==(const Endpoint&) const = default;

  // "198.18.0.1:51820" or "[2001:db8::1]:51820"
  std::string to_string() const;
  static std::optional<Endpoint> parse(std::string_view text);
  // Conversions to and from the socket API. from_sockaddr maps v4-mapped v6 to v4.
  static Endpoint from_sockaddr(const sockaddr* sa) noexcept;
  socklen_t to_sockaddr(sockaddr_storage& out) const noexcept;
};

}  // namespace keymesh::udp

// So endpoints can key unordered maps (peer by endpoint, the in-memory network's routes).
template <>
struct std::hash<keymesh::udp::Endpoint> {
  std::size_t operator()(const keymesh::udp::Endpoint& e) const noexcept {
    std::size_t h = std::size_t(e.family) << 16 | e.port;
    for (std::uint8_t b : e.addr) h = h * 131 + b;
    return h;
  }
};
