// Routed-veth plumbing for one workload, shared by keymesh-cni and the Docker driver.
//
//   container netns                 host netns
//   eth0 100.64.7.2/32  ── veth ──  km<hash>  (proxy_arp=1, rp_filter=1, forwarding=1)
//   default via 169.254.1.1          route  100.64.7.2/32 dev km<hash>            (main)
//     dev eth0 onlink                rule   7300: from 100.64.7.2 iif km<hash> lookup 7300
//                                    table  7300: default dev km0  (keymeshd's TUN)
//
// The container's only route is a default route to a link-local gateway that nobody owns:
// the host veth answers its ARP by proxy, so every packet the workload sends reaches the
// host, where the rule sends it into km0 (keymeshd polices it, also when the destination
// is on the same host). Replies come out of km0 and follow the /32 route back. The edge
// filter (plumbing/edge_filter.h, nftables) drops any other source address, anything the host
// would forward elsewhere than km0 (keymeshd down: km0 gone), anything reaching the veth
// around km0, and new connections to the host itself; docs/guarantees.md.
//
// Functions here act through the Netlink sockets they are given; the host-side ones also
// write /proc/sys, so the calling thread must be in the host's network namespace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace keymesh::plumbing {

// Our own choices (docs/cni.md, "Routing"): a table and a rule priority no distribution or
// common CNI plugin uses, before the main table's rule (32766).
inline constexpr std::uint32_t kWorkloadTable = 7300;
inline constexpr std::uint32_t kWorkloadRulePriority = 7300;
// The gateway the container routes through (as Calico does); never assigned to anything.
inline constexpr std::string_view kGatewayV4 = "169.254.1.1";
inline constexpr std::string_view kDefaultTun = "km0";

// "km" + 13 hex digits of BLAKE2b(owner_id "/" ifname): 15 bytes, the longest Linux allows.
// owner_id is the CNI container ID (or the Docker endpoint ID).
std::string host_veth_name(std::string_view owner_id, std::string_view ifname);

// Who owns a host veth, stored as its alias (IFLA_IFALIAS) so that DEL without state and GC
// can recognise keymesh's veths: "keymesh/<front door>/<network>/<owner id>/<ifname>".
struct AttachmentTag {
  std::string front_door;  // "cni", "docker"
  std::string network;
  std::string owner_id;
  std::string ifname;
  bool operator==(const AttachmentTag&) const = default;
};
std::string format_tag(const AttachmentTag& tag);
std::optional<AttachmentTag> parse_tag(std::string_view alias);

struct VethPair {
  net::LinkInfo host;
  net::LinkInfo container;
};

// Creates the pair with the container end directly in `container_ns` under its final name,
// tags the host end, and reads both back. Nothing is left behind on failure.
Result<VethPair> create_veth_pair(net::Netlink& host, net::Netlink& container,
                                  const net::Netns& container_ns, const std::string& host_ifname,
                                  const std::string& container_ifname, int mtu,
                                  const AttachmentTag& tag);

struct HostPlumbing {
  std::string host_ifname;  // the veth end in the host namespace
  IpPrefix address;         // the workload's address (IPv4 /32)
  std::string tun_ifname;   // keymeshd's TUN
};

// Sysctls, the edge filter and link up on the host veth, the /32 route, route_into_tun, and
// the rule. Each step is idempotent. On failure the caller removes the veth and calls
// teardown_host_side (which removes the rule and the edge filter).
Result<void> setup_host_side(net::Netlink& host, const HostPlumbing& plumbing);

// Table kWorkloadTable's default route into the TUN (created or replaced) and forwarding on
// the TUN. Part of setup_host_side; keymeshd also calls it at start, because routes through
// a TUN vanish with it and a restarted keymeshd has a new one.
Result<void> route_into_tun(net::Netlink& host, std::string_view tun_ifname);

// Removes the veth's edge filter objects, every kWorkloadTable rule with iif `host_ifname`
// and the veth itself (its peer and its routes go with it). Absent pieces are not errors.
Result<void> teardown_host_side(net::Netlink& host, std::string_view host_ifname);

// What differs from setup_host_side's result; empty when all is in place.
std::vector<std::string> check_host_side(net::Netlink& host, const HostPlumbing& plumbing);

struct ContainerPlumbing {
  std::string ifname;
  IpPrefix address;  // IPv4 /32
  IpAddress gateway;
};

// Address, link up and the onlink default route via the gateway.
Result<void> setup_container_side(net::Netlink& container, const ContainerPlumbing& plumbing);

// net.ipv6.conf.<ifname>.disable_ipv6=1 inside `container` (enters it for the write): the
// workload sends no IPv6 at all, not even link-local. A kernel without IPv6 is fine.
Result<void> disable_container_ipv6(const net::Netns& container, std::string_view ifname);
std::vector<std::string> check_container_side(net::Netlink& container,
                                              const ContainerPlumbing& plumbing);

// Host veths carrying a tag (any front door, any network).
struct TaggedLink {
  net::LinkInfo link;
  AttachmentTag tag;
};
Result<std::vector<TaggedLink>> tagged_links(net::Netlink& host);

// kWorkloadTable rules and edge filter objects whose veth no longer exists (left by a crash
// between steps); returns how many went.
Result<int> remove_orphan_rules(net::Netlink& host);

}  // namespace keymesh::plumbing
