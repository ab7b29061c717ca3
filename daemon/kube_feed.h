// What the API server says about this node's pods, all namespaces and network policies, brought to the loop
// thread (config key `kubernetes:`, docs/kubernetes.md).
//
// Threads: up to four of our own, each with its own kube::ApiClient (libcurl is blocking):
//   pods        list + watch /api/v1/pods?fieldSelector=spec.nodeName=<node> (kube::Reflector:
//               resumes from the newest resourceVersion, relists on 410 Gone)
//   namespaces  list + watch /api/v1/namespaces
//   policies    list + watch /apis/networking.k8s.io/v1/networkpolicies (network_policy: true)
//   fetch       GET one pod the loop asked for (a CNI ADD for a pod the watch has not shown yet)
// Reconnects after an error with exponential backoff (0.5 s doubling to 30 s, reset by a
// successful list or a watch that delivered something).
//
// The handoff, and why it is safe: a thread never touches loop state. It builds a KubeBatch
// (plain values, copied out of its own reflector), moves it into `queue_` under `mutex_` and
// calls uv_async_send (documented thread-safe). The loop's async callback swaps the queue out
// under the same mutex and calls the handler for each batch, on the loop thread. Requests the
// other way (fetch_pod) go through `fetch_` under the same mutex and a condition variable.
// The destructor (loop thread) sets `stopping_`, wakes and cancels every transfer (libcurl's
// progress callback sees the flag within a second), joins the threads, and only then closes
// the async handle; nothing is sent to it after the joins.
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/uv_handle.h"
#include "daemon/kube_config.h"
#include "kube/api_client.h"
#include "kube/objects.h"

namespace keymesh::daemon {

struct KubeBatch {
  enum class Source { kList, kWatch, kFetch, kFetchFailed };
  kube::Kind kind = kube::Kind::kPod;
  Source source = Source::kWatch;
  // kList: every object now (the loop replaces its view); kWatch: the changed ones (kAdded,
  // kModified with the object; kDeleted with its key only); kFetch: the one pod fetched.
  std::vector<kube::Pod> pods;
  std::vector<kube::Namespace> namespaces;
  std::vector<policy::NetworkPolicy> network_policies;
  std::vector<std::string> deleted;  // kWatch: keys ("<ns>/<name>" or "<name>")
  std::string key;                   // kFetch / kFetchFailed: the pod asked for
  std::string error;                 // kFetchFailed
  long http_status = 0;              // kFetchFailed: 404 when the pod does not exist
};

class KubeFeed {
 public:
  using Handler = std::function<void(KubeBatch&)>;  // called on the loop thread

  static Result<std::unique_ptr<KubeFeed>> start(uv_loop_t* loop, const KubernetesConfig& config,
                                                 Handler handler);
  ~KubeFeed();
  KubeFeed(const KubeFeed&) = delete;
  KubeFeed& operator=(const KubeFeed&) = delete;

  // Loop thread: GET this pod now (answered by a kFetch or kFetchFailed batch).
  void fetch_pod(const std::string& ns, const std::string& name);

  // Counters, read on the loop thread (written by the threads).
  std::atomic<std::uint64_t> events{0}, lists{0}, errors{0}, bad_lines{0};

 private:
  KubeFeed(const KubernetesConfig& config, Handler handler);
  void collection(kube::Kind kind, std::string path, kube::ApiClient& api, std::atomic<bool>& cancel);
  void fetcher(kube::ApiClient& api);
  void push(KubeBatch batch);
  void drain();  // loop thread
  bool pause(std::chrono::milliseconds d);  // false when stopping

  Handler handler_;
  std::string node_;
  UvHandle<uv_async_t> async_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<KubeBatch> queue_;                            // guarded by mutex_
  std::deque<std::pair<std::string, std::string>> fetch_;  // guarded by mutex_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cancel_pods_{false}, cancel_namespaces_{false}, cancel_policies_{false};
  bool network_policy_ = true;
  std::unique_ptr<kube::ApiClient> pods_api_, namespaces_api_, fetch_api_, policies_api_;
  std::vector<std::thread> threads_;
};

}  // namespace keymesh::daemon
