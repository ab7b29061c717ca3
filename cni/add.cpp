// ADD: 1. open the container's netns and make sure CNI_IFNAME is free there;
//      2. ask keymeshd for the workload (identity, address, gateway, MTU, TUN);
//      3. create the veth pair (container end under its final name);
//      4. container side: address, link up, default route via the gateway, no IPv6;
//      5. host side: sysctls, edge filter (nftables), /32 route, table 7300 into the TUN, rule;
//      6. print the result.
// Each step registers its undo; a failure anywhere runs them in reverse, so a failed ADD
// leaves no veth, no rule and no workload in keymeshd. When keymeshd dies during the ADD, its
// WorkloadDel cannot arrive: keymeshd keeps the workload, and replaces it when the runtime
// retries the ADD (same CNI_CONTAINERID and CNI_IFNAME).
#include <sys/socket.h>

#include <functional>
#include <optional>
#include <vector>

#include "plumbing/attach.h"
#include "cni/commands.h"
#include "cni/daemon_client.h"
#include "cni/identity.h"
#include "cni/result.h"
#include "common/log.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace keymesh::cni {

namespace {

constexpr int kFallbackMtu = 1420;  // when neither the config nor keymeshd says

// Undo actions, run in reverse unless commit() was called.
class Rollback {
 public:
  void add(std::function<void()> undo) { undo_.push_back(std::move(undo)); }
  void commit() { undo_.clear(); }
  ~Rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
  }

 private:
  std::vector<std::function<void()>> undo_;
};

CniResult<void> failpoint(const Context& ctx, std::string_view step) {
  if (ctx.fail_at == step)
    return cni_fail(Code::kNetworkSetupFailed,
                    "injected failure after step \"" + std::string(step) + "\" (KEYMESH_CNI_FAIL_AT)");
  return {};
}

std::unexpected<CniError> setup_failed(const Error& e) {
  return cni_fail(Code::kNetworkSetupFailed, e.message);
}

// keymeshd's TUN: its index, or nullopt when it does not exist (or cannot be looked up).
std::optional<int> tun_index(net::Netlink& host, const std::string& tun) {
  auto link = host.link(tun);
  if (!link || !*link) return std::nullopt;
  return (*link)->index;
}

// The kernel deletes the TUN with the keymeshd that owns it, and a restarted keymeshd makes a
// new one: a TUN that is missing, or not the one we started with, means keymeshd is down or
// restarting, which the runtime should retry (code 11) rather than report as broken (100).
std::unexpected<CniError> tun_gone(const std::string& tun, const std::string& what,
                                   std::string details = {}) {
  return cni_fail(Code::kTryAgainLater,
                  "keymeshd's interface " + tun + " " + what +
                      " (keymeshd is stopped or restarting); try again",
                  std::move(details));
}

}  // namespace

