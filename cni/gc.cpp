// GC (CNI 1.1): everything of this network that is not in cni.dev/valid-attachments goes.
// Host veths are recognised by their tag (attach.h) for this network's name; rules whose
// veth is gone are removed too; then keymeshd drops every "cni" workload not kept.
// Errors do not stop the sweep: each leftover is tried, and the first failure is reported.
//
// keymeshd's WorkloadGc is per front door, not per network: with two keymesh networks on one
// node, GC of one would release the other's workloads. keymesh-cni assumes one keymesh
// network per node (docs/cni.md).
#include <set>

#include "plumbing/attach.h"
#include "cni/commands.h"
#include "cni/daemon_client.h"
#include "common/log.h"
#include "net/netlink.h"

namespace keymesh::cni {

CniResult<void> cmd_gc(const Context& ctx) {
  const std::set<Attachment> valid(ctx.conf.valid_attachments.begin(),
                                   ctx.conf.valid_attachments.end());
  std::vector<std::string> errors;
  auto host = net::Netlink::open();
  if (!host) {
    errors.push_back(host.error().message);
  } else if (auto links = plumbing::tagged_links(*host); !links) {
    errors.push_back(links.error().message);
  } else {
    for (const auto& [link, tag] : *links) {
      if (tag.front_door != "cni" || tag.network != ctx.conf.name) continue;
      if (valid.contains({tag.owner_id, tag.ifname})) continue;
      spdlog::info("GC: removing {} ({}/{})", link.name, tag.owner_id, tag.ifname);
      if (auto r = plumbing::teardown_host_side(*host, link.name); !r) errors.push_back(r.error().message);
    }
    if (auto n = plumbing::remove_orphan_rules(*host); !n) errors.push_back(n.error().message);
    else if (*n > 0) spdlog::info("GC: removed {} rule(s) of vanished veths", *n);
  }

  DaemonClient daemon(ctx.conf.socket, ctx.daemon_timeout);
  auto removed = daemon.workload_gc(ctx.conf.valid_attachments, "cni");
  if (!removed) return std::unexpected(removed.error());
  for (const auto& w : *removed)
    spdlog::info("GC: keymeshd released {}/{} ({})", w.container_id(), w.ifname(), w.address());

  if (errors.empty()) return {};
  std::string details;
  for (const auto& e : errors) details += (details.empty() ? "" : "; ") + e;
  return cni_fail(Code::kNetworkSetupFailed, "GC: " + errors.front(), details);
}

}  // namespace keymesh::cni
