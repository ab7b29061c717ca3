#include "plumbing/edge_filter.h"

#include <sys/socket.h>

#include <algorithm>

#include "net/nft.h"

namespace keymesh::plumbing {

namespace {

// Names go into nft scripts; anything but these characters could be read as syntax.
bool plain_name(std::string_view name) {
  return !name.empty() && name.size() < 16 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

std::string table() { return "inet " + std::string(kEdgeTable); }
}  // namespace

std::string edge_table_name() { return table(); }

namespace {

// The objects every attachment shares; "add" leaves existing ones (and set elements) alone.
// keymeshd fills the sets marked (daemon) from its policy and config (edge_state_script).
std::string shared_objects() {
  const std::string t = table();
  return "add table " + t + "\n" +
         "add set " + t + " veths { typeof iifname; }\n" +
         // fib's result is a string, not an ifname: its own set, with the same elements.
         "add set " + t + " veth_routes { typeof fib saddr oifname; }\n" +
         "add map " + t + " ingress { type ifname : verdict; }\n" +
         "add set " + t + " host_services { type inet_proto . inet_service; }\n" +
         // (daemon) policy grants to the node identity: pod source . protocol . port range
         "add set " + t + " host_grants { typeof ip saddr . meta l4proto . th dport; flags interval; }\n" +
         // (daemon) the same for protocols without ports (icmp) and `any` (0-255)
         "add set " + t + " host_grants_proto { typeof ip saddr . meta l4proto; flags interval; }\n" +
         // denied pod -> host attempts, one counter per (pod, protocol, port), read by keymeshd
         "add set " + t + " host_denied { typeof ip saddr . meta l4proto . th dport; size 4096; "
         "flags dynamic,timeout; timeout " + std::string(kHostDeniedTimeout) + "; counter; }\n" +
         // (daemon) `gateway.lan_interfaces`: besides the veths, what may forward into the TUN
         "add set " + t + " lan_interfaces { typeof iifname; }\n" +
         // (daemon) the TUN's own networks: no such source may come in from outside
         "add set " + t + " overlay_nets { type ipv4_addr; flags interval; auto-merge; }\n" +
         "add counter " + t + " underlay_spoofed\n" +
         "add counter " + t + " fail_closed\n" +
         "add counter " + t + " bypass\n" +
         "add counter " + t + " not_lan\n" +
         "add counter " + t + " to_host\n";
}

// The per-veth objects, created (empty) so that the removal script can always delete them.
std::string veth_objects(std::string_view veth) {
  const std::string t = table(), v(veth);
  return "add chain " + t + " " + v + "\n" +
         "add counter " + t + " " + v + "\n" +
         "add element " + t + " veths { \"" + v + "\" }\n" +
         "add element " + t + " veth_routes { \"" + v + "\" }\n" +
         "add element " + t + " ingress { \"" + v + "\" : jump " + v + " }\n";
}

std::string forward_rule_text(std::string_view tun) {
  return "iifname @veths oifname != \"" + std::string(tun) + "\"";
}

std::string lan_rule_text(std::string_view tun) {
  const std::string t(tun);
  return "oifname \"" + t + "\" iifname != @veths iifname != @lan_interfaces iifname != \"" + t + "\"";
}

Result<void> check_names(std::string_view veth, std::string_view tun) {
  for (auto name : {veth, tun})
    if (!plain_name(name))
      return fail("edge filter: interface name \"" + std::string(name) +
                  "\" has characters nft would misread");
  return {};
}

}  // namespace

std::string edge_shared_objects() { return shared_objects(); }

Result<void> install_edge_shared(std::string_view tun_ifname) {
  if (!plain_name(tun_ifname))
    return fail("edge filter: interface name \"" + std::string(tun_ifname) +
                "\" has characters nft would misread");
  if (auto r = net::run_nft(edge_shared_script(tun_ifname)); !r)
    return fail("edge filter: " + r.error().message);
  return {};
}

std::string edge_shared_script(std::string_view tun_ifname) {
  const std::string t = table(), tun(tun_ifname);
  const std::string outside = "iifname != @veths iifname != { \"lo\", \"" + tun + "\" } ";
  std::string out = shared_objects();
  // 1. Before routing (raw, ahead of conntrack): a veth's packets go to its own chain; a
  //    packet from elsewhere whose source routes to a veth is someone posing as a workload,
  //    and one from elsewhere with an overlay source someone posing as the overlay.
  out += "add chain " + t + " prerouting { type filter hook prerouting priority raw; policy accept; }\n"
         "flush chain " + t + " prerouting\n"
         "add rule " + t + " prerouting iifname vmap @ingress\n"
         "add rule " + t + " prerouting " + outside +
         "fib saddr oifname @veth_routes counter name \"underlay_spoofed\" drop\n"
         "add rule " + t + " prerouting " + outside +
         "ip saddr @overlay_nets counter name \"underlay_spoofed\" drop\n";
  // 2. Forwarding: out of a veth only into the TUN, into a veth only out of the TUN, into
  //    the TUN only from a veth or a configured LAN interface.
  out += "add chain " + t + " forward { type filter hook forward priority filter; policy accept; }\n"
         "flush chain " + t + " forward\n"
         "add rule " + t + " forward " + forward_rule_text(tun) +
         " counter name \"fail_closed\" drop\n"
         "add rule " + t + " forward oifname @veths iifname != \"" + tun +
         "\" counter name \"bypass\" drop\n"
         "add rule " + t + " forward " + lan_rule_text(tun) + " counter name \"not_lan\" drop\n";
  // 3. The host itself: replies to what it opened, what policy grants the node identity
  //    (keymeshd keeps host_grants*), what the operator allows; the rest counted by pod.
  out += "add chain " + t + " input { type filter hook input priority filter; policy accept; }\n"
         "flush chain " + t + " input\n"
         "add rule " + t + " input iifname @veths ct state established,related accept\n"
         "add rule " + t + " input iifname @veths ip saddr . meta l4proto . th dport @host_grants accept\n"
         "add rule " + t + " input iifname @veths ip saddr . meta l4proto @host_grants_proto accept\n"
         "add rule " + t + " input iifname @veths meta l4proto . th dport @host_services accept\n"
         "add rule " + t + " input iifname @veths meta l4proto { tcp, udp } update @host_denied "
         "{ ip saddr . meta l4proto . th dport } counter name \"to_host\" drop\n"
         "add rule " + t + " input iifname @veths counter name \"to_host\" drop\n";
  return out;
}

std::string edge_filter_script(const EdgeFilterSpec& s) {
  const std::string t = table(), v = s.host_ifname;
  std::string out = edge_shared_script(s.tun_ifname);
  // 4. This veth: its own address and nothing else (IPv6 never gets here: it is disabled on
  //    the veth, and the kernel drops it first, counted as Ip6InDiscards).
  out += "add chain " + t + " " + v + "\n" +
         "flush chain " + t + " " + v + "\n" +
         "add rule " + t + " " + v + " ip saddr " + s.address.address.to_string() + " accept\n" +
         "add counter " + t + " " + v + "\n" +
         "add rule " + t + " " + v + " counter name \"" + v + "\" drop\n";
  out += veth_objects(v);
  return out;
}

std::string edge_filter_removal_script(std::string_view veth) {
  const std::string t = table(), v(veth);
  // Create-then-delete in one transaction: the idempotent "delete if present" of nft 1.0.6
  // (which has no `destroy`). The map element goes first: it holds the chain.
  return shared_objects() + veth_objects(v) +
         "delete element " + t + " ingress { \"" + v + "\" }\n" +
         "delete element " + t + " veth_routes { \"" + v + "\" }\n" +
         "delete element " + t + " veths { \"" + v + "\" }\n" +
         "flush chain " + t + " " + v + "\n" +
         "delete chain " + t + " " + v + "\n" +
         "delete counter " + t + " " + v + "\n";
}

Result<void> install_edge_filter(const EdgeFilterSpec& spec) {
  if (spec.address.address.family != AF_INET || spec.address.length != 32)
    return fail("edge filter: " + spec.address.to_string() + " is not an IPv4 /32");
  if (auto r = check_names(spec.host_ifname, spec.tun_ifname); !r) return r;
  if (auto r = net::run_nft(edge_filter_script(spec)); !r)
    return fail("edge filter for " + spec.host_ifname + ": " + r.error().message);
  return {};
}

Result<void> remove_edge_filter(std::string_view host_ifname) {
  if (!plain_name(host_ifname)) return {};  // never installed: install refuses such names
  if (auto r = net::run_nft(edge_filter_removal_script(host_ifname)); !r)
    return fail("edge filter for " + std::string(host_ifname) + ": " + r.error().message);
  return {};
}

Result<std::vector<std::string>> filtered_veths() {
  std::vector<std::string> out;
  auto tables = net::nft_output("list tables inet\n");
  if (!tables) return std::unexpected(tables.error());
  if (tables->find(" " + std::string(kEdgeTable) + "\n") == std::string::npos) return out;
  auto listing = net::nft_output("list set " + table() + " veths\n");
  if (!listing) return std::unexpected(listing.error());
  // Elements are printed quoted: every quoted plain name is one.
  std::string_view text = *listing;
  while (true) {
    const auto open = text.find('"');
    if (open == std::string_view::npos) break;
    const auto close = text.find('"', open + 1);
    if (close == std::string_view::npos) break;
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (plain_name(name)) out.emplace_back(name);
    text.remove_prefix(close + 1);
  }
  return out;
}

std::vector<std::string> check_edge_filter(const EdgeFilterSpec& s) {
  std::vector<std::string> problems;
  if (auto r = check_names(s.host_ifname, s.tun_ifname); !r) {
    problems.push_back(r.error().message);
    return problems;
  }
  const std::string t = table(), v = s.host_ifname;
  auto has = [&](const std::string& list, const std::string& text, const std::string& what) {
    auto out = net::nft_output("list " + list + "\n");
    if (!out || out->find(text) == std::string::npos)
      problems.push_back("nftables " + t + ": " + what + " is missing");
  };
  has("chain " + t + " " + v, "ip saddr " + s.address.address.to_string() + " accept",
      "chain " + v + " (accept only " + s.address.address.to_string() + ")");
  has("map " + t + " ingress", "\"" + v + "\" : jump " + v, "ingress element for " + v);
  has("set " + t + " veths", "\"" + v + "\"", "veths element " + v);
  has("chain " + t + " forward", forward_rule_text(s.tun_ifname), "forward rule for " + s.tun_ifname);
  has("chain " + t + " forward", lan_rule_text(s.tun_ifname), "forward rule into " + s.tun_ifname);
  has("chain " + t + " input", "counter name \"to_host\" drop", "input chain");
  return problems;
}

}  // namespace keymesh::plumbing
