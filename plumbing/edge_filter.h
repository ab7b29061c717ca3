// The edge filter: nftables state that keeps every workload packet inside keymesh, whatever
// keymeshd is doing (docs/guarantees.md). keymesh-cni installs it at ADD and the Docker
// driver at Join, through setup_host_side (plumbing/attach.h); it needs no daemon to work and
// survives keymeshd's restarts and crashes.
//
//   table inet keymesh_edge
//     set veths            workload host veths (one element per attachment)
//     map ingress          veth -> jump <veth>
//     chain <veth>         ip saddr <its address> accept; counter <veth> drop
//                          (its own IPv4 source only: no spoofing, counted per veth)
//     chain prerouting     raw: iifname vmap @ingress;
//                          from anywhere but a veth, the TUN or lo with a source that routes
//                          to a veth, or one in @overlay_nets: counter underlay_spoofed drop
//     chain forward        from a veth to anything but the TUN: counter fail_closed drop
//                          to a veth from anything but the TUN: counter bypass drop
//                          into the TUN from anything but a veth, @lan_interfaces or the TUN:
//                          counter not_lan drop
//     chain input          from a veth: established/related accept; @host_grants,
//                          @host_grants_proto, @host_services accept; the rest counted per
//                          (pod, protocol, port) in @host_denied and in counter to_host, drop
//     set host_services    (protocol . port) every workload may open on its host; empty unless
//                          the operator adds elements (`nft add element ...`)
//     sets host_grants, host_grants_proto, lan_interfaces, overlay_nets: filled by keymeshd
//                          (plumbing/edge_state.h) from its policy and config
//
// The per-veth objects are added and removed in one transaction each; the shared chains are
// rewritten (same text) by every install, so concurrent ADDs agree. Nothing here depends on
// the TUN existing: with keymeshd gone its name matches no packet, and "fail_closed" drops.
// The calling thread must be in the host's network namespace.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace keymesh::plumbing {

inline constexpr std::string_view kEdgeTable = "keymesh_edge";  // family inet
// How long a quiet (pod, protocol, port) stays in host_denied; keymeshd reads it every second.
inline constexpr std::string_view kHostDeniedTimeout = "60s";

struct EdgeFilterSpec {
  std::string host_ifname;
  IpPrefix address;  // the workload's IPv4 /32
  std::string tun_ifname;
};

// The nft scripts, pure text (for tests and the docs). The shared script creates the table,
// its sets and counters and rewrites the shared chains (no veth): keymeshd runs it alone on a
// gateway with LAN interfaces and no workloads, and after someone flushed the ruleset.
std::string edge_shared_script(std::string_view tun_ifname);
std::string edge_shared_objects();  // table, sets, counters only (no chains)
std::string edge_table_name();      // "inet keymesh_edge"
Result<void> install_edge_shared(std::string_view tun_ifname);
std::string edge_filter_script(const EdgeFilterSpec& spec);
std::string edge_filter_removal_script(std::string_view host_ifname);

// Idempotent: installing twice, or removing what is not there, is not an error.
Result<void> install_edge_filter(const EdgeFilterSpec& spec);
Result<void> remove_edge_filter(std::string_view host_ifname);

// The veths the filter holds (elements of `veths`); empty when there is no table.
Result<std::vector<std::string>> filtered_veths();

// What differs from install_edge_filter's result; empty when all is in place.
std::vector<std::string> check_edge_filter(const EdgeFilterSpec& spec);

}  // namespace keymesh::plumbing
