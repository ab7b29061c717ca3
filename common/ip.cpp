#include "common/ip.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace keymesh {

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
  else if (family == AF_INET6) inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  else return "unset";
  return buf;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  std::memcpy(buf, text.data(), text.size());
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::v4(const std::uint8_t* p) noexcept {
  IpAddress a;
  a.family = AF_INET;
  std::memcpy(a.bytes.data(), p, 4);
  return a;
}

IpAddress IpAddress::v6(const std::uint8_t* p) noexcept {
  IpAddress a;
  a.family = AF_INET6;
  std::memcpy(a.bytes.data(), p, 16);
  return a;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const unsigned max = addr->family == AF_INET ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || len > max)
      return std::nullopt;
  }
  return IpPrefix{*addr, std::uint8_t(len)};
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

bool IpPrefix::contains(const IpAddress& a) const noexcept {
  if (a.family != address.family) return false;
  const unsigned full = length / 8, rest = length % 8;
  if (std::memcmp(a.bytes.data(), address.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  const std::uint8_t mask = std::uint8_t(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (address.bytes[full] & mask);
}

IpPrefix IpPrefix::network() const noexcept {
  IpPrefix p = *this;
  const unsigned n = address.size();
  for (unsigned i = 0; i < n; ++i) {
    const int keep = int(length) - int(i * 8);
    if (keep >= 8) continue;
    p.address.bytes[i] &= keep <= 0 ? 0 : std::uint8_t(0xff << (8 - keep));
  }
  return p;
}

}  // namespace keymesh
