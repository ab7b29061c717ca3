// Workload identities minted by this node's CA (node/workloads.h), as the CNI plugin, the
// Docker driver and `keymesh identity add NAME` ask for them over the control socket. The
// store keeps them across restarts; this file puts each one into the tunnel as a local
// identity, and renews certificates before they expire (paths stay up, see
// Tunnel::renew_local_identity).
#include <spdlog/spdlog.h>

#include "plumbing/attach.h"
#include "common/bytes.h"
#include "daemon/daemon_impl.h"
#include "daemon/kube_pods.h"
#include "identity/cert_file.h"
#include "node/node_binding.h"
#include "node/node_ca.h"

namespace keymesh::daemon {

namespace {
constexpr std::uint64_t kRenewCheckMillis = 1000;
// The next hop a workload's default route points at (link-local, answered by proxy ARP on
// the host side of its veth, as Calico does): the same in every container.
constexpr const char* kWorkloadGateway = "169.254.1.1";

proto::Reply error_reply(std::string message) {
  proto::Reply reply;
  reply.set_error(std::move(message));
  return reply;
}
}  // namespace

Result<void> Daemon::Impl::open_workloads() {
  if (!config.node_ca) return {};
  auto ca = node::load_node_ca(config.node_ca->certificate, config.node_ca->key);
  if (!ca) return fail("node_ca: " + ca.error().message);
  // A node CA bound to one node mints only on that node (node/node_binding.h).
  std::optional<identity::Certificate> host;
  if (!config.certificate.empty()) {
    auto chain = identity::read_certificates_file(config.certificate);
    if (!chain) return fail("certificate: " + chain.error().message);
    host = chain->front();
  }
  if (auto bound = node::check_node_binding(ca->chain(), host ? &*host : nullptr); !bound)
    return fail("node_ca: " + bound.error().message);
  node_ca_claim.set_node_ca(ca->certificate().describe());
  node::WorkloadStore::Options options;
  options.lifetime = config.node_ca->workload_lifetime;
  options.renew_fraction = config.node_ca->renew_fraction;
  auto store = node::WorkloadStore::open(config.state_dir, std::move(*ca), options);
  if (!store) return fail("state_dir: " + store.error().message);
  workloads.emplace(std::move(*store));
  // The workloads' routing table points into our TUN, and went away with the previous one:
  // without this, containers attached before a restart would stay cut off.
  auto netlink = net::Netlink::open();
  if (!netlink) return fail("workload routing: " + netlink.error().message);
  if (auto r = plumbing::route_into_tun(*netlink, config.interface_name); !r)
    return fail("workload routing (table " + std::to_string(plumbing::kWorkloadTable) + " into " +
                config.interface_name + "): " + r.error().message);
  // Renew first what expired while the daemon was down, then attach everything.
  renew_due();
  std::size_t attached = 0;
  for (const node::Workload* w : workloads->list()) {
    if (tunnel->find_local(w->name())) continue;  // renew_due attached it
    if (auto r = attach(*w); !r)
      spdlog::error("workload {} ({}): not attached: {}", w->name(), w->container_id,
                    r.error().message);
    else
      ++attached;
  }
  spdlog::info("node CA {}: pool {}, {} stored workload identit(ies) restored",
               workloads->node_ca().certificate().name(), workloads->ipam().pool().to_string(),
               workloads->list().size());
  uv_timer_init(&loop, renew_timer.get());
  renew_timer.get()->data = this;
  uv_timer_start(
      renew_timer.get(), [](uv_timer_t* h) { static_cast<Impl*>(h->data)->renew_due(); },
      kRenewCheckMillis, kRenewCheckMillis);
  return {};
}

Result<const LocalIdentity*> Daemon::Impl::attach(const node::Workload& w) {
  LocalIdentitySpec spec;
  spec.private_key.assign(w.key.span());
  spec.chain = w.chain;
  spec.source = w.front_door == node::kFrontDoorApi ? "minted" : "workload";
  spec.renew_at = w.renew_at;
  return tunnel->add_local_identity(std::move(spec));
}

void Daemon::Impl::renew_due() {
  const WallTime now = time.wall_now();
  for (const auto& a : workloads->due_for_renewal(now)) {
    auto renewed = workloads->renew(a.container_id, a.ifname, now);
    if (!renewed) {
      spdlog::error("renewing the certificate of {}/{} failed: {}", a.container_id, a.ifname,
                    renewed.error().message);
      continue;
    }
    const node::Workload& w = **renewed;
    Result<void> r;
    if (tunnel->find_local(w.name())) {
      r = tunnel->renew_local_identity(w.name(), w.chain, w.renew_at);
    } else if (auto added = attach(w); !added) {
      r = std::unexpected(added.error());
    }
    if (!r) spdlog::error("renewed certificate of {} not taken: {}", w.name(), r.error().message);
  }
}

void Daemon::Impl::describe_workload(const node::Workload& w, proto::WorkloadInfo& out) {
  out.set_container_id(w.container_id);
  out.set_ifname(w.ifname);
  out.set_netns(w.netns);
  out.set_address(w.address.to_string());
  out.set_gateway(kWorkloadGateway);
  out.set_mtu(std::uint32_t(mtu));
  out.set_interface(config.interface_name);
  out.set_front_door(w.front_door);
  if (const LocalIdentity* local = tunnel->find_local(w.name()))
    describe_identity(*local, *out.mutable_identity());
}

Result<const node::Workload*> Daemon::Impl::add_workload(const node::WorkloadSpec& spec) {
  if (!workloads)
    return fail("this keymeshd has no node CA (config key node_ca), so it cannot give "
                "workloads identities");
  if (spec.container_id.empty() || spec.ifname.empty())
    return fail("container_id and ifname are required");
  // An ADD after a DEL whose release is still queued: that release is stale (cni_releases.cpp).
  if (release_queue) release_queue->remove({spec.container_id, spec.ifname, {}, 0});
  // (container ID, ifname) is the CNI attachment key, and a runtime sends ADD for one again
  // only after the first ADD failed. If we stored the workload then, we died before the
  // plugin's rollback could release it (before our reply, or before its WorkloadDel); that
  // ADD's kernel side is undone, so what we hold is a leftover: the retry replaces it. The
  // Docker driver keeps its own state beside each workload, so it is refused as before.
  const node::Workload* leftover = workloads->find(spec.container_id, spec.ifname);
  if (leftover && (leftover->front_door != node::kFrontDoorCni ||
                   spec.front_door != node::kFrontDoorCni))
    leftover = nullptr;  // workloads->add refuses the existing attachment
  if (tunnel->find_local(spec.identity) && !(leftover && leftover->name() == spec.identity))
    return fail("identity " + spec.identity + " is already in use on this node");
  // The name comes from the front door's template (CNI: the conf's "identity"; Docker:
  // keymesh.identity), which the operator has to make agree with the node CA's name pattern.
  if (auto named = workloads->node_ca().check_name(spec.identity); !named)
    return fail(named.error().message + "; make the " + spec.front_door +
                " identity template expand to a name the node CA signs (docs/cni.md, "
                "\"Identity names and the node CA\")");
  // Another host holds our node CA (node_ca_claim.h): minting would duplicate its addresses.
  if (auto claim = node_ca_claim.may_mint(); !claim) return std::unexpected(claim.error());
  if (leftover) {
    spdlog::warn("workload {}/{}: ADD again after a failed one; releasing its leftover {} at {}",
                 spec.container_id, spec.ifname, leftover->name(), leftover->address.to_string());
    if (auto r = remove_workload(spec.container_id, spec.ifname); !r)
      return std::unexpected(r.error());
  }
  auto added = workloads->add(spec, time.wall_now());
  if (!added) return std::unexpected(added.error());
  if (auto in_tunnel = attach(**added); !in_tunnel) {
    (void)workloads->remove(spec.container_id, spec.ifname);
    return std::unexpected(in_tunnel.error());
  }
  spdlog::info("workload {} attached: {}/{} at {}", (*added)->name(), spec.container_id,
               spec.ifname, (*added)->address.to_string());
  publish_now();  // the Docker driver's path too, not only the control socket's
  if (edge) edge->sync(*tunnel, &*workloads, time.wall_now());  // its host grants, now
  return *added;
}

Result<bool> Daemon::Impl::remove_workload(const std::string& container_id,
                                           const std::string& ifname) {
  if (!workloads) return false;
  std::optional<identity::Certificate> cert;
  if (const node::Workload* w = workloads->find(container_id, ifname)) {
    (void)tunnel->remove_local_identity(w->name());
    cert = w->certificate();
  }
  auto removed = workloads->remove(container_id, ifname);
  if (!removed) return std::unexpected(removed.error());
  if (kube) kube->released({container_id, ifname});
  if (cert) revoke_issued(*cert);  // its node CA's list, distributed (revocations.cpp)
  if (*removed) spdlog::info("workload {}/{} detached", container_id, ifname);
  if (*removed && edge) edge->sync(*tunnel, &*workloads, time.wall_now());
  return *removed;
}

proto::Reply Daemon::Impl::workload_add(const proto::WorkloadAddRequest& r) {
  node::WorkloadSpec spec;
  spec.container_id = r.container_id();
  spec.ifname = r.ifname();
  spec.netns = r.netns();
  spec.front_door = r.front_door().empty() ? std::string(node::kFrontDoorCni) : r.front_door();
  spec.identity = r.identity();
  spec.groups.assign(r.groups().begin(), r.groups().end());
  spec.labels.insert(r.labels().begin(), r.labels().end());
  // A Kubernetes pod, with `kubernetes:`: named by the API server, not by the conflist.
  const bool pod = kube && !r.pod_namespace().empty() && !r.pod_name().empty();
  if (pod)
    if (auto named = kube->name_pod(spec, r.pod_namespace(), r.pod_name(), r.pod_uid()); !named) {
      proto::Reply reply = error_reply(named.error().message);
      reply.set_try_again(named.error().try_again);
      return reply;
    }
  auto added = add_workload(spec);
  if (!added) return error_reply(added.error().message);
  if (pod) kube->added(**added, r.pod_namespace(), r.pod_name());
  proto::Reply reply;
  describe_workload(**added, *reply.mutable_workload_add()->mutable_workload());
  return reply;
}

proto::Reply Daemon::Impl::workload_del(const proto::WorkloadDelRequest& r) {
  auto removed = remove_workload(r.container_id(), r.ifname());
  if (!removed) return error_reply(removed.error().message);
  proto::Reply reply;
  reply.mutable_workload_del()->set_existed(*removed);
  return reply;
}

proto::Reply Daemon::Impl::workload_list() {
  proto::Reply reply;
  auto* list = reply.mutable_workload_list();
  if (!workloads) return reply;
  for (const node::Workload* w : workloads->list())
    if (w->front_door != node::kFrontDoorApi) describe_workload(*w, *list->add_workloads());
  return reply;
}

proto::Reply Daemon::Impl::workload_gc(const proto::WorkloadGcRequest& r) {
  proto::Reply reply;
  // Set the reply's kind even when nothing goes: the client tells replies apart by it.
  reply.mutable_workload_gc();
  if (!workloads) return reply;
  std::set<node::Attachment> keep;
  for (const auto& a : r.keep()) keep.insert({a.container_id(), a.ifname()});
  const std::string door = r.front_door().empty() ? std::string(node::kFrontDoorCni)
                                                  : r.front_door();
  // Describe before removing: the reply lists what went away.
  std::vector<std::string> names;
  for (const node::Workload* w : workloads->list())
    if (w->front_door == door && !keep.contains(w->attachment())) {
      describe_workload(*w, *reply.mutable_workload_gc()->add_removed());
      names.push_back(w->name());
    }
  for (const auto& name : names) (void)tunnel->remove_local_identity(name);
  auto removed = workloads->gc(keep, door);
  if (!removed) return error_reply(removed.error().message);
  if (kube) kube->gc(keep);
  for (const node::Workload& w : *removed) revoke_issued(w.certificate());
  return reply;
}

proto::Reply Daemon::Impl::identity_mint(const proto::IdentityAddRequest& r) {
  if (!workloads)
    return error_reply("minting identities needs node_ca in the config; import one with "
                       "--cert and --key instead");
  std::optional<IpAddress> address;
  if (!r.address().empty()) {
    auto parsed = IpAddress::parse(r.address());
    if (!parsed) return error_reply("address: " + r.address() + " is not an IP address");
    address = *parsed;
  }
  if (tunnel->find_local(r.name())) return error_reply("identity " + r.name() + " already exists");
  if (auto claim = node_ca_claim.may_mint(); !claim) return error_reply(claim.error().message);
  auto minted = workloads->mint_identity(
      r.name(), std::vector<std::string>(r.groups().begin(), r.groups().end()),
      std::map<std::string, std::string>(r.labels().begin(), r.labels().end()), address,
      time.wall_now());
  if (!minted) return error_reply(minted.error().message);
  auto local = attach(**minted);
  if (!local) {
    (void)workloads->remove((*minted)->container_id, (*minted)->ifname);
    return error_reply(local.error().message);
  }
  proto::Reply reply;
  describe_identity(**local, *reply.mutable_identity_add()->mutable_identity());
  return reply;
}

Result<void> Daemon::Impl::forget_minted(std::string_view name) {
  if (!workloads) return {};
  for (const node::Workload* w : workloads->list())
    if (w->name() == name) {
      if (w->front_door != node::kFrontDoorApi)
        return fail("identity " + std::string(name) + " belongs to container " +
                    w->container_id + "; it goes away when the container does");
      const identity::Certificate cert = w->certificate();
      auto removed = workloads->remove(w->container_id, w->ifname);
      if (!removed) return std::unexpected(removed.error());
      revoke_issued(cert);
      return {};
    }
  return {};
}

}  // namespace keymesh::daemon
