#include "daemon/masquerade.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include "daemon/tunnel.h"
#include "net/nft.h"

namespace keymesh::daemon {

namespace {

// The interface name goes into the script between quotes; config validation already refuses
// spaces, '/' and ':', and this refuses anything else that nft would read as syntax.
bool plain_interface_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

std::string delete_script() {
  // "table ip keymesh" first, so the delete finds a table even when there was none: the
  // pair is the idempotent "delete if present" of one nft transaction.
  const std::string t = "table ip " + std::string(kMasqueradeTable) + "\n";
  return t + "delete " + t;
}

}  // namespace

std::string masquerade_ruleset(std::string_view interface, const IpAddress& to,
                               std::span<const IpPrefix> sources) {
  std::string set;
  for (const auto& s : sources) set += (set.empty() ? "" : ", ") + s.network().to_string();
  return delete_script() + "table ip " + std::string(kMasqueradeTable) +
         " {\n"
         "  chain postrouting {\n"
         "    type nat hook postrouting priority srcnat; policy accept;\n"
         "    oifname \"" + std::string(interface) + "\" ip saddr { " + set + " } snat to " +
         to.to_string() +
         "\n"
         "  }\n"
         "}\n";
}

Result<std::unique_ptr<Masquerade>> Masquerade::start(std::string interface, IpAddress to,
                                                      std::vector<IpPrefix> sources) {
  if (!plain_interface_name(interface))
    return fail("masquerade: interface name " + interface +
                " has characters nft would misread (use letters, digits, '-', '_', '.')");
  if (sources.empty() || to.family != AF_INET) return fail("masquerade: nothing to install");
  if (auto r = net::run_nft(masquerade_ruleset(interface, to, sources)); !r)
    return fail("masquerade: " + r.error().message);
  std::string list;
  for (const auto& s : sources) list += (list.empty() ? "" : ", ") + s.to_string();
  spdlog::info("masquerade: table ip {} installed: {} -> {} on {}", kMasqueradeTable, list,
               to.to_string(), interface);
  return std::unique_ptr<Masquerade>(new Masquerade(std::move(interface), to));
}

Masquerade::~Masquerade() {
  if (auto r = net::run_nft(delete_script()); !r)
    spdlog::error("masquerade: could not delete table ip {}: {}", kMasqueradeTable,
                  r.error().message);
  else
    spdlog::info("masquerade: table ip {} deleted", kMasqueradeTable);
}

Result<std::unique_ptr<Masquerade>> start_masquerade(const Config& config, const Tunnel& tunnel) {
  const auto first_v4 = std::find_if(config.addresses.begin(), config.addresses.end(),
                                     [](const IpPrefix& a) { return a.address.family == AF_INET; });
  if (first_v4 == config.addresses.end())
    return fail("masquerade: needs an IPv4 address in interface.addresses");
  const IpAddress to = first_v4->address;
  bool covered = false;
  for (const LocalIdentity* local : tunnel.local_identities())
    if (local->certified)
      for (const auto& n : local->cert.networks) covered |= n.contains(to);
  if (!covered)
    return fail("masquerade: " + to.to_string() +
                " (the first IPv4 address of interface.addresses, which LAN sources are "
                "rewritten to) is in no local identity's certificate networks; the receiving "
                "daemons would drop the rewritten packets as spoofed sources");
  return Masquerade::start(config.interface_name, to, config.masquerade);
}

}  // namespace keymesh::daemon
