#include "plumbing/attach.h"

#include <sodium.h>
#include <sys/socket.h>

#include <cstdio>

#include "plumbing/edge_filter.h"
#include "plumbing/sysctl.h"
#include "common/log.h"

namespace keymesh::plumbing {

namespace {

constexpr std::string_view kTagPrefix = "keymesh/";

std::string sysctl_key(std::string_view family, std::string_view ifname, std::string_view leaf) {
  return "net/" + std::string(family) + "/" + std::string(ifname) + "/" + std::string(leaf);
}

// The host-side sysctls, in the order they are written, with the value CHECK expects.
struct Setting {
  std::string_view dir;   // under net/
  std::string_view leaf;
  std::string_view value;
};
constexpr Setting kHostVethSettings[] = {
    {"ipv4/conf", "forwarding", "1"},    // route the workload's packets into km0
    {"ipv4/conf", "rp_filter", "1"},     // strict (the edge filter holds without it)
    {"ipv4/conf", "proxy_arp", "1"},     // answer ARP for the link-local gateway
    {"ipv4/neigh", "proxy_delay", "0"},  // ... at once, not after up to 0.8 s
    {"ipv6/conf", "disable_ipv6", "1"},  // no IPv6 on the host end: nothing to route around km0
};

IpPrefix default_v4() {
  IpPrefix p;
  p.address.family = AF_INET;
  p.length = 0;
  return p;
}

net::RuleSpec workload_rule(const IpPrefix& address, std::string_view host_ifname) {
  return net::RuleSpec{kWorkloadRulePriority, kWorkloadTable, address, std::string(host_ifname)};
}

}  // namespace

std::string host_veth_name(std::string_view owner_id, std::string_view ifname) {
  const std::string input = std::string(owner_id) + "/" + std::string(ifname);
  unsigned char hash[16];
  crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size(), nullptr, 0);
  char hex[33];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", hash[i]);
  return "km" + std::string(hex, 13);
}

std::string format_tag(const AttachmentTag& tag) {
  return std::string(kTagPrefix) + tag.front_door + "/" + tag.network + "/" + tag.owner_id + "/" +
         tag.ifname;
}

std::optional<AttachmentTag> parse_tag(std::string_view alias) {
  if (!alias.starts_with(kTagPrefix)) return std::nullopt;
  alias.remove_prefix(kTagPrefix.size());
  std::string parts[4];
  for (int i = 0; i < 3; ++i) {
    const auto slash = alias.find('/');
    if (slash == std::string_view::npos || slash == 0) return std::nullopt;
    parts[i] = std::string(alias.substr(0, slash));
    alias.remove_prefix(slash + 1);
  }
  if (alias.find('/') != std::string_view::npos) return std::nullopt;
  parts[3] = std::string(alias);
  return AttachmentTag{parts[0], parts[1], parts[2], parts[3]};
}

Result<VethPair> create_veth_pair(net::Netlink& host, net::Netlink& container,
                                  const net::Netns& container_ns, const std::string& host_ifname,
                                  const std::string& container_ifname, int mtu,
                                  const AttachmentTag& tag) {
  if (auto r = host.create_veth(host_ifname, container_ifname, container_ns.fd(), mtu); !r)
    return std::unexpected(r.error());
  VethPair pair;
  auto finish = [&]() -> Result<void> {
    auto h = host.link(host_ifname);
    if (!h) return std::unexpected(h.error());
    if (!*h) return fail("veth " + host_ifname + " vanished after it was created");
    pair.host = **h;
    if (auto r = host.set_alias(pair.host.index, format_tag(tag)); !r) return r;
    pair.host.alias = format_tag(tag);
    auto c = container.link(container_ifname);
    if (!c) return std::unexpected(c.error());
    if (!*c) return fail("veth peer " + container_ifname + " is not in " + container_ns.path());
    pair.container = **c;
    return {};
  };
  if (auto r = finish(); !r) {
    if (auto h = host.link(host_ifname); h && *h) (void)host.delete_link((*h)->index);
    return std::unexpected(r.error());
  }
  return pair;
}

