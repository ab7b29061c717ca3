// keymeshd's share of the edge filter (table inet keymesh_edge, docs/guarantees.md), which
// the attachments own otherwise (plumbing/edge_filter.h):
//
//   1. Host access from policy. The node is a subject too: a rule whose `to` selects this
//      host's identity (the `certificate:` of kind node; e.g. `to: { kind: node }` or its
//      name) grants the workloads its `from` selects those services on this host. They
//      become elements of host_grants / host_grants_proto (plumbing/edge_state.h), recomputed
//      every tick: on policy reload, workload add/remove and schedule boundaries alike.
//   2. LAN interfaces and overlay networks from the config (`gateway.lan_interfaces`,
//      interface.addresses).
//   3. Repair: when the table is gone or its shared chains are not ours (someone ran
//      `nft flush ruleset`), the shared chains and every stored attachment's filter are
//      installed again from the workload store, and the log says so.
//   4. Visibility: denied pod -> host attempts (host_denied) become packet_denied audit
//      lines naming the pod; the table's counters show in `keymesh status` as edge_* drops.
//
// Threading: the loop thread only (a timer every kTick). Each nft call is a few ms.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "plumbing/edge_state.h"
#include "common/clock.h"
#include "control.pb.h"
#include "policy/audit.h"
#include "policy/evaluator.h"

namespace keymesh::node {
class WorkloadStore;
}

namespace keymesh::daemon {

struct Config;
class Tunnel;

// What `policy` grants each workload (address, subject) on the host `host`, at `now`.
std::vector<plumbing::HostGrant> host_grants_from_policy(
    const policy::Policy& policy, const policy::Subject& host,
    const std::vector<std::pair<IpAddress, const policy::Subject*>>& workloads, WallTime now);

class EdgeKeeper {
 public:
  static constexpr std::chrono::milliseconds kTick{250};

  explicit EdgeKeeper(const Config& config);

  // One timer tick: the repair check (two nft reads) and the sets every tick (nft writes
  // only when they changed), denials every fourth tick.
  void tick(const Tunnel& tunnel, const node::WorkloadStore* workloads, policy::AuditLog* audit,
            WallTime now);
  // The sets only (no repair, no denials): at once after a workload came or went.
  void sync(const Tunnel& tunnel, const node::WorkloadStore* workloads, WallTime now);
  // Appends edge_* counters to `status.drops`.
  void describe(const node::WorkloadStore* workloads, proto::StatusReply& status) const;

 private:
  // Host veths of stored attachments that exist now, with their addresses.
  std::vector<std::pair<std::string, IpPrefix>> present_attachments(
      const node::WorkloadStore* workloads) const;
  void repair(const node::WorkloadStore* workloads);
  void report_denials(const Tunnel& tunnel, const node::WorkloadStore* workloads,
                      policy::AuditLog* audit, WallTime now);

  std::string tun_;
  std::vector<std::string> lan_interfaces_;
  std::vector<IpPrefix> overlay_nets_;
  bool gateway_ = false;
  std::optional<plumbing::EdgeState> applied_;  // what the sets hold (nullopt: unknown)
  std::uint64_t ticks_ = 0;
  std::uint64_t repairs_ = 0;
  // host_denied counts already reported, by (source, protocol, port).
  std::map<std::tuple<std::string, std::uint8_t, std::uint16_t>, std::uint64_t> denied_seen_;
};

}  // namespace keymesh::daemon
