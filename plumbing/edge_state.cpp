#include "plumbing/edge_state.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "plumbing/edge_filter.h"
#include "net/nft.h"

namespace keymesh::plumbing {

namespace {

using nlohmann::json;

std::string proto_word(std::uint8_t p) {
  switch (p) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    default: return std::to_string(p);
  }
}

std::uint8_t proto_number(const json& v) {
  if (v.is_number_unsigned()) return std::uint8_t(v.get<unsigned>());
  const std::string s = v.is_string() ? v.get<std::string>() : "";
  if (s == "tcp") return IPPROTO_TCP;
  if (s == "udp") return IPPROTO_UDP;
  if (s == "icmp") return IPPROTO_ICMP;
  return 0;
}

std::string range(std::uint16_t lo, std::uint16_t hi) {
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

// Sorted, with touching or overlapping ranges of one (source, protocol) merged, and
// icmp left out where `any` covers it.
std::vector<HostGrant> merged(std::vector<HostGrant> grants) {
  grants.erase(std::remove_if(grants.begin(), grants.end(),
                              [](const HostGrant& g) { return g.source.family != AF_INET; }),
               grants.end());
  auto key = [](const HostGrant& g) {
    return std::tuple(g.source.to_string(), !g.all_protocols, g.l4proto, g.lo, g.hi);
  };
  std::sort(grants.begin(), grants.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  std::vector<HostGrant> out;
  std::optional<IpAddress> any_source;  // the source whose `any` was seen (it sorts first)
  for (const HostGrant& g : grants) {
    if (any_source == g.source && (g.all_protocols || g.l4proto == IPPROTO_ICMP)) continue;
    if (g.all_protocols) any_source = g.source;
    if (!out.empty() && !g.all_protocols) {
      HostGrant& last = out.back();
      if (!last.all_protocols && last.source == g.source && last.l4proto == g.l4proto) {
        if (g.l4proto != IPPROTO_TCP && g.l4proto != IPPROTO_UDP) continue;  // no ports
        if (std::uint32_t(g.lo) <= std::uint32_t(last.hi) + 1) {
          last.hi = std::max(last.hi, g.hi);
          continue;
        }
      }
    }
    out.push_back(g);
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

std::string edge_state_script(const EdgeState& state) {
  const std::string t = edge_table_name();
  std::vector<std::string> ports, protos, lans, nets;
  for (const HostGrant& g : merged(state.host_grants)) {
    const std::string src = g.source.to_string();
    if (g.all_protocols)
      protos.push_back(src + " . 0-255");
    else if (g.l4proto == IPPROTO_TCP || g.l4proto == IPPROTO_UDP)
      ports.push_back(src + " . " + proto_word(g.l4proto) + " . " + range(g.lo, g.hi));
    else
      protos.push_back(src + " . " + proto_word(g.l4proto));
  }
  for (const auto& name : state.lan_interfaces) lans.push_back("\"" + name + "\"");
  for (const auto& p : state.overlay_nets)
    if (p.address.family == AF_INET) nets.push_back(p.network().to_string());
  std::string out = edge_shared_objects();
  auto refill = [&](const std::string& set, const std::vector<std::string>& elements) {
    out += "flush set " + t + " " + set + "\n";
    if (!elements.empty()) out += "add element " + t + " " + set + " { " + join(elements) + " }\n";
  };
  refill("host_grants", ports);
  refill("host_grants_proto", protos);
  refill("lan_interfaces", lans);
  refill("overlay_nets", nets);
  return out;
}

Result<void> apply_edge_state(const EdgeState& state) {
  if (auto r = net::run_nft(edge_state_script(state)); !r)
    return fail("edge filter state: " + r.error().message);
  return {};
}

namespace {
Result<bool> table_present() {
  auto tables = net::nft_output("list tables inet\n");
  if (!tables) return std::unexpected(tables.error());
  return tables->find(" " + std::string(kEdgeTable) + "\n") != std::string::npos;
}

Result<json> listing(const std::string& what) {
  auto text = net::nft_json("list " + what + "\n");
  if (!text) return std::unexpected(text.error());
  json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.contains("nftables")) return fail("nftables: unreadable JSON");
  return doc["nftables"];
}
}  // namespace

Result<std::vector<HostDenial>> host_denials() {
  std::vector<HostDenial> out;
  auto present = table_present();
  if (!present || !*present) return present ? Result<std::vector<HostDenial>>(out)
                                            : std::unexpected(present.error());
  auto items = listing("set " + edge_table_name() + " host_denied");
  if (!items) return std::unexpected(items.error());
  for (const json& item : *items) {
    if (!item.contains("set") || !item["set"].contains("elem")) continue;
    for (const json& e : item["set"]["elem"]) {
      const json& elem = e.contains("elem") ? e["elem"] : e;
      if (!elem.contains("val") || !elem["val"].contains("concat")) continue;
      const json& c = elem["val"]["concat"];
      if (!c.is_array() || c.size() != 3 || !c[0].is_string() || !c[2].is_number()) continue;
      auto address = IpAddress::parse(c[0].get<std::string>());
      if (!address) continue;
      HostDenial d{*address, proto_number(c[1]), std::uint16_t(c[2].get<unsigned>()), 0};
      if (elem.contains("counter") && elem["counter"].contains("packets"))
        d.packets = elem["counter"]["packets"].get<std::uint64_t>();
      out.push_back(d);
    }
  }
  return out;
}

Result<std::map<std::string, std::uint64_t>> edge_counters() {
  std::map<std::string, std::uint64_t> out;
  auto present = table_present();
  if (!present) return std::unexpected(present.error());
  if (!*present) return out;
  auto items = listing("counters table " + edge_table_name());
  if (!items) return std::unexpected(items.error());
  for (const json& item : *items)
    if (item.contains("counter") && item["counter"].contains("name"))
      out[item["counter"]["name"].get<std::string>()] =
          item["counter"].value("packets", std::uint64_t(0));
  return out;
}

Result<bool> edge_table_intact(const std::string& tun_ifname) {
  auto present = table_present();
  if (!present || !*present) return present;
  // One read of the whole table: the last rule of each shared chain must be there (a
  // flushed chain, or one an older build wrote, lacks it).
  auto text = net::nft_output("list table " + edge_table_name() + "\n");
  if (!text) return false;
  return text->find("iifname != \"" + tun_ifname + "\" counter name \"not_lan\"") != std::string::npos &&
         text->find("@host_grants_proto accept") != std::string::npos &&
         text->find("@overlay_nets counter") != std::string::npos;
}

}  // namespace keymesh::plumbing