CniResult<std::string> cmd_add(const Context& ctx) {
  const Environment& env = ctx.env;
  const NetConf& conf = ctx.conf;

  // 1. The container's namespace, and CNI_IFNAME free in it.
  auto ns = net::Netns::open(env.netns);
  if (!ns) return cni_fail(Code::kInvalidEnvironment, "CNI_NETNS: " + ns.error().message);
  auto self = net::Netns::current();
  if (!self) return setup_failed(self.error());
  if (ns->same_as(*self))
    return cni_fail(Code::kInvalidEnvironment,
                    "CNI_NETNS: " + env.netns + " is the host's own network namespace");
  auto host = net::Netlink::open();
  if (!host) return setup_failed(host.error());
  auto container = net::Netlink::open_in(*ns);
  if (!container) return setup_failed(container.error());
  auto existing = container->link(env.ifname);
  if (!existing) return setup_failed(existing.error());
  if (*existing)
    return cni_fail(Code::kNetworkSetupFailed,
                    "CNI_IFNAME: interface " + env.ifname + " already exists in " + env.netns);

  // 2. The workload, from keymeshd.
  auto identity = workload_identity(env, conf, ctx.hostname);
  if (!identity) return std::unexpected(identity.error());
  proto::WorkloadAddRequest request;
  request.set_container_id(env.container_id);
  request.set_ifname(env.ifname);
  request.set_netns(env.netns);
  request.set_identity(identity->name);
  for (const auto& g : identity->groups) request.add_groups(g);
  for (const auto& [k, v] : identity->labels) (*request.mutable_labels())[k] = v;
  request.set_front_door("cni");
  // keymeshd with `kubernetes:` names the pod by what the API server says about it.
  const auto arg = [&](const char* key) {
    const auto it = env.args.find(key);
    return it == env.args.end() ? std::string() : it->second;
  };
  request.set_pod_namespace(arg("K8S_POD_NAMESPACE"));
  request.set_pod_name(arg("K8S_POD_NAME"));
  request.set_pod_uid(arg("K8S_POD_UID"));
  DaemonClient daemon(conf.socket, ctx.daemon_timeout);
  auto info = daemon.workload_add(request);
  if (!info) {
    // A lost reply may hide an allocation: release it (a no-op if nothing was made).
    if (info.error().code == Code::kTryAgainLater) (void)daemon.workload_del(env.container_id, env.ifname);
    return std::unexpected(info.error());
  }
  Rollback rollback;
  rollback.add([&] {
    if (auto r = daemon.workload_del(env.container_id, env.ifname); !r)
      spdlog::error("rollback: could not release the workload in keymeshd: {}", r.error().msg);
  });
  spdlog::info("ADD {}/{}: keymeshd gave {} identity \"{}\"", env.container_id.substr(0, 12),
               env.ifname, info->address(), info->identity().name());
  if (auto r = failpoint(ctx, "daemon"); !r) return std::unexpected(r.error());

  const auto address = IpPrefix::parse(info->address());
  if (!address || address->address.family != AF_INET || address->length != 32)
    return cni_fail(Code::kDaemonRefused, "keymeshd gave address \"" + info->address() +
                                              "\"; keymesh-cni needs an IPv4 /32");
  const auto gateway = IpAddress::parse(info->gateway().empty() ? plumbing::kGatewayV4 : info->gateway());
  if (!gateway || gateway->family != AF_INET)
    return cni_fail(Code::kDaemonRefused, "keymeshd gave gateway \"" + info->gateway() +
                                              "\"; keymesh-cni needs an IPv4 address");
  const int mtu = conf.mtu ? *conf.mtu : info->mtu() > 0 ? int(info->mtu()) : kFallbackMtu;
  const std::string tun = info->interface().empty() ? std::string(plumbing::kDefaultTun) : info->interface();
  const auto tun_at_start = tun_index(*host, tun);
  if (!tun_at_start) return tun_gone(tun, "does not exist");

  // 3. The veth pair. A veth of our name without a container end is a leftover of this
  // attachment (its DEL never came): replace it.
  const std::string host_ifname = plumbing::host_veth_name(env.container_id, env.ifname);
  if (auto stale = host->link(host_ifname); stale && *stale) {
    spdlog::warn("ADD: removing leftover {} before creating it again", host_ifname);
    if (auto r = plumbing::teardown_host_side(*host, host_ifname); !r) return setup_failed(r.error());
  }
  const plumbing::AttachmentTag tag{"cni", conf.name, env.container_id, env.ifname};
  auto pair = plumbing::create_veth_pair(*host, *container, *ns, host_ifname, env.ifname, mtu, tag);
  if (!pair) return setup_failed(pair.error());
  // (host_ifname is declared after `rollback`, so the undo keeps its own copy.)
  rollback.add([&, host_ifname] {
    if (auto r = plumbing::teardown_host_side(*host, host_ifname); !r)
      spdlog::error("rollback: {}", r.error().message);
  });
  if (auto r = failpoint(ctx, "veth"); !r) return std::unexpected(r.error());

  // 4. Container side.
  // (IPv6 off before the link comes up, so not even a router solicitation leaves.)
  if (auto r = plumbing::disable_container_ipv6(*ns, env.ifname); !r) return setup_failed(r.error());
  if (auto r = plumbing::setup_container_side(*container, {env.ifname, *address, *gateway}); !r)
    return setup_failed(r.error());
  if (auto r = failpoint(ctx, "container"); !r) return std::unexpected(r.error());

  // 5. Host side (the rule is removed by the teardown registered above).
  if (auto r = plumbing::setup_host_side(*host, {host_ifname, *address, tun}); !r) {
    const auto now = tun_index(*host, tun);
    if (!now) return tun_gone(tun, "disappeared during ADD", r.error().message);
    if (*now != *tun_at_start) return tun_gone(tun, "was replaced during ADD", r.error().message);
    return setup_failed(r.error());
  }
  if (auto r = failpoint(ctx, "host"); !r) return std::unexpected(r.error());

  // 6. The result.
  AttachResult result;
  result.interfaces.push_back({pair->host.name, pair->host.mac, "", mtu});
  result.interfaces.push_back({pair->container.name, pair->container.mac, env.netns, mtu});
  result.ips.push_back({address->to_string(), gateway->to_string(), 1});
  result.routes.push_back({"0.0.0.0/0", gateway->to_string()});
  result.dns = conf.dns;
  std::string out = dump_json(result_document(conf.cni_version, result, conf.prev_result));
  if (auto r = failpoint(ctx, "result"); !r) return std::unexpected(r.error());
  rollback.commit();
  return out;
}

}  // namespace keymesh::cni
