// Fuzzes the Kubernetes watch-event and list parsers (kube/objects.h) and the reflector fed
// with them: each input line is a watch event for every kind, the whole input a list. Whatever
// NetworkPolicy parses is then decided for every pair of the pods that parsed. Errors
// must say something; whatever parses must make an identity or a clear error, never a crash.
#include <cstdint>
#include <string_view>

#include "kube/identity.h"
#include "kube/objects.h"
#include "kube/reflector.h"
#include "policy/network_policy.h"

using namespace keymesh::kube;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Reflector pods(Kind::kPod, "/api/v1/pods");
  Reflector namespaces(Kind::kNamespace, "/api/v1/namespaces");
  Reflector policies(Kind::kNetworkPolicy, "/apis/networking.k8s.io/v1/networkpolicies");
  for (Kind kind : {Kind::kPod, Kind::kNamespace, Kind::kNetworkPolicy}) {
    auto list = parse_list(text, kind);
    if (!list && list.error().empty()) __builtin_trap();
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(start, nl - start);
    for (Reflector* r : {&pods, &namespaces, &policies}) {
      auto changes = r->on_event(line);
      if (!changes && changes.error().empty()) __builtin_trap();
      (void)r->next_request();
    }
    start = nl + 1;
  }
  std::vector<keymesh::policy::Subject> subjects;
  for (const auto& [key, pod] : pods.pods()) {
    auto ns = namespaces.namespaces().find(pod.namespace_name);
    auto id = identity_for(pod, ns == namespaces.namespaces().end() ? nullptr : &ns->second, "cluster.local", "node-1");
    if (!id && id.error().empty()) __builtin_trap();
    if (id && id->labels.size() > kMaxCertificateLabels) __builtin_trap();
    for (const auto& [k, v] : pod.labels)
      if (!valid_label_key(k) || !valid_label_value(v)) __builtin_trap();
    if (id && subjects.size() < 8) {
      keymesh::policy::Subject s{.name = id->name, .kind = "workload", .groups = id->groups, .labels = id->labels};
      if (auto ip = keymesh::IpPrefix::parse(pod.pod_ip)) s.networks.push_back(*ip);
      subjects.push_back(std::move(s));
    }
  }
  std::vector<keymesh::policy::NetworkPolicy> list;
  for (const auto& [key, np] : policies.network_policies()) list.push_back(np);
  const keymesh::policy::NetworkPolicies set(std::move(list), true);
  for (const auto& a : subjects)
    for (const auto& b : subjects) {
      auto f = set.filter(a, b);
      (void)set.explain(a, b, keymesh::policy::Proto::kTcp, f && !f->ports[0].empty() ? f->ports[0][0].lo : 80);
    }
  return 0;
}
