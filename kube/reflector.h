// List + watch of one kind of object, as Kubernetes clients do it (a "reflector"), without I/O:
// the caller makes the HTTP requests next_request() names and feeds the replies back, so the
// resume and relist rules are tested in memory (docs/style.md habit 11; kube/api_client.h is
// the libcurl transport).
//
//   1. no resourceVersion yet          -> LIST path                     -> on_list(body)
//   2. resourceVersion R known          -> WATCH path&resourceVersion=R  -> on_event(line)...
//   3. stream ended (timeout, EOF, I/O) -> on_disconnect(): back to 2 with the newest R seen
//   4. ERROR event 410 (R too old)      -> back to 1; on_list reports what changed meanwhile,
//                                          objects gone during the gap as kDeleted
// Single-threaded: one owner calls everything.
#pragma once

#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kube/objects.h"

namespace keymesh::kube {

struct Change {
  EventType type;   // kAdded, kModified or kDeleted
  std::string key;  // "<namespace>/<name>" for pods and network policies, "<name>" for namespaces
};

class Reflector {
 public:
  // PATH: the collection, e.g. "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1" or
  // "/api/v1/namespaces". A '?' in it is kept; list and watch parameters are appended.
  Reflector(Kind kind, std::string path);

  std::string next_request() const;  // the path (and query) to GET next
  bool needs_list() const noexcept { return resource_version_.empty(); }
  const std::string& resource_version() const noexcept { return resource_version_; }

  std::expected<std::vector<Change>, std::string> on_list(std::string_view body);
  // A bad line is an error and changes nothing (the caller counts it and reads on). An ERROR
  // event with code 410 makes the next request a list again.
  std::expected<std::vector<Change>, std::string> on_event(std::string_view line);
  void on_disconnect() noexcept {}  // the watch resumes from resource_version()
  // The watch request itself was answered 410 Gone: list again.
  void on_gone() noexcept {
    resource_version_.clear();
    ++relists_;
  }

  const std::map<std::string, Pod>& pods() const noexcept { return pods_; }
  const std::map<std::string, Namespace>& namespaces() const noexcept { return namespaces_; }
  const std::map<std::string, policy::NetworkPolicy>& network_policies() const noexcept {
    return network_policies_;
  }
  std::size_t relists() const noexcept { return relists_; }

 private:
  Kind kind_;
  std::string path_;
  std::string resource_version_;
  std::map<std::string, Pod> pods_;
  std::map<std::string, Namespace> namespaces_;
  std::map<std::string, policy::NetworkPolicy> network_policies_;
  std::size_t relists_ = 0;
};

std::string pod_key(const Pod& p);
std::string network_policy_key(const policy::NetworkPolicy& p);

}  // namespace keymesh::kube
