// DEL: remove the host veth and its rule (the container end, the routes and the address go
// with the veth), then tell keymeshd. Needs no state: the veth's name follows from
// (CNI_CONTAINERID, CNI_IFNAME) and the rule is found by its iif. So it works with the
// netns gone, CNI_NETNS empty (containerd's second DEL), prevResult missing, and twice.
//
// keymeshd down: the local plumbing is removed anyway and DEL fails with code 11, so the
// runtime retries (containerd and kubelet do) and keymeshd learns of it once it is back.
// A daemon that never returns leaves the pod stuck in teardown, which says loudly that the
// node is broken; `cni.dev/valid-attachments` GC is the other way back.
#include "plumbing/attach.h"
#include "cni/commands.h"
#include "cni/daemon_client.h"
#include "common/log.h"
#include "net/netlink.h"

namespace keymesh::cni {

CniResult<void> cmd_del(const Context& ctx) {
  const Environment& env = ctx.env;
  const std::string host_ifname = plumbing::host_veth_name(env.container_id, env.ifname);

  std::optional<CniError> local_error;
  if (auto host = net::Netlink::open(); !host) {
    local_error = CniError{Code::kNetworkSetupFailed, host.error().message, {}};
  } else if (auto r = plumbing::teardown_host_side(*host, host_ifname); !r) {
    local_error = CniError{Code::kNetworkSetupFailed, r.error().message, {}};
  }
  if (local_error) spdlog::error("DEL {}: {}", host_ifname, local_error->msg);

  DaemonClient daemon(ctx.conf.socket, ctx.daemon_timeout);
  auto existed = daemon.workload_del(env.container_id, env.ifname);
  if (!existed) return std::unexpected(existed.error());
  spdlog::info("DEL {}/{}: keymeshd {} it", env.container_id.substr(0, 12), env.ifname,
               *existed ? "released" : "did not know");
  if (local_error) return std::unexpected(*local_error);
  return {};
}

}  // namespace keymesh::cni
