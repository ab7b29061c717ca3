// The part of the edge filter's table (plumbing/edge_filter.h) that keymeshd keeps, not the
// attachments: what policy grants workloads on their own host (the node identity as a policy
// subject, docs/guarantees.md), the gateway's LAN interfaces and the TUN's networks from its
// config; and what it reads back: the per-(pod, protocol, port) denials and the counters.
//
//   set host_grants        pod . tcp|udp . port range    (flushed and refilled as one)
//   set host_grants_proto  pod . icmp, or pod . 0-255 for `any`
//   set lan_interfaces     gateway.lan_interfaces
//   set overlay_nets       the TUN's IPv4 networks
//
// Every write is one transaction that also creates the table's shared objects (no chains),
// so it works before the first attachment and never fails on a missing set. Control path
// only; the calling thread must be in the host's network namespace.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace keymesh::plumbing {

struct HostGrant {
  IpAddress source;            // the workload's IPv4 address
  bool all_protocols = false;  // `any`: every IP protocol and port
  std::uint8_t l4proto = 0;    // IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP (unless all)
  std::uint16_t lo = 0, hi = 65535;  // tcp/udp: inclusive destination port range
  bool operator==(const HostGrant&) const = default;
};

struct EdgeState {
  std::vector<HostGrant> host_grants;
  std::vector<std::string> lan_interfaces;
  std::vector<IpPrefix> overlay_nets;  // IPv6 ones are left out (no IPv6 reaches the host)
  bool operator==(const EdgeState&) const = default;
};

// The script that replaces the four sets' elements with `state`'s. Grants are merged first
// (nft refuses overlapping intervals): per source and protocol, ranges that touch become one;
// `any` covers icmp. Interface names must be plain (checked by the config).
std::string edge_state_script(const EdgeState& state);
Result<void> apply_edge_state(const EdgeState& state);

// One element of host_denied: a workload opened (or tried) something on its host that
// nothing granted; `packets` counts since the element appeared (it times out when quiet).
struct HostDenial {
  IpAddress source;
  std::uint8_t l4proto = 0;
  std::uint16_t port = 0;
  std::uint64_t packets = 0;
};
// Empty when the table is absent.
Result<std::vector<HostDenial>> host_denials();

// The table's named counters (underlay_spoofed, fail_closed, bypass, not_lan, to_host and one
// per veth), by name; empty when the table is absent.
Result<std::map<std::string, std::uint64_t>> edge_counters();

// Whether the table exists with the shared chains this build writes for `tun_ifname` (their
// last rules), i.e. nobody flushed or deleted it.
Result<bool> edge_table_intact(const std::string& tun_ifname);

}  // namespace keymesh::plumbing
