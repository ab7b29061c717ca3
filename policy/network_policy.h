// Kubernetes NetworkPolicy (networking.k8s.io/v1) as keymesh enforces it (docs/kubernetes.md,
// "NetworkPolicy"): the objects reduced to what decides a flow, and the decision itself for
// one ordered pair of subjects. Plain values, no I/O; kube/ parses the API objects into these.
//
// Subjects are pods when their certificate carries the label k8s:namespace (kube/identity.h):
//   pod labels        the labels whose key has no ':' (Kubernetes keys cannot contain one)
//   namespace labels  the k8s:ns:<key> labels, plus kubernetes.io/metadata.name=<namespace>
//   named ports       the k8s:port:<name> labels, value "<tcp|udp|sctp>/<number>"
//   addresses         the certificate's networks (what ipBlock matches)
// Every other subject (a node, a user, a gateway, a raw peer) is "not a pod": only ipBlock
// peers can select it, and no NetworkPolicy isolates it.
//
// Semantics, as upstream: a pod selected by no policy of a direction is not isolated in it;
// once selected, a flow passes only if some rule of a selecting policy admits both the peer
// and the port. Egress is decided by the source pod's policies, ingress by the destination
// pod's; both must allow. Named ports resolve on the destination pod. SCTP entries admit
// nothing (keymesh reads no SCTP ports): a policy that needs SCTP fails closed.
//
// Threading: immutable after construction; const methods from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "policy/rule.h"

namespace keymesh::policy {

struct LabelRequirement {
  enum class Op : std::uint8_t { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;
};

// metav1.LabelSelector: every matchLabels entry and every expression must hold; empty selects
// everything.
struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<LabelRequirement> expressions;
  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct NetworkPolicyPeer {
  std::optional<LabelSelector> pods;        // podSelector
  std::optional<LabelSelector> namespaces;  // namespaceSelector
  std::optional<IpPrefix> cidr;             // ipBlock.cidr
  std::vector<IpPrefix> except;             // ipBlock.except
};

struct NetworkPolicyPort {
  enum class Protocol : std::uint8_t { kTcp, kUdp, kSctp };
  Protocol protocol = Protocol::kTcp;
  std::optional<std::uint16_t> number;  // port: 80
  std::string name;                     // port: "http" (a named container port)
  std::optional<std::uint16_t> end_port;
};

struct NetworkPolicyRule {
  std::vector<NetworkPolicyPeer> peers;  // empty: every peer
  std::vector<NetworkPolicyPort> ports;  // empty: every port and protocol
};

struct NetworkPolicy {
  std::string namespace_name, name;
  LabelSelector pod_selector;
  bool ingress = false, egress = false;  // policyTypes (defaulted as the API server does)
  std::vector<NetworkPolicyRule> ingress_rules, egress_rules;
  std::string resource_version;
  // Why the object could not be read whole ("" when it could). Such a policy fails closed: it
  // isolates the pods it selects (all of its namespace when its podSelector is unreadable)
  // both ways, with no rules.
  std::string invalid;
};

// What NetworkPolicy lets one ordered pair send: every port of the protocols in protos_all,
// plus tcp/udp port ranges. Intersected with keymesh's own grants (policy/evaluator.h).
struct PortFilter {
  struct Range {
    std::uint16_t lo, hi;
    friend bool operator==(const Range&, const Range&) = default;
  };
  std::uint8_t protos_all = 0;  // bit (1 << Proto)
  std::vector<Range> ports[2];  // tcp, udp: sorted, merged
  friend bool operator==(const PortFilter&, const PortFilter&) = default;
  bool allows(Proto proto, std::uint16_t port) const noexcept;
  bool allows_all_ports(Proto proto) const noexcept;
  bool empty() const noexcept { return protos_all == 0 && ports[0].empty() && ports[1].empty(); }
};

class NetworkPolicies {
 public:
  // `listed` false: the API server's list has not arrived yet, so nothing is known and every
  // pod counts as isolated both ways with nothing allowed (fail closed until the first list).
  NetworkPolicies(std::vector<NetworkPolicy> policies, bool listed);

  bool listed() const noexcept { return listed_; }
  std::size_t size() const noexcept { return policies_.size(); }

  // nullopt: neither side is isolated for this flow (NetworkPolicy restricts nothing).
  std::optional<PortFilter> filter(const Subject& from, const Subject& to) const;
  // For `keymesh policy check` and refusals: "x/deny-all isolates x/a for ingress and no
  // policy allows tcp/80 from y/b", "x/allow-web allows tcp/80 ...", or "" when not isolated.
  std::string explain(const Subject& from, const Subject& to, Proto proto, std::uint16_t port) const;

 private:
  enum class Side { kIngress, kEgress };
  struct Verdict {
    bool isolated = false;
    PortFilter filter;
    std::vector<std::string> selecting;  // "<ns>/<name>" of the policies that isolate
    std::string admitting;               // the first policy whose rule admits the service
  };
  Verdict decide(Side side, const Subject& from, const Subject& to, const Proto* proto,
                 std::uint16_t port) const;

  std::vector<NetworkPolicy> policies_;
  bool listed_ = false;
};

// The pod view of a subject (see the header comment); nullopt when it is not a pod.
struct PodView {
  std::string namespace_name;
  std::map<std::string, std::string> labels, namespace_labels;
};
std::optional<PodView> pod_view(const Subject& s);

}  // namespace keymesh::policy
