// The Kubernetes objects keymeshd reads from the API server (core/v1 Pod and Namespace, reduced
// to the fields a workload identity is made of; networking.k8s.io/v1 NetworkPolicy, as
// policy/network_policy.h models it), and the list and watch messages that carry them. Everything here parses untrusted text: bad input is an error, never a crash.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "policy/network_policy.h"

namespace keymesh::kube {

using Labels = std::map<std::string, std::string>;

// A named container port (spec.containers[].ports[] with a name): what a NetworkPolicy's
// named port resolves to.
struct NamedPort {
  std::string name;      // IANA_SVC_NAME: 1-15 of [a-z0-9-]
  std::string protocol;  // "tcp", "udp" or "sctp"
  std::uint16_t number = 0;
  bool operator==(const NamedPort&) const = default;
};
inline constexpr std::size_t kMaxNamedPorts = 16;

struct Pod {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string service_account;  // spec.serviceAccountName, "default" when absent (as the API defaults it)
  std::string node_name;        // spec.nodeName, empty until scheduled
  std::string pod_ip;           // status.podIP, empty until the sandbox has an address
  std::string phase;            // status.phase
  bool host_network = false;    // spec.hostNetwork: no CNI attachment, no workload identity
  bool terminating = false;     // metadata.deletionTimestamp set
  Labels labels;
  std::vector<NamedPort> named_ports;  // at most kMaxNamedPorts, in spec order, names unique
  std::string resource_version;
};

struct Namespace {
  std::string name;
  Labels labels;
  bool terminating = false;
  std::string resource_version;
};

enum class Kind { kPod, kNamespace, kNetworkPolicy };
enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };

// One line of a watch stream (`?watch=1`): {"type": ..., "object": {...}}.
struct WatchEvent {
  EventType type = EventType::kError;
  Pod pod;                       // when the watched kind is kPod and type is not kError/kBookmark
  Namespace ns;                  // when the watched kind is kNamespace
  policy::NetworkPolicy network_policy;  // kNetworkPolicy
  std::string resource_version;  // the object's (a bookmark carries only this)
  int error_code = 0;            // kError: the Status code (410: resourceVersion too old)
  std::string error_message;
};

// A list reply (PodList / NamespaceList): the items and the list's resourceVersion, from
// which the watch resumes.
struct List {
  std::vector<Pod> pods;
  std::vector<Namespace> namespaces;
  std::vector<policy::NetworkPolicy> network_policies;
  std::string resource_version;
  std::size_t skipped = 0;  // items that did not parse (left out)
};

// Limits on what one object may carry, so that a hostile or broken API server cannot make
// keymeshd allocate without bound. Kubernetes itself caps label keys at 317 bytes (prefix 253
// + "/" + name 63) and values at 63.
inline constexpr std::size_t kMaxLabels = 256;
inline constexpr std::size_t kMaxLabelKey = 317;
inline constexpr std::size_t kMaxLabelValue = 63;
inline constexpr std::size_t kMaxEventBytes = 1 << 20;
inline constexpr std::size_t kMaxListBytes = 64 << 20;
inline constexpr int kMaxNesting = 64;
// Bounds on one NetworkPolicy (the API server has none; these are far above real use).
inline constexpr std::size_t kMaxPolicyRules = 256, kMaxPolicyPeers = 256, kMaxPolicyPorts = 256;
inline constexpr std::size_t kMaxSelectorTerms = 64;

std::expected<WatchEvent, std::string> parse_watch_event(std::string_view line, Kind kind);
std::expected<List, std::string> parse_list(std::string_view body, Kind kind);
// One Pod as GET /api/v1/namespaces/NS/pods/NAME returns it.
std::expected<Pod, std::string> parse_pod(std::string_view body);

// The label rules of Kubernetes (apimachinery validation): key = [prefix "/"] name, name 1-63
// of [A-Za-z0-9._-] starting and ending alphanumeric, prefix a DNS subdomain of at most 253;
// value empty or like a name.
bool valid_label_key(std::string_view key);
bool valid_label_value(std::string_view value);

}  // namespace keymesh::kube
