#include "daemon/kube_pods.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "daemon/daemon_impl.h"
#include "kube/identity.h"
#include "kube/reflector.h"

namespace keymesh::daemon {

namespace {
// The owner of an address held for a pod the API server deleted before the runtime's DEL
// (kept in node.db with the reservation, so it survives restarts).
constexpr std::string_view kHoldPrefix = "kubernetes: deleted pod, until CNI DEL of ";
std::string hold_owner(const node::Attachment& a) {
  return std::string(kHoldPrefix) + a.container_id + "/" + a.ifname;
}
}  // namespace

Result<void> Daemon::Impl::open_kubernetes() {
  if (!config.kubernetes) return {};
  if (!workloads) return fail("kubernetes: needs node_ca");
  std::string prefix = config.kubernetes->name_prefix;
  if (prefix.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
      return fail("kubernetes: no host name for the identity names (set kubernetes.name_prefix)");
    prefix = host;
  }
  kube = std::make_unique<KubePods>(*this, *config.kubernetes, std::move(prefix));
  spdlog::info("kubernetes: pod identities \"{}/<namespace>.<pod>\", trust domain {}",
               kube->name_prefix(), config.kubernetes->trust_domain);
  return kube->start();
}

void KubePods::gc(const std::set<node::Attachment>& keep) {
  std::vector<node::Attachment> held;
  for (const auto& [address, who] : daemon_.workloads->reservations()) {
    if (!who.starts_with(kHoldPrefix)) continue;
    const std::string rest = who.substr(kHoldPrefix.size());
    const auto slash = rest.rfind('/');
    if (slash == std::string::npos) continue;
    node::Attachment a{rest.substr(0, slash), rest.substr(slash + 1)};
    if (!keep.contains(a)) held.push_back(std::move(a));
  }
  for (const auto& a : held) released(a);
}

struct KubePods::Changes {
  std::size_t reissued = 0;
  std::size_t ended = 0;
};

KubePods::KubePods(Daemon::Impl& daemon, KubernetesConfig config, std::string name_prefix)
    : daemon_(daemon), config_(std::move(config)), prefix_(std::move(name_prefix)) {}

KubePods::~KubePods() = default;

Result<void> KubePods::start() {
  // What the store holds now was attached before this start: the first pod list says which
  // of those pods still exist.
  for (const node::Workload* w : daemon_.workloads->list())
    if (w->front_door == node::kFrontDoorCni) restored_.insert(w->attachment());
  auto feed = KubeFeed::start(&daemon_.loop, config_, [this](KubeBatch& b) { on_batch(b); });
  if (!feed) return std::unexpected(feed.error());
  feed_ = std::move(*feed);
  return {};
}

std::optional<std::string> KubePods::pod_key_of(const node::Workload& w) const {
  if (w.front_door != node::kFrontDoorCni) return std::nullopt;
  const auto& l = w.labels();
  for (const auto& [ns_key, pod_key] :
       {std::pair{std::string(kube::kLabelNamespace), std::string(kube::kLabelPod)},
        std::pair{std::string("k8s.namespace"), std::string("k8s.pod")}}) {  // the conflist's
    const auto ns = l.find(ns_key);
    const auto pod = l.find(pod_key);
    if (ns != l.end() && pod != l.end()) return ns->second + "/" + pod->second;
  }
  return std::nullopt;
}

std::expected<void, KubePods::Refusal> KubePods::name_pod(node::WorkloadSpec& spec,
                                                          const std::string& ns,
                                                          const std::string& name,
                                                          const std::string& uid) {
  const std::string key = ns + "/" + name;
  auto it = pods_.find(key);
  if (it == pods_.end() || (!uid.empty() && it->second.uid != uid)) {
    if (it != pods_.end() && fetched_.contains(key)) {  // an older pod of that name
      pods_.erase(it);
      fetched_.erase(key);
    }
    feed_->fetch_pod(ns, name);
    return std::unexpected(Refusal{"kubernetes: pod " + key + (uid.empty() ? "" : " (uid " + uid + ")") +
                                       " is not known from the API server yet (asked for it); "
                                       "try again",
                                   true});
  }
  const kube::Pod& pod = it->second;
  if (pod.node_name != config_.node_name)
    return std::unexpected(Refusal{"kubernetes: pod " + key + " is scheduled on node \"" +
                                   pod.node_name + "\", this keymeshd serves node \"" +
                                   config_.node_name + "\" (kubernetes.node_name)"});
  const auto n = namespaces_.find(ns);
  if (n == namespaces_.end())
    return std::unexpected(Refusal{"kubernetes: namespace " + ns + " of pod " + key +
                                       " is not known from the API server yet; try again",
                                   true});
  auto id = kube::identity_for(pod, &n->second, config_.trust_domain, prefix_);
  if (!id) return std::unexpected(Refusal{"kubernetes: " + id.error()});
  spec.identity = std::move(id->name);
  spec.groups = std::move(id->groups);
  spec.labels = std::move(id->labels);
  return {};
}

void KubePods::added(const node::Workload& w, const std::string& ns, const std::string& name) {
  restored_.erase(w.attachment());
  if (auto it = pods_.find(ns + "/" + name); it != pods_.end()) uids_[w.attachment()] = it->second.uid;
}

void KubePods::released(const node::Attachment& a) {
  uids_.erase(a);
  restored_.erase(a);
  if (!daemon_.workloads) return;
  const std::string owner = hold_owner(a);
  std::optional<IpAddress> held;
  for (const auto& [address, who] : daemon_.workloads->reservations())
    if (who == owner) held = IpAddress::parse(address);
  if (!held) return;
  if (auto r = daemon_.workloads->unreserve(*held); !r)
    spdlog::error("kubernetes: releasing {} held for {}/{}: {}", held->to_string(), a.container_id,
                  a.ifname, r.error().message);
}

void KubePods::end_identity(const node::Attachment& a, const std::string& pod,
                            const std::string& why) {
  const node::Workload* w = daemon_.workloads->find(a.container_id, a.ifname);
  if (w == nullptr) return;
  const IpAddress address = w->address.address;
  const std::string name = w->name();
  // As CNI DEL does: out of the tunnel, certificate revoked (node CA's list, distributed).
  if (auto r = daemon_.remove_workload(a.container_id, a.ifname); !r) {
    spdlog::error("kubernetes: pod {}: ending identity {}: {}", pod, name, r.error().message);
    return;
  }
  // The sandbox may still hold the address until the runtime's DEL: no other pod gets it.
  if (auto r = daemon_.workloads->reserve(address, hold_owner(a)); !r)
    spdlog::warn("kubernetes: pod {}: holding {} until CNI DEL: {}", pod, address.to_string(),
                 r.error().message);
  uids_.erase(a);
  restored_.erase(a);
  spdlog::info("kubernetes: pod {} {}: identity {} ended (certificate revoked), {} held until CNI DEL",
               pod, why, name, address.to_string());
}

void KubePods::reconcile(const node::Workload& w, Changes& out) {
  const auto key = pod_key_of(w);
  if (!key) return;
  const auto p = pods_.find(*key);
  if (p == pods_.end()) return;  // deletions are decided by the watch and the lists
  const kube::Pod& pod = p->second;
  if (const auto u = uids_.find(w.attachment()); u != uids_.end() && u->second != pod.uid) return;
  const auto n = namespaces_.find(pod.namespace_name);
  if (n == namespaces_.end()) return;  // its labels are not known yet
  auto id = kube::identity_for(pod, &n->second, config_.trust_domain, prefix_);
  if (!id) {
    spdlog::error("kubernetes: {}", id.error());
    return;
  }
  if (id->groups == w.groups() && id->labels == w.labels()) return;
  if (id->name != w.name()) {
    spdlog::warn("kubernetes: pod {}: identity {} keeps its name (the pod would be {}); its labels "
                 "follow the pod",
                 *key, w.name(), id->name);
  }
  const node::Attachment a = w.attachment();
  const std::string name = w.name();
  auto re = daemon_.workloads->reissue(a.container_id, a.ifname, id->groups, id->labels,
                                       daemon_.time.wall_now());
  Result<void> in_tunnel;
  if (re) in_tunnel = daemon_.tunnel->find_local(name)
                          ? daemon_.tunnel->renew_local_identity(name, (*re)->chain, (*re)->renew_at)
                          : Result<void>(fail("not in the tunnel"));
  if (!re || !in_tunnel) {
    // Fail closed: an identity whose labels no longer say what the pod is must not stay.
    const std::string why = !re ? re.error().message : in_tunnel.error().message;
    spdlog::error("kubernetes: pod {}: labels changed, re-issuing {} refused: {}", *key, name, why);
    end_identity(a, *key, "could not be re-issued");
    ++out.ended;
    return;
  }
  spdlog::info("kubernetes: pod {}: labels changed, identity {} re-issued", *key, name);
  ++out.reissued;
}

void KubePods::on_policies(KubeBatch& b) {
  if (b.source == KubeBatch::Source::kList) {
    network_policies_.clear();
    policies_listed_ = true;
  }
  for (auto& p : b.network_policies) {
    std::string k = kube::network_policy_key(p);
    if (!p.invalid.empty())
      spdlog::warn("kubernetes: networkpolicy {}: {}: enforced as deny-all for the pods it selects",
                   k, p.invalid);
    network_policies_.insert_or_assign(std::move(k), std::move(p));
  }
  for (const auto& k : b.deleted) network_policies_.erase(k);
  std::vector<policy::NetworkPolicy> all;
  all.reserve(network_policies_.size());
  for (const auto& [k, p] : network_policies_) all.push_back(p);
  std::string why;
  if (b.source == KubeBatch::Source::kList) {
    why = "listed";
  } else {
    for (const auto& p : b.network_policies) why += (why.empty() ? "" : ", ") + kube::network_policy_key(p);
    for (const auto& k : b.deleted) why += (why.empty() ? "" : ", ") + k + " deleted";
    why = "changed: " + why;
  }
  daemon_.set_network_policies(
      std::make_shared<const policy::NetworkPolicies>(std::move(all), policies_listed_), why);
}

void KubePods::on_batch(KubeBatch& b) {
  if (b.kind == kube::Kind::kNetworkPolicy) return on_policies(b);
  Changes changes;
  std::set<std::string> touched;  // pod keys whose workloads to reconcile
  std::set<std::string> gone;     // pod keys deleted (with the UID they had)
  std::map<std::string, std::string> gone_uid;
  bool all = false;
  using Source = KubeBatch::Source;
  if (b.kind == kube::Kind::kPod) {
    switch (b.source) {
      case Source::kList: {
        std::map<std::string, kube::Pod> next;
        for (auto& p : b.pods) {
          std::string k = kube::pod_key(p);
          fetched_.erase(k);  // the list confirms it
          next.insert_or_assign(std::move(k), std::move(p));
        }
        for (const auto& [k, p] : pods_) {
          if (next.contains(k)) continue;
          if (fetched_.contains(k)) {
            next.emplace(k, p);  // fetched after this list was made: the watch will tell
          } else {
            gone_uid[k] = p.uid;
            gone.insert(k);
          }
        }
        pods_ = std::move(next);
        if (!pods_listed_) {
          // Pods deleted while keymeshd was down: gone from the first list.
          for (const auto& a : restored_)
            if (const node::Workload* w = daemon_.workloads->find(a.container_id, a.ifname))
              if (auto k = pod_key_of(*w); k && !pods_.contains(*k)) gone.insert(*k);
          restored_.clear();
        }
        pods_listed_ = true;
        all = true;
        break;
      }
      case Source::kWatch:
        for (auto& p : b.pods) {
          std::string k = kube::pod_key(p);
          fetched_.erase(k);
          touched.insert(k);
          pods_.insert_or_assign(std::move(k), std::move(p));
        }
        for (const auto& k : b.deleted) {
          if (auto it = pods_.find(k); it != pods_.end()) {
            gone_uid[k] = it->second.uid;
            pods_.erase(it);
          }
          fetched_.erase(k);
          gone.insert(k);
        }
        break;
      case Source::kFetch:
        for (auto& p : b.pods) {
          std::string k = kube::pod_key(p);
          if (pods_.contains(k)) continue;  // the watch was quicker, and is newer
          fetched_.insert(k);
          pods_.emplace(std::move(k), std::move(p));
        }
        break;
      case Source::kFetchFailed:
        spdlog::warn("kubernetes: GET pod {}: {}", b.key, b.error);
        break;
    }
  } else {
    if (b.source == Source::kList) {
      namespaces_.clear();
      namespaces_listed_ = true;
      all = true;
    }
    for (auto& n : b.namespaces) {
      for (const auto& [k, p] : pods_)
        if (p.namespace_name == n.name) touched.insert(k);
      namespaces_.insert_or_assign(n.name, std::move(n));
    }
    for (const auto& k : b.deleted) namespaces_.erase(k);
  }
  if (!daemon_.workloads) return;

  std::vector<std::pair<node::Attachment, std::string>> doomed;
  for (const node::Workload* w : daemon_.workloads->list()) {
    const auto key = pod_key_of(*w);
    if (!key || !gone.contains(*key)) continue;
    const auto u = uids_.find(w->attachment());
    const auto g = gone_uid.find(*key);
    // A workload named for another pod of the same name (recreated) is not this one's.
    if (u != uids_.end() && g != gone_uid.end() && !g->second.empty() && u->second != g->second)
      continue;
    doomed.emplace_back(w->attachment(), *key);
  }
  for (const auto& [a, key] : doomed) {
    end_identity(a, key, "was deleted in the API server");
    ++changes.ended;
  }
  std::vector<node::Attachment> check;
  for (const node::Workload* w : daemon_.workloads->list()) {
    const auto key = pod_key_of(*w);
    if (key && (all || touched.contains(*key))) check.push_back(w->attachment());
  }
  for (const auto& a : check)
    if (const node::Workload* w = daemon_.workloads->find(a.container_id, a.ifname))
      reconcile(*w, changes);
  if (changes.reissued > 0) {
    // Every path and same-host pair of the re-issued identities, against policy again now.
    if (daemon_.policy) {
      const auto change = daemon_.tunnel->set_policy(daemon_.policy);
      spdlog::info("kubernetes: {} identit(ies) re-issued; {} path(s) closed, {} flow(s) dropped",
                   changes.reissued, change.paths_closed, change.flows_dropped);
    }
  }
  if ((changes.reissued > 0 || changes.ended > 0) && daemon_.edge)
    daemon_.edge->sync(*daemon_.tunnel, &*daemon_.workloads, daemon_.time.wall_now());
}

}  // namespace keymesh::daemon
