#include "udp/path_mtu.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace keymesh::udp {

std::optional<std::uint32_t> kernel_path_mtu(const Endpoint& to) noexcept {
  sockaddr_storage addr{};
  const socklen_t len = to.to_sockaddr(addr);
  if (len == 0) return std::nullopt;
  const bool v6 = addr.ss_family == AF_INET6;
  const int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  std::optional<std::uint32_t> mtu;
  int value = 0;
  socklen_t value_len = sizeof value;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0 &&
      ::getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU : IP_MTU, &value,
                   &value_len) == 0 &&
      value > 0)
    mtu = std::uint32_t(value);
  ::close(fd);
  return mtu;
}

}  // namespace keymesh::udp
