#include "policy/pair_cache.h"

#include <algorithm>
#include <utility>

namespace keymesh::policy {

SharedPairPolicy PairPolicyCache::share(PairPolicy compiled) {
  const std::size_t digest = compiled.digest();
  auto [first, last] = by_digest_.equal_range(digest);
  for (auto it = first; it != last; ++it)
    if (auto held = it->second.lock(); held && *held == compiled) return held;
  auto copy = std::make_shared<const PairPolicy>(std::move(compiled));
  by_digest_.emplace(digest, copy);
  if (by_digest_.size() >= sweep_at_) sweep();
  return copy;
}

void PairPolicyCache::sweep() noexcept {
  std::erase_if(by_digest_, [](const auto& entry) { return entry.second.expired(); });
  // Amortised: the next sweep waits until the table has doubled again.
  sweep_at_ = std::max<std::size_t>(64, 2 * by_digest_.size());
}

}  // namespace keymesh::policy
