#include "udp/endpoint.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace keymesh::udp {

namespace {

// ::ffff:a.b.c.d — what a dual-stack socket reports for IPv4 peers.
constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::optional<std::uint16_t> parse_port(std::string_view digits) {
  // Digits only: from_chars would accept nothing else anyway, but we also refuse "+5", " 5".
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value > 65535)
    return std::nullopt;
  return std::uint16_t(value);
}

}  // namespace

std::string Endpoint::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    inet_ntop(AF_INET, addr.data(), buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port);
  }
  if (family == AF_INET6) {
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port);
  }
  return "unset";
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host, port;
  Endpoint e;
  if (!text.empty() && text.front() == '[') {
    // IPv6 must be bracketed so the port separator is unambiguous.
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    e.family = AF_INET6;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    e.family = AF_INET;
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  auto p = parse_port(port);
  if (!p) return std::nullopt;
  e.port = *p;

  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, host.data(), host.size());
  if (inet_pton(e.family, buf, e.addr.data()) != 1) return std::nullopt;
  if (e.family == AF_INET6 && std::memcmp(e.addr.data(), kV4MappedPrefix, 12) == 0) {
    // "[::ffff:1.2.3.4]:5" names an IPv4 peer; keep one spelling so endpoints compare equal.
    std::memmove(e.addr.data(), e.addr.data() + 12, 4);
    std::memset(e.addr.data() + 4, 0, 12);
    e.family = AF_INET;
  }
  return e;
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa) noexcept {
  Endpoint e;
  if (sa == nullptr) return e;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    e.family = AF_INET;
    e.port = ntohs(in->sin_port);
    std::memcpy(e.addr.data(), &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    e.port = ntohs(in6->sin6_port);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr);
    if (std::memcmp(bytes, kV4MappedPrefix, 12) == 0) {
      e.family = AF_INET;
      std::memcpy(e.addr.data(), bytes + 12, 4);
    } else {
      e.family = AF_INET6;
      std::memcpy(e.addr.data(), bytes, 16);
    }
  }
  return e;
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage& out) const noexcept {
  std::memset(&out, 0, sizeof out);
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, addr.data(), 4);
    return sizeof(sockaddr_in);
  }
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, addr.data(), 16);
    return sizeof(sockaddr_in6);
  }
  return 0;
}

}  // namespace keymesh::udp
