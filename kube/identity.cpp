#include "kube/identity.h"

namespace keymesh::kube {

std::expected<std::string, std::string> spiffe_id(std::string_view trust_domain, const Pod& pod) {
  if (trust_domain.empty() || trust_domain.size() > 255)
    return std::unexpected("trust domain: 1-255 characters");
  for (char c : trust_domain)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
      return std::unexpected("trust domain: only lower-case letters, digits, '-', '.' and '_'");
  // Namespace and service account names are DNS labels/subdomains: no character needs escaping.
  return "spiffe://" + std::string(trust_domain) + "/ns/" + pod.namespace_name + "/sa/" + pod.service_account;
}

std::expected<IdentitySpec, std::string> identity_for(const Pod& pod, const Namespace* ns,
                                                      std::string_view trust_domain,
                                                      std::string_view name_prefix) {
  const std::string who = pod.namespace_name + "/" + pod.name;
  if (pod.host_network) return std::unexpected("pod " + who + " uses the host network: no workload identity");
  auto id = spiffe_id(trust_domain, pod);
  if (!id) return std::unexpected(id.error());
  IdentitySpec out;
  out.name = std::string(name_prefix) + (name_prefix.empty() ? "" : "/") + pod.namespace_name + "." + pod.name;
  out.groups = {"k8s", "ns-" + pod.namespace_name, "sa-" + pod.namespace_name + "." + pod.service_account};
  out.spiffe_id = *id;
  out.labels.emplace(kLabelNamespace, pod.namespace_name);
  out.labels.emplace(kLabelPod, pod.name);
  out.labels.emplace(kLabelServiceAccount, pod.service_account);
  out.labels.emplace(kLabelSpiffe, *id);
  for (const auto& [k, v] : pod.labels) out.labels.emplace(k, v);
  for (const NamedPort& p : pod.named_ports)
    out.labels.emplace(std::string(kPortLabelPrefix) + p.name, p.protocol + "/" + std::to_string(p.number));
  if (ns != nullptr)
    for (const auto& [k, v] : ns->labels) out.labels.emplace(std::string(kNamespaceLabelPrefix) + k, v);
  if (out.labels.size() > kMaxCertificateLabels)
    return std::unexpected("pod " + who + ": " + std::to_string(out.labels.size()) +
                           " labels with its namespace's and keymesh's, a certificate holds " +
                           std::to_string(kMaxCertificateLabels));
  return out;
}

}  // namespace keymesh::kube
