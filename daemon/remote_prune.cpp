// Forgetting remote identities (Tunnel::remotes_). Every remote identity comes from a chain
// that validated against our roots (a handshake or a discovery record), so the map holds at
// most the live certificates this host has heard of; what would make it grow without end is
// certificates that stopped being valid (renewed workloads leave their old certificate behind
// every few hours, deleted ones for good). Every kPruneInterval those that no longer recheck
// (expired, revoked, root removed) and that no path uses are dropped with their routes and
// relay lists. A path that still holds one is closed by the path recheck (paths.cpp) first.
#include <spdlog/spdlog.h>

#include "daemon/tunnel.h"

namespace keymesh::daemon {

namespace {
constexpr auto kPruneInterval = std::chrono::seconds(10);
}  // namespace

void Tunnel::prune_remotes() noexcept {
  const TimePoint t = now();
  if (t < next_prune_) return;
  next_prune_ = t + kPruneInterval;
  try {
    std::vector<crypto::Key> doomed;
    for (const auto& [key, remote] : remotes_) {
      if (!remote) {
        doomed.push_back(key);
        continue;
      }
      if (!remote->certified) continue;
      if (trust_ && trust_->recheck(remote->cert, wall_now())) continue;
      bool in_use = false;
      for (const auto& l : locals_) in_use |= l->paths.contains(key);
      if (!in_use) doomed.push_back(key);
    }
    for (const auto& key : doomed) {
      auto it = remotes_.find(key);
      if (it == remotes_.end()) continue;
      if (const auto& remote = it->second) {
        remote_routes_.remove_all(remote.get());
        for (const auto& prefix : remote->networks) unroute_candidate(prefix, *remote);
      }
      relay_.remotes.erase(key);
      remotes_.erase(it);
    }
    if (!doomed.empty()) spdlog::debug("forgot {} remote identit(ies) no longer valid", doomed.size());
  } catch (...) {
    // Allocation failure: try again at the next interval.
  }
}

}  // namespace keymesh::daemon
