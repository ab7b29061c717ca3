#include "discovery/miss_table.h"

#include <algorithm>
#include <unordered_set>

namespace keymesh::discovery {

MissTable::Key MissTable::key_of(const IpAddress& a) noexcept {
  Key k{};
  k[0] = a.family;
  std::copy(a.bytes.begin(), a.bytes.end(), k.begin() + 1);
  return k;
}

bool MissTable::remember(const IpAddress& address, const udp::Endpoint& asker, TimePoint now) {
  auto& askers = misses_[key_of(address)];
  for (auto& a : askers)
    if (a.to == asker) {
      a.until = now + options_.ttl;
      return true;
    }
  auto& held = per_asker_[asker.address()];
  if (size_ >= options_.max_entries || held >= options_.max_per_asker) {
    if (held == 0) per_asker_.erase(asker.address());
    if (askers.empty()) misses_.erase(key_of(address));
    return false;
  }
  askers.push_back(Asker{asker, now + options_.ttl});
  ++held;
  ++size_;
  return true;
}

void MissTable::forget(const udp::Endpoint& asker) noexcept {
  const auto it = per_asker_.find(asker.address());
  if (it != per_asker_.end() && --it->second == 0) per_asker_.erase(it);
  --size_;
}

std::vector<udp::Endpoint> MissTable::take(const IpPrefix& network, TimePoint now) {
  std::vector<udp::Endpoint> out;
  std::unordered_set<udp::Endpoint> seen;
  const IpPrefix net = network.network();
  const Key first = key_of(net.address);
  // The last address of the network: every host bit set.
  Key last = first;
  const std::size_t bits = net.address.size() * 8;
  for (std::size_t bit = std::min<std::size_t>(net.length, bits); bit < bits; ++bit)
    last[1 + bit / 8] |= std::uint8_t(0x80u >> (bit % 8));
  for (auto it = misses_.lower_bound(first); it != misses_.end() && it->first <= last;) {
    for (const Asker& a : it->second) {
      if (a.until > now && seen.insert(a.to).second)
        out.push_back(a.to);
      forget(a.to);
    }
    it = misses_.erase(it);
  }
  return out;
}

void MissTable::expire(TimePoint now) {
  for (auto it = misses_.begin(); it != misses_.end();) {
    std::erase_if(it->second, [&](const Asker& a) {
      if (a.until > now) return false;
      forget(a.to);
      return true;
    });
    it = it->second.empty() ? misses_.erase(it) : std::next(it);
  }
}

}  // namespace keymesh::discovery
