// STATUS (CNI 1.1): can keymeshd take new attachments? It must answer Ready with ready=true
// and its TUN must exist here. Anything else is code 50 with the reason.
#include "cni/commands.h"
#include "cni/daemon_client.h"
#include "net/netlink.h"

namespace keymesh::cni {

CniResult<void> cmd_status(const Context& ctx) {
  DaemonClient daemon(ctx.conf.socket, ctx.daemon_timeout);
  auto ready = daemon.ready();
  if (!ready) return cni_fail(Code::kPluginNotAvailable, ready.error().msg);
  if (!ready->ready())
    return cni_fail(Code::kPluginNotAvailable,
                    "keymeshd is not ready" + (ready->reason().empty() ? "" : ": " + ready->reason()));
  if (!ready->interface().empty()) {
    auto host = net::Netlink::open();
    if (!host) return cni_fail(Code::kPluginNotAvailable, host.error().message);
    auto tun = host->link(ready->interface());
    if (!tun || !*tun)
      return cni_fail(Code::kPluginNotAvailable,
                      "keymeshd reports interface " + ready->interface() + " but it does not exist");
  }
  return {};
}

}  // namespace keymesh::cni
