// NodeCaClaim: whether this host may mint with its node CA, as discovery sees it (issue 15,
// section 1; docs/identity.md, "One node CA, one node"). keymeshd claims its node CA's
// fingerprint with every discovery backend that can arbitrate: each lighthouse (in every
// Register; the first live claimant holds it) and etcd (a create-if-absent key under its
// lease). While any backend says another host holds the claim, new workload identities are
// refused (CNI ADD, Docker, `keymesh identity add` fail with refusal()); the error is logged
// once when the claim is lost and an info line when it is granted again (the holder went away).
// Workloads minted before are kept (and renewed): they already have their addresses.
//
// Thread safety: none; the loop thread.
#pragma once

#include <map>
#include <string>

#include "common/result.h"

namespace keymesh::daemon {

class NodeCaClaim {
 public:
  // `node_ca`: how messages name the node CA (Certificate::describe()).
  void set_node_ca(std::string node_ca) { node_ca_ = std::move(node_ca); }
  // One backend's answer: `holder` empty = our claim is granted there; else who holds it.
  void report(const std::string& backend, const std::string& holder);
  // Fails with the reason while some backend refuses our claim.
  Result<void> may_mint() const;
  bool refused() const noexcept { return !refused_.empty(); }

 private:
  std::string node_ca_;
  std::map<std::string, std::string> refused_;  // backend -> holder
};

}  // namespace keymesh::daemon
