#include "daemon/edge_keeper.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "plumbing/attach.h"
#include "plumbing/edge_filter.h"
#include "daemon/config.h"
#include "daemon/tunnel.h"
#include "net/netlink.h"
#include "node/workloads.h"

namespace keymesh::daemon {

namespace {

// The host's own identity: the certified local identity of kind node (`certificate:`).
const policy::Subject* host_subject(const Tunnel& tunnel) {
  const policy::Subject* found = nullptr;
  for (const LocalIdentity* local : tunnel.local_identities()) {
    if (!local->certified || local->subject.kind != "node") continue;
    if (local->source == "config") return &local->subject;
    if (!found) found = &local->subject;
  }
  return found;
}

std::optional<policy::AuditParty> party(const policy::Subject* s) {
  if (!s) return std::nullopt;
  return policy::AuditParty{s->name, s->fingerprint, s->groups};
}

std::string service_text(std::uint8_t proto, std::uint16_t port) {
  if (proto == IPPROTO_TCP) return "tcp/" + std::to_string(port);
  if (proto == IPPROTO_UDP) return "udp/" + std::to_string(port);
  return "protocol " + std::to_string(proto);
}

// Ip6InDiscards of one interface: IPv6 frames the kernel dropped because IPv6 is disabled.
std::uint64_t ipv6_discards(const std::string& ifname) {
  std::ifstream in("/proc/net/dev_snmp6/" + ifname);
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value)
    if (key == "Ip6InDiscards") return value;
  return 0;
}

}  // namespace

std::vector<plumbing::HostGrant> host_grants_from_policy(
    const policy::Policy& policy, const policy::Subject& host,
    const std::vector<std::pair<IpAddress, const policy::Subject*>>& workloads, WallTime now) {
  std::vector<plumbing::HostGrant> out;
  for (const auto& [address, subject] : workloads) {
    if (!subject || address.family != AF_INET) continue;
    for (std::uint32_t i : policy.matching_rules(*subject, host)) {
      const policy::Rule& rule = policy.rules()[i];
      if (!rule.active(now)) continue;
      for (const policy::Service& s : rule.allow) {
        auto has = [&](policy::Proto p) { return (s.protos & (1u << unsigned(p))) != 0; };
        if (has(policy::Proto::kOther)) {  // only `any` grants other protocols
          out.push_back({address, true, 0, 0, 65535});
          continue;
        }
        if (has(policy::Proto::kTcp)) out.push_back({address, false, IPPROTO_TCP, s.lo, s.hi});
        if (has(policy::Proto::kUdp)) out.push_back({address, false, IPPROTO_UDP, s.lo, s.hi});
        if (has(policy::Proto::kIcmp)) out.push_back({address, false, IPPROTO_ICMP, 0, 65535});
      }
    }
  }
  return out;
}

EdgeKeeper::EdgeKeeper(const Config& config)
    : tun_(config.interface_name), overlay_nets_(config.addresses), gateway_(bool(config.gateway)) {
  if (config.gateway) lan_interfaces_ = config.gateway->lan_interfaces;
}

std::vector<std::pair<std::string, IpPrefix>> EdgeKeeper::present_attachments(
    const node::WorkloadStore* workloads) const {
  std::vector<std::pair<std::string, IpPrefix>> out;
  if (!workloads) return out;
  auto netlink = net::Netlink::open();
  if (!netlink) return out;
  for (const node::Workload* w : workloads->list()) {
    if (w->front_door == node::kFrontDoorApi) continue;  // no veth
    std::string veth = plumbing::host_veth_name(w->container_id, w->ifname);
    if (auto link = netlink->link(veth); link && *link) out.emplace_back(std::move(veth), w->address);
  }
  return out;
}

void EdgeKeeper::repair(const node::WorkloadStore* workloads) {
  auto intact = plumbing::edge_table_intact(tun_);
  if (!intact) {
    spdlog::warn("edge filter: cannot read table {}: {}", plumbing::edge_table_name(),
                 intact.error().message);
    return;
  }
  if (*intact) return;
  const auto attachments = present_attachments(workloads);
  if (attachments.empty() && !gateway_) return;  // nothing to guard: no table on this host
  const auto t0 = std::chrono::steady_clock::now();
  if (auto r = plumbing::install_edge_shared(tun_); !r) {
    spdlog::error("edge filter: re-installing table {} failed: {}", plumbing::edge_table_name(),
                  r.error().message);
    return;
  }
  std::size_t done = 0;
  for (const auto& [veth, address] : attachments) {
    if (auto r = plumbing::install_edge_filter({veth, address, tun_}); !r)
      spdlog::error("edge filter: {}", r.error().message);
    else
      ++done;
  }
  applied_.reset();  // the sets were emptied with the table: fill them again this tick
  ++repairs_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0).count();
  spdlog::warn("edge filter: table {} was missing or not ours (flushed by another tool?); "
               "re-installed it for {} attachment(s) in {} ms",
               plumbing::edge_table_name(), done, ms);
}

