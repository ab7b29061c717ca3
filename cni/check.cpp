// CHECK: the attachment is still what ADD made. prevResult says which address the container
// interface should have; keymeshd must still list the workload with that address; the
// container side (address, link up, default route) and the host side (veth, sysctls, /32
// route, rule, table into the TUN) must be in place. The first problem is the message; all
// of them are in "details".
#include "plumbing/attach.h"
#include "cni/commands.h"
#include "cni/daemon_client.h"
#include "cni/result.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace keymesh::cni {

CniResult<void> cmd_check(const Context& ctx) {
  const Environment& env = ctx.env;
  if (!ctx.conf.prev_result)
    return cni_fail(Code::kInvalidConfig, "prevResult: required for CHECK");
  auto expected = find_attachment(*ctx.conf.prev_result, env.netns, env.ifname);
  if (!expected) return std::unexpected(expected.error());
  const auto address = IpPrefix::parse(expected->address);
  if (!address || address->address.family != AF_INET)
    return cni_fail(Code::kInvalidConfig,
                    "prevResult.ips: address \"" + expected->address + "\" is not IPv4");
  const auto gateway = IpAddress::parse(expected->gateway.empty() ? plumbing::kGatewayV4 : expected->gateway);
  if (!gateway)
    return cni_fail(Code::kInvalidConfig,
                    "prevResult.ips: gateway \"" + expected->gateway + "\" is not an address");

  DaemonClient daemon(ctx.conf.socket, ctx.daemon_timeout);
  auto workloads = daemon.workload_list();
  if (!workloads) return std::unexpected(workloads.error());
  const proto::WorkloadInfo* info = nullptr;
  for (const auto& w : *workloads)
    if (w.container_id() == env.container_id && w.ifname() == env.ifname) info = &w;
  std::vector<std::string> problems;
  if (info == nullptr) {
    problems.push_back("keymeshd has no workload for " + env.container_id + "/" + env.ifname);
  } else if (IpPrefix::parse(info->address()) != address) {
    problems.push_back("keymeshd has " + info->address() + " for this workload, prevResult " +
                       expected->address);
  }
  const std::string tun =
      info != nullptr && !info->interface().empty() ? info->interface() : std::string(plumbing::kDefaultTun);

  auto ns = net::Netns::open(env.netns);
  if (!ns) {
    problems.push_back("CNI_NETNS: " + ns.error().message);
  } else if (auto container = net::Netlink::open_in(*ns); !container) {
    problems.push_back(container.error().message);
  } else {
    for (auto& p : plumbing::check_container_side(*container, {env.ifname, *address, *gateway}))
      problems.push_back(std::move(p));
  }
  if (auto host = net::Netlink::open(); !host) {
    problems.push_back(host.error().message);
  } else {
    const std::string host_ifname = plumbing::host_veth_name(env.container_id, env.ifname);
    for (auto& p : plumbing::check_host_side(*host, {host_ifname, *address, tun}))
      problems.push_back(std::move(p));
  }
  if (problems.empty()) return {};
  std::string details;
  for (const auto& p : problems) details += (details.empty() ? "" : "; ") + p;
  return cni_fail(Code::kCheckFailed, "CHECK: " + problems.front(), details);
}

}  // namespace keymesh::cni
