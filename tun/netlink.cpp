#include "tun/netlink.h"

#include <linux/if_arp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "net/netlink.h"

namespace keymesh::tun {

namespace {

bool valid_prefix(const IpPrefix& p) {
  return (p.address.family == AF_INET && p.length <= 32) ||
         (p.address.family == AF_INET6 && p.length <= 128);
}

// Runs `op(netlink, index)` on interface `ifname`. net::Netlink's errors name the link by
// index ("link #7", "dev #7"); here the user knows it by name, so the name replaces it. A missing
// interface fails with `what` and ENODEV's text, or succeeds when `missing_ok` (a deleted
// interface took its routes with it).
template <typename Op>
Result<void> on_link(const std::string& what, std::string_view ifname, Op&& op,
                     bool missing_ok = false) {
  auto nl = net::Netlink::open();
  if (!nl) return fail("netlink: " + what + ": " + nl.error().message);
  auto link = nl->link(ifname);
  if (!link) return fail("netlink: " + what + ": " + link.error().message);
  if (!*link) {
    if (missing_ok) return {};
    return fail("netlink: " + what + ": No such device");
  }
  const int index = (*link)->index;
  if (auto r = op(*nl, index); !r) {
    std::string message = r.error().message;
    const std::string by_index = "#" + std::to_string(index);
    const auto at = message.find(by_index);
    const auto end = at + by_index.size();
    if (at != std::string::npos && (end == message.size() || !std::isdigit(message[end])))
      message.replace(at, by_index.size(), ifname);
    return fail(std::move(message));
  }
  return {};
}

}  // namespace

Result<void> set_link_mtu(std::string_view ifname, int mtu) {
  return on_link("set mtu " + std::to_string(mtu) + " on " + std::string(ifname), ifname,
                 [&](net::Netlink& nl, int index) { return nl.set_mtu(index, mtu); });
}

Result<void> set_link_up(std::string_view ifname) {
  return on_link("set " + std::string(ifname) + " up", ifname,
                 [](net::Netlink& nl, int index) { return nl.set_up(index); });
}

Result<void> add_address(std::string_view ifname, const IpPrefix& prefix) {
  const std::string what = "add address " + prefix.to_string() + " to " + std::string(ifname);
  if (!valid_prefix(prefix)) return fail("netlink: " + what + ": Invalid argument");
  return on_link(what, ifname,
                 [&](net::Netlink& nl, int index) { return nl.add_address(index, prefix); });
}

Result<void> add_route(std::string_view ifname, const IpPrefix& prefix) {
  const std::string what = "add route " + prefix.network().to_string() + " via " +
                           std::string(ifname);
  if (!valid_prefix(prefix)) return fail("netlink: " + what + ": Invalid argument");
  return on_link(what, ifname, [&](net::Netlink& nl, int index) {
    // Replace: the daemon owns its overlay prefixes, so a stale route to the same prefix (a
    // previous incarnation's interface) is taken over rather than kept.
    return nl.add_route(net::RouteSpec{.dst = prefix.network(), .oif = index}, true);
  });
}

Result<void> delete_route(std::string_view ifname, const IpPrefix& prefix) {
  const std::string what = "delete route " + prefix.network().to_string() + " via " +
                           std::string(ifname);
  if (!valid_prefix(prefix)) return fail("netlink: " + what + ": Invalid argument");
  return on_link(
      what, ifname,
      [&](net::Netlink& nl, int index) {
        return nl.delete_route(net::RouteSpec{.dst = prefix.network(), .oif = index});
      },
      true);
}

Result<int> underlay_mtu() {
  auto nl = net::Netlink::open();
  if (!nl) return std::unexpected(nl.error());
  auto links = nl->links();
  if (!links) return std::unexpected(links.error());
  int best = 0;
  for (const auto& l : *links)
    // ARPHRD_NONE is what TUN and WireGuard links report: overlays, not the underlay.
    if (l.up && !l.loopback && l.type != ARPHRD_NONE) best = std::max(best, l.mtu);
  return best > 0 ? best : 1500;
}

}  // namespace keymesh::tun