Result<void> setup_host_side(net::Netlink& host, const HostPlumbing& p) {
  if (p.address.address.family != AF_INET || p.address.length != 32)
    return fail("workload address " + p.address.to_string() + " is not an IPv4 /32");
  auto veth = host.link(p.host_ifname);
  if (!veth) return std::unexpected(veth.error());
  if (!*veth) return fail("host veth " + p.host_ifname + " does not exist");
  auto tun = host.link(p.tun_ifname);
  if (!tun) return std::unexpected(tun.error());
  if (!*tun)
    return fail("keymeshd's interface " + p.tun_ifname + " does not exist (is keymeshd running?)");

  for (const auto& s : kHostVethSettings)
    if (auto r = write_sysctl(sysctl_key(s.dir, p.host_ifname, s.leaf), s.value); !r) return r;
  // Before the link is up, so that no packet of the workload ever passes unfiltered.
  if (auto r = install_edge_filter({p.host_ifname, p.address, p.tun_ifname}); !r) return r;
  if (auto r = host.set_up((*veth)->index); !r) return r;

  net::RouteSpec to_workload;
  to_workload.dst = p.address;
  to_workload.oif = (*veth)->index;
  if (auto r = host.add_route(to_workload, /*replace=*/true); !r) return r;

  if (auto r = route_into_tun(host, p.tun_ifname); !r) return r;
  return host.add_rule(workload_rule(p.address, p.host_ifname));
}

Result<void> route_into_tun(net::Netlink& host, std::string_view tun_ifname) {
  auto tun = host.link(tun_ifname);
  if (!tun) return std::unexpected(tun.error());
  if (!*tun)
    return fail("keymeshd's interface " + std::string(tun_ifname) +
                " does not exist (is keymeshd running?)");
  // Shared by every workload; replacing keeps it pointing at the current TUN.
  net::RouteSpec into_tun;
  into_tun.table = kWorkloadTable;
  into_tun.dst = default_v4();
  into_tun.oif = (*tun)->index;
  if (auto r = host.add_route(into_tun, /*replace=*/true); !r) return r;
  // Replies leave km0 towards the veth: forwarding is checked on the input interface.
  return write_sysctl(sysctl_key("ipv4/conf", tun_ifname, "forwarding"), "1");
}

Result<void> teardown_host_side(net::Netlink& host, std::string_view host_ifname) {
  // A failure here is reported at the end, after the rest is gone: the veth must go anyway.
  auto filter = remove_edge_filter(host_ifname);
  auto rules = host.rules(AF_INET);
  if (!rules) return std::unexpected(rules.error());
  for (const auto& rule : *rules) {
    if (rule.table != kWorkloadTable || rule.priority != kWorkloadRulePriority) continue;
    if (rule.iif != host_ifname) continue;
    if (auto r = host.delete_rule(rule); !r) return r;
  }
  auto link = host.link(host_ifname);
  if (!link) return std::unexpected(link.error());
  if (*link) {
    if ((*link)->kind != "veth")
      return fail("refusing to delete " + std::string(host_ifname) + ": it is a " +
                  ((*link)->kind.empty() ? std::string("device") : (*link)->kind) +
                  ", not a keymesh veth");
    if (auto r = host.delete_link((*link)->index); !r) return r;
  }
  return filter;
}

std::vector<std::string> check_host_side(net::Netlink& host, const HostPlumbing& p) {
  std::vector<std::string> problems;
  auto veth = host.link(p.host_ifname);
  if (!veth || !*veth) {
    problems.push_back("host veth " + p.host_ifname + " is missing");
    return problems;
  }
  if (!(*veth)->up) problems.push_back("host veth " + p.host_ifname + " is down");
  for (const auto& s : kHostVethSettings) {
    const std::string key = sysctl_key(s.dir, p.host_ifname, s.leaf);
    auto v = read_sysctl(key);
    if (!v) problems.push_back(v.error().message);
    else if (*v != s.value) problems.push_back(key + " is " + *v + ", expected " + std::string(s.value));
  }
  auto main_routes = host.routes(AF_INET, 254);
  bool routed = false;
  if (main_routes)
    for (const auto& r : *main_routes)
      routed |= r.dst == p.address && r.oif == (*veth)->index && !r.gateway;
  if (!routed) problems.push_back("route " + p.address.to_string() + " dev " + p.host_ifname + " is missing");

  auto rules = host.rules(AF_INET);
  bool ruled = false;
  if (rules)
    for (const auto& r : *rules) ruled |= r == workload_rule(p.address, p.host_ifname);
  if (!ruled)
    problems.push_back("rule " + std::to_string(kWorkloadRulePriority) + " from " +
                       p.address.to_string() + " iif " + p.host_ifname + " lookup " +
                       std::to_string(kWorkloadTable) + " is missing");

  for (auto& problem : check_edge_filter({p.host_ifname, p.address, p.tun_ifname}))
    problems.push_back(std::move(problem));

  auto tun = host.link(p.tun_ifname);
  if (!tun || !*tun) {
    problems.push_back("keymeshd's interface " + p.tun_ifname + " is missing");
  } else {
    auto table = host.routes(AF_INET, kWorkloadTable);
    bool into_tun = false;
    if (table)
      for (const auto& r : *table) into_tun |= r.dst.length == 0 && r.oif == (*tun)->index;
    if (!into_tun)
      problems.push_back("table " + std::to_string(kWorkloadTable) + " has no default route dev " +
                         p.tun_ifname);
  }
  return problems;
}

