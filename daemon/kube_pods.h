// Pod identities from the API server (config key `kubernetes:`, docs/kubernetes.md): the loop
// thread's view of this node's pods and all namespaces (fed by KubeFeed), used
//   - at CNI ADD: the workload certificate carries the pod's namespace, name, service account,
//     SPIFFE ID and labels and its namespace's labels (kube::identity_for), not the conflist's;
//     a pod not seen yet is fetched and the ADD answered "try again" (never a guessed identity);
//   - when a pod's or its namespace's labels change: the certificate is re-issued with the
//     new ones (same key, address and name) and every path and same-host pair of it is
//     checked against policy again (Tunnel::set_policy), at once;
//   - NetworkPolicy objects (kubernetes.network_policy): every change is applied to the policy
//     the tunnel enforces at once (Daemon::Impl::set_network_policies); until the first list
//     arrives, pod traffic is held (fail closed);
//   - when a pod is deleted in the API server (watch DELETED, or gone from a relist): its
//     identity ends as at CNI DEL (certificate revoked), and its address stays reserved until
//     the runtime's DEL (or GC) releases the attachment, so no other pod gets it while the old
//     sandbox may still hold it.
// Threading: the loop thread only (KubeFeed brings the API server's word here).
#pragma once

#include <expected>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/daemon.h"
#include "daemon/kube_config.h"
#include "daemon/kube_feed.h"
#include "node/workloads.h"

namespace keymesh::daemon {

class KubePods {
 public:
  struct Refusal {
    std::string message;
    bool try_again = false;  // the pod (or its namespace) is not known yet: the runtime retries
  };

  KubePods(Daemon::Impl& daemon, KubernetesConfig config, std::string name_prefix);
  ~KubePods();
  Result<void> start();  // the feed's threads

  // CNI ADD of pod NS/NAME (UID: K8S_POD_UID, may be empty): fills spec's identity, groups and
  // labels from the pod, or says why not.
  std::expected<void, Refusal> name_pod(node::WorkloadSpec& spec, const std::string& ns,
                                        const std::string& name, const std::string& uid);
  void added(const node::Workload& w, const std::string& ns, const std::string& name);
  // The runtime released an attachment (DEL, GC): an address held for a deleted pod goes back.
  void released(const node::Attachment& a);
  void gc(const std::set<node::Attachment>& keep);  // CNI GC: every held address not in KEEP

  void on_batch(KubeBatch& batch);  // KubeFeed's handler

  const std::string& name_prefix() const noexcept { return prefix_; }

 private:
  struct Changes;
  void reconcile(const node::Workload& w, Changes& out);
  void on_policies(KubeBatch& b);
  void end_identity(const node::Attachment& a, const std::string& pod, const std::string& why);
  std::optional<std::string> pod_key_of(const node::Workload& w) const;

  Daemon::Impl& daemon_;
  KubernetesConfig config_;
  std::string prefix_;
  std::unique_ptr<KubeFeed> feed_;
  std::map<std::string, kube::Pod> pods_;         // "<ns>/<name>"
  std::set<std::string> fetched_;                 // pods_ keys known from a GET, not the watch yet
  std::map<std::string, kube::Namespace> namespaces_;
  std::map<std::string, policy::NetworkPolicy> network_policies_;  // "<ns>/<name>"
  bool pods_listed_ = false, namespaces_listed_ = false, policies_listed_ = false;
  std::map<node::Attachment, std::string> uids_;  // the pod UID each attachment was named for
  std::set<node::Attachment> restored_;           // stored before the first pod list
};

}  // namespace keymesh::daemon
