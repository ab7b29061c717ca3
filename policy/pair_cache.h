// One shared copy of each distinct compiled pair policy.
//
// A node compiles a PairPolicy per path and direction (Policy::compile_pair), and most of them
// are equal: every path between a web identity and a db identity selects the same rules. A
// node with 1,000 identities and 100 peers each would hold 200,000 copies of the few that
// differ (184 bytes and more each). The cache gives each path a pointer to one copy instead.
//
// It remembers copies weakly: a copy lives as long as a table holds it. Copies compiled from
// an older Policy are never equal to a new one's (they keep their own rules), so nothing needs
// to be invalidated on reload; expired entries are swept as the table grows.
// Not synchronized (the tunnel's thread).
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>

#include "policy/conntrack.h"
#include "policy/evaluator.h"

namespace keymesh::policy {

class PairPolicyCache {
 public:
  // The shared copy equal to `compiled`, made from it if there is none yet.
  SharedPairPolicy share(PairPolicy compiled);
  // Distinct copies remembered (some may have expired since the last sweep).
  std::size_t size() const noexcept { return by_digest_.size(); }

 private:
  void sweep() noexcept;

  std::unordered_multimap<std::size_t, std::weak_ptr<const PairPolicy>> by_digest_;
  std::size_t sweep_at_ = 64;
};

}  // namespace keymesh::policy
