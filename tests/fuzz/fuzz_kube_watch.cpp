// Fuzzes the Kubernetes watch-event and list parsers (kube/objects.h) and the reflector fed
// with them: each input line is a watch event for both kinds, the whole input a list. Errors
// must say something; whatever parses must make an identity or a clear error, never a crash.
#include <cstdint>
#include <string_view>

#include "kube/identity.h"
#include "kube/objects.h"
#include "kube/reflector.h"

using namespace keymesh::kube;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Reflector pods(Kind::kPod, "/api/v1/pods");
  Reflector namespaces(Kind::kNamespace, "/api/v1/namespaces");
  for (Kind kind : {Kind::kPod, Kind::kNamespace}) {
    auto list = parse_list(text, kind);
    if (!list && list.error().empty()) __builtin_trap();
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(start, nl - start);
    for (Reflector* r : {&pods, &namespaces}) {
      auto changes = r->on_event(line);
      if (!changes && changes.error().empty()) __builtin_trap();
      (void)r->next_request();
    }
    start = nl + 1;
  }
  for (const auto& [key, pod] : pods.pods()) {
    auto ns = namespaces.namespaces().find(pod.namespace_name);
    auto id = identity_for(pod, ns == namespaces.namespaces().end() ? nullptr : &ns->second, "cluster.local", "node-1");
    if (!id && id.error().empty()) __builtin_trap();
    if (id && id->labels.size() > kMaxCertificateLabels) __builtin_trap();
    for (const auto& [k, v] : pod.labels)
      if (!valid_label_key(k) || !valid_label_value(v)) __builtin_trap();
  }
  return 0;
}
