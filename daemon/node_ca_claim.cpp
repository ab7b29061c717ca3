#include "daemon/node_ca_claim.h"

#include <spdlog/spdlog.h>

namespace keymesh::daemon {

void NodeCaClaim::report(const std::string& backend, const std::string& holder) {
  const auto it = refused_.find(backend);
  if (holder.empty()) {
    if (it == refused_.end()) return;
    refused_.erase(it);
    if (refused_.empty())
      spdlog::info("node CA {}: claim granted by {}; minting workload identities again",
                   node_ca_, backend);
    return;
  }
  if (it != refused_.end() && it->second == holder) return;
  refused_[backend] = holder;
  spdlog::error("node CA {} is already in use by another host ({} says: held by {}); refusing "
                "to mint workload identities, which would duplicate its addresses: give each "
                "node its own node CA (docs/identity.md, \"One node CA, one node\")",
                node_ca_, backend, holder);
}

Result<void> NodeCaClaim::may_mint() const {
  if (refused_.empty()) return {};
  const auto& [backend, holder] = *refused_.begin();
  return fail("node CA " + node_ca_ + " is already in use by another host (" + backend +
              " says: held by " + holder + "); this node refuses to mint workload identities "
              "with it, which would hand out the same addresses twice: give each node its own "
              "node CA");
}

}  // namespace keymesh::daemon
