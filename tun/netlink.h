// The TUN interface's own setup, by interface name, in the daemon's network namespace: MTU,
// up, addresses, routes via the interface, and the underlay MTU. Thin wrappers over
// net::Netlink (net/netlink.h), each on a socket of its own, so safe from any thread.
// Control path only. Errors name the interface and the kernel's reason.
#pragma once

#include <string_view>

#include "common/ip.h"
#include "common/result.h"

namespace keymesh::tun {

Result<void> set_link_mtu(std::string_view ifname, int mtu);
Result<void> set_link_up(std::string_view ifname);
// Adds `prefix` (address with its prefix length) to the interface. Existing: not an error.
Result<void> add_address(std::string_view ifname, const IpPrefix& prefix);
// Adds a route to prefix.network() via the interface (scope link). Existing: not an error.
// (Implemented as create-or-replace: a route to the same prefix via another interface is
// taken over, since the daemon owns its overlay prefixes.)
Result<void> add_route(std::string_view ifname, const IpPrefix& prefix);
// Absent route, or absent interface (its routes went with it): not an error.
Result<void> delete_route(std::string_view ifname, const IpPrefix& prefix);
// Largest MTU among links that are up and not loopback (the underlay), or 1500 if none.
// Links of type ARPHRD_NONE (TUN, WireGuard: overlays such as our own km0) are skipped.
Result<int> underlay_mtu();

}  // namespace keymesh::tun
