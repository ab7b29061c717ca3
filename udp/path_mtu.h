// The path MTU the kernel knows towards an endpoint: the route's MTU, lowered by any ICMP
// "fragmentation needed" / "packet too big" it received for that destination (a PMTU
// exception, net.ipv4.route.mtu_expires). Asked through a throwaway connected socket
// (IP_MTU / IPV6_MTU), which shares the route cache with the tunnel's own socket. Three
// syscalls: only for the rare datagram the kernel refused with EMSGSIZE.
#pragma once

#include <cstdint>
#include <optional>

#include "udp/endpoint.h"

namespace keymesh::udp {

std::optional<std::uint32_t> kernel_path_mtu(const Endpoint& to) noexcept;

}  // namespace keymesh::udp
