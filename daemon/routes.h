// Site routes: kernel routes via the overlay interface for the networks of remote identities
// (a gateway's site subnets, docs/architecture.md) that the interface's own prefixes do not cover.
// Inside km0 the tunnel already routes by longest prefix; these routes are what brings a
// packet from the host (or from a LAN the host forwards for) to km0 in the first place.
//
// The daemon calls SiteRoutes::sync with what the tunnel knows now (a periodic timer in
// daemon.cpp); sync applies the difference: new networks are added, networks no remote
// holds any more are removed. Control path only, loop thread; not thread-safe.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/ip.h"

namespace keymesh::daemon {

// Which remote networks need a kernel route via the overlay interface, in a stable order
// (sorted by text, duplicates merged). Skipped: networks inside one of `interface_prefixes`
// (the connected route covers them), networks that overlap a local identity's network (a
// remote must not take over our own site's LAN route), and default routes (/0: an exit node
// is not a site; routing everything into the overlay is the operator's explicit choice).
std::vector<IpPrefix> plan_site_routes(std::span<const IpPrefix> remote_networks,
                                       std::span<const IpPrefix> local_networks,
                                       std::span<const IpPrefix> interface_prefixes);

class SiteRoutes {
 public:
  // `interface_prefixes`: the overlay interface's addresses (config interface.addresses).
  SiteRoutes(std::string ifname, std::vector<IpPrefix> interface_prefixes);

  // Brings the kernel routes in line with plan_site_routes(...). Failures are logged (with
  // the kernel's reason) and retried on the next sync; they never stop the daemon.
  void sync(std::span<const IpPrefix> remote_networks, std::span<const IpPrefix> local_networks);
  // Routes installed by this object now (text form, e.g. "198.19.2.0/24").
  std::vector<std::string> installed() const;

 private:
  std::string ifname_;
  std::vector<IpPrefix> interface_prefixes_;
  std::map<std::string, IpPrefix> installed_;  // by to_string()
  std::map<std::string, std::string> failed_;  // prefix -> last error logged
};

}  // namespace keymesh::daemon
