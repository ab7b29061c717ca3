// How a pod becomes a keymesh workload identity: the name, groups and labels its certificate
// carries (docs/kubernetes.md, "Identity naming"). Pure functions of the API objects.
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "kube/objects.h"

namespace keymesh::kube {

struct IdentitySpec {
  std::string name;    // "<prefix>/<namespace>.<pod>" (prefix: the node CA's name pattern)
  std::vector<std::string> groups;  // "k8s", "ns-<namespace>", "sa-<namespace>.<service account>"
  Labels labels;       // reserved "k8s:*" keys, the pod's labels, "k8s:ns:<key>" namespace
                       // labels, "k8s:port:<name>" named ports
  std::string spiffe_id;
};

// Reserved label keys. ':' cannot occur in a Kubernetes label key, so these never collide with
// a pod's own labels, which are copied verbatim.
inline constexpr std::string_view kLabelNamespace = "k8s:namespace";
inline constexpr std::string_view kLabelPod = "k8s:pod";
inline constexpr std::string_view kLabelServiceAccount = "k8s:serviceaccount";
inline constexpr std::string_view kLabelSpiffe = "k8s:spiffe";
inline constexpr std::string_view kNamespaceLabelPrefix = "k8s:ns:";
// A named container port: "k8s:port:<name>" = "<tcp|udp|sctp>/<number>" (what a NetworkPolicy's
// named port resolves to, on whichever node checks it; policy/network_policy.h).
inline constexpr std::string_view kPortLabelPrefix = "k8s:port:";
// A certificate carries at most 64 labels (docs/config.md); the four reserved ones come first.
inline constexpr std::size_t kMaxCertificateLabels = 64;

// spiffe://<trust domain>/ns/<namespace>/sa/<service account>. The trust domain is a DNS-like
// name (lower-case letters, digits, '-', '.', '_'; 1-255).
std::expected<std::string, std::string> spiffe_id(std::string_view trust_domain, const Pod& pod);

// The identity of POD (whose namespace object is NS, or nullptr when not known yet). Errors:
// a host-network pod (it has no attachment), an invalid trust domain, more labels than a
// certificate holds (the message names the pod and the count).
std::expected<IdentitySpec, std::string> identity_for(const Pod& pod, const Namespace* ns,
                                                      std::string_view trust_domain,
                                                      std::string_view name_prefix);

}  // namespace keymesh::kube
