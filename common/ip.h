// IP addresses and prefixes (IPv4 and IPv6), as configured and as found in packet headers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keymesh {

struct IpAddress {
  std::uint8_t family = 0;  // AF_INET or AF_INET6 (0: unset)
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes

  std::size_t size() const noexcept { return family == 10 /*AF_INET6*/ ? 16 : 4; }
  bool operator==(const IpAddress&) const = default;
  std::string to_string() const;
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(const std::uint8_t* p) noexcept;
  static IpAddress v6(const std::uint8_t* p) noexcept;
};

struct IpPrefix {
  IpAddress address;  // host bits are kept as written (an interface address keeps its host)
  std::uint8_t length = 0;

  bool operator==(const IpPrefix&) const = default;
  // "100.64.0.1/24", "fd00::/8"; a bare address means a host prefix (/32 or /128).
  static std::optional<IpPrefix> parse(std::string_view text);
  std::string to_string() const;
  bool contains(const IpAddress& a) const noexcept;
  IpPrefix network() const noexcept;  // host bits cleared
};

}  // namespace keymesh