void EdgeKeeper::tick(const Tunnel& tunnel, const node::WorkloadStore* workloads,
                      policy::AuditLog* audit, WallTime now) {
  ++ticks_;
  if (!workloads && !gateway_) return;  // never has a table
  repair(workloads);

  sync(tunnel, workloads, now);
  if (ticks_ % 4 == 0) report_denials(tunnel, workloads, audit, now);
}

void EdgeKeeper::sync(const Tunnel& tunnel, const node::WorkloadStore* workloads, WallTime now) {
  if (!workloads && !gateway_) return;
  plumbing::EdgeState want;
  want.lan_interfaces = lan_interfaces_;
  want.overlay_nets = overlay_nets_;
  const policy::Subject* host = host_subject(tunnel);
  if (workloads && host && tunnel.policy()) {
    std::vector<std::pair<IpAddress, const policy::Subject*>> subjects;
    for (const node::Workload* w : workloads->list())
      if (const LocalIdentity* local = tunnel.find_local(w->name()))
        subjects.emplace_back(w->address.address, &local->subject);
    want.host_grants = host_grants_from_policy(*tunnel.policy(), *host, subjects, now);
  }
  if (applied_ != want) {
    // Without a table (no attachment yet) the sets wait; a gateway creates it.
    if (auto r = plumbing::apply_edge_state(want); !r) {
      spdlog::error("edge filter: {}", r.error().message);
    } else {
      if (!applied_ || applied_->host_grants != want.host_grants)
        spdlog::info("edge filter: {} host grant(s) from policy for workloads on this node",
                     want.host_grants.size());
      applied_ = std::move(want);
    }
  }
}

void EdgeKeeper::report_denials(const Tunnel& tunnel, const node::WorkloadStore* workloads,
                                policy::AuditLog* audit, WallTime now) {
  auto denials = plumbing::host_denials();
  if (!denials) return;
  decltype(denied_seen_) seen;
  const policy::Subject* host = host_subject(tunnel);
  for (const auto& d : *denials) {
    const auto key = std::tuple(d.source.to_string(), d.l4proto, d.port);
    const auto it = denied_seen_.find(key);
    const std::uint64_t before = it == denied_seen_.end() ? 0 : it->second;
    seen[key] = d.packets;
    // An element that timed out and came back starts from zero again.
    const std::uint64_t fresh = d.packets >= before ? d.packets - before : d.packets;
    if (fresh == 0 || !audit) continue;
    const node::Workload* w = workloads ? workloads->find_by_address(d.source) : nullptr;
    const LocalIdentity* local = w ? tunnel.find_local(w->name()) : nullptr;
    const std::string who = local ? local->name : d.source.to_string();
    const std::string host_name = host ? host->name : std::string("this host");
    policy::AuditEvent e;
    e.time = now;
    e.event = policy::AuditEventType::kPacketDenied;
    e.local = party(host);
    e.remote = party(local ? &local->subject : nullptr);
    e.reason = "no rule grants " + service_text(d.l4proto, d.port) + " from " + who + " to " +
               host_name + " (own host)";
    e.count = fresh;
    audit->record(e);
  }
  denied_seen_ = std::move(seen);
}

void EdgeKeeper::describe(const node::WorkloadStore* workloads, proto::StatusReply& status) const {
  if (!workloads && !gateway_) return;
  auto counters = plumbing::edge_counters();
  if (!counters) return;
  auto add = [&](const std::string& reason, std::uint64_t count) {
    auto* d = status.add_drops();
    d->set_reason(reason);
    d->set_count(count);
  };
  for (const char* name : {"fail_closed", "underlay_spoofed", "bypass", "not_lan", "to_host"}) {
    const auto it = counters->find(name);
    add(std::string("edge_") + name, it == counters->end() ? 0 : it->second);
  }
  std::uint64_t spoofed = 0, ipv6 = 0;
  for (const auto& [veth, address] : present_attachments(workloads)) {
    if (const auto it = counters->find(veth); it != counters->end()) spoofed += it->second;
    ipv6 += ipv6_discards(veth);
  }
  add("edge_workload_spoofed", spoofed);
  add("edge_workload_ipv6", ipv6);
  add("edge_repairs", repairs_);
}

}  // namespace keymesh::daemon
