// DEL: remove the host veth and its rule (the container end, the routes and the address go
// with the veth), then tell keymeshd. Needs no state: the veth's name follows from
// (CNI_CONTAINERID, CNI_IFNAME) and the rule is found by its iif. So it works with the
// netns gone, CNI_NETNS empty (containerd's second DEL), prevResult missing, and twice.
//
// keymeshd down (code 11 from the client): the local plumbing is removed anyway, the release
// is recorded in the deletion queue (node/release_queue.h) for keymeshd to apply when it is
// back, and DEL succeeds, so a node whose daemon is down can still finish deleting pods.
// Only a full queue, or kernel plumbing that could not be removed, fails DEL.
#include <chrono>

#include "plumbing/attach.h"
#include "cni/commands.h"
#include "cni/daemon_client.h"
#include "common/log.h"
#include "net/netlink.h"
#include "node/release_queue.h"

namespace keymesh::cni {
namespace {

CniResult<void> queue_release(const Context& ctx, const CniError& why) {
  const Environment& env = ctx.env;
  node::Release release{env.container_id, env.ifname, "cni",
                        std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count()};
  const node::ReleaseQueue queue(ctx.conf.release_dir);
  if (auto r = queue.push(release); !r)
    return std::unexpected(CniError{Code::kTryAgainLater, why.msg + "; and " + r.error().message, {}});
  spdlog::warn("DEL {}/{}: {}; release queued in {} for keymeshd", env.container_id.substr(0, 12),
               env.ifname, why.msg, queue.dir());
  return {};
}

}  // namespace

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
  if (!existed && existed.error().code == Code::kTryAgainLater) {
    if (auto queued = queue_release(ctx, existed.error()); !queued) return queued;
  } else if (!existed) {
    return std::unexpected(existed.error());
  } else {
    spdlog::info("DEL {}/{}: keymeshd {} it", env.container_id.substr(0, 12), env.ifname,
                 *existed ? "released" : "did not know");
  }
  if (local_error) return std::unexpected(*local_error);
  return {};
}

}  // namespace keymesh::cni