Result<void> setup_container_side(net::Netlink& container, const ContainerPlumbing& p) {
  auto link = container.link(p.ifname);
  if (!link) return std::unexpected(link.error());
  if (!*link) return fail("container interface " + p.ifname + " does not exist");
  if (auto r = container.add_address((*link)->index, p.address); !r) return r;
  if (auto r = container.set_up((*link)->index); !r) return r;
  net::RouteSpec def;
  def.dst = default_v4();
  def.gateway = p.gateway;
  def.oif = (*link)->index;
  def.onlink = true;  // the gateway is in no subnet of the container's
  return container.add_route(def, /*replace=*/true);
}

Result<void> disable_container_ipv6(const net::Netns& container, std::string_view ifname) {
  const std::string key = sysctl_key("ipv6/conf", ifname, "disable_ipv6");
  auto scope = net::NetnsScope::enter(container);
  if (!scope) return std::unexpected(scope.error());
  if (!read_sysctl(key)) return {};  // no IPv6 in this kernel or namespace
  return write_sysctl(key, "1");
}

std::vector<std::string> check_container_side(net::Netlink& container, const ContainerPlumbing& p) {
  std::vector<std::string> problems;
  auto link = container.link(p.ifname);
  if (!link || !*link) {
    problems.push_back("container interface " + p.ifname + " is missing");
    return problems;
  }
  if (!(*link)->up) problems.push_back("container interface " + p.ifname + " is down");
  auto addresses = container.addresses((*link)->index, AF_INET);
  bool addressed = false;
  if (addresses)
    for (const auto& a : *addresses) addressed |= a == p.address;
  if (!addressed) problems.push_back("address " + p.address.to_string() + " is missing on " + p.ifname);
  auto routes = container.routes(AF_INET, 254);
  bool routed = false;
  if (routes)
    for (const auto& r : *routes)
      routed |= r.dst.length == 0 && r.gateway == p.gateway && r.oif == (*link)->index;
  if (!routed)
    problems.push_back("default route via " + p.gateway.to_string() + " dev " + p.ifname +
                       " is missing");
  return problems;
}

Result<std::vector<TaggedLink>> tagged_links(net::Netlink& host) {
  auto links = host.links();
  if (!links) return std::unexpected(links.error());
  std::vector<TaggedLink> out;
  for (auto& l : *links) {
    if (l.kind != "veth") continue;
    if (auto tag = parse_tag(l.alias)) out.push_back({std::move(l), std::move(*tag)});
  }
  return out;
}

Result<int> remove_orphan_rules(net::Netlink& host) {
  auto rules = host.rules(AF_INET);
  if (!rules) return std::unexpected(rules.error());
  int removed = 0;
  for (const auto& rule : *rules) {
    if (rule.table != kWorkloadTable || rule.priority != kWorkloadRulePriority || rule.iif.empty())
      continue;
    auto link = host.link(rule.iif);
    if (!link) return std::unexpected(link.error());
    if (*link) continue;
    if (auto r = host.delete_rule(rule); !r) return std::unexpected(r.error());
    ++removed;
  }
  auto filtered = filtered_veths();
  if (!filtered) return std::unexpected(filtered.error());
  for (const auto& veth : *filtered) {
    auto link = host.link(veth);
    if (!link) return std::unexpected(link.error());
    if (*link) continue;
    if (auto r = remove_edge_filter(veth); !r) return std::unexpected(r.error());
    ++removed;
  }
  return removed;
}

}  // namespace keymesh::plumbing
