#include "node/node_binding.h"

namespace keymesh::node {

Result<void> check_node_binding(std::span<const identity::Certificate> node_ca_chain,
                                const identity::Certificate* host) {
  for (const identity::Certificate& ca : node_ca_chain) {
    const std::string& bound = ca.constraints().node;
    if (!ca.is_ca() || bound.empty()) continue;
    const std::string refusal = "node CA " + ca.describe() + " is bound to node \"" + bound +
                                "\" (cert sign --node), ";
    if (host == nullptr)
      return fail(refusal + "but this host has no certificate (config key certificate) to "
                            "show it is that node; refusing to mint workload identities with it");
    if (host->kind() != identity::Kind::Node || host->name() != bound)
      return fail(refusal + "but this host is " + std::string(identity::kind_name(host->kind())) +
                  " \"" + host->name() + "\" (" + host->short_fingerprint() +
                  "); refusing to mint workload identities with it: each node needs its own "
                  "node CA, or two nodes would hand out the same addresses");
  }
  return {};
}

}  // namespace keymesh::node
