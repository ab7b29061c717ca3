#include "discovery/prefix_index.h"

#include <algorithm>

namespace keymesh::discovery {

std::size_t PrefixIndex::KeyHash::operator()(const Key& k) const noexcept {
  std::size_t h = 1469598103934665603ull;
  for (std::uint8_t b : k) h = (h ^ b) * 1099511628211ull;
  return h;
}

PrefixIndex::Key PrefixIndex::masked(const IpAddress& a, std::uint8_t length) noexcept {
  Key k{};
  const std::size_t n = a.size();
  for (std::size_t i = 0; i < n; ++i) {
    const int bits = int(length) - int(i) * 8;
    if (bits >= 8)
      k[i] = a.bytes[i];
    else if (bits > 0)
      k[i] = std::uint8_t(a.bytes[i] & (0xff << (8 - bits)));
  }
  return k;
}

void PrefixIndex::add(const IpPrefix& network, const identity::Fingerprint& fp,
                      std::uint64_t order) {
  if (network.address.family == 0) return;
  Bucket& b = family(network.address.family)[network.length][masked(network.address, network.length)];
  for (Entry& e : b)
    if (e.fp == fp) {
      e.order = order;
      return;
    }
  b.push_back(Entry{fp, order});
  ++size_;
}

void PrefixIndex::remove(const IpPrefix& network, const identity::Fingerprint& fp) {
  if (network.address.family == 0) return;
  ByLength& f = family(network.address.family);
  const auto len = f.find(network.length);
  if (len == f.end()) return;
  const auto it = len->second.find(masked(network.address, network.length));
  if (it == len->second.end()) return;
  Bucket& b = it->second;
  const auto e = std::find_if(b.begin(), b.end(), [&](const Entry& x) { return x.fp == fp; });
  if (e == b.end()) return;
  b.erase(e);
  --size_;
  if (b.empty()) len->second.erase(it);
  if (len->second.empty()) f.erase(len);
}

const identity::Fingerprint* PrefixIndex::lookup(const IpAddress& address) const noexcept {
  if (address.family == 0) return nullptr;
  const ByLength& f = address.family == AF_INET6 ? v6_ : v4_;
  for (const auto& [length, buckets] : f) {
    const auto it = buckets.find(masked(address, length));
    if (it == buckets.end()) continue;
    const Entry* best = nullptr;
    for (const Entry& e : it->second)
      if (best == nullptr || e.order > best->order) best = &e;
    if (best != nullptr) return &best->fp;
  }
  return nullptr;
}

std::size_t PrefixIndex::lookup_all(const IpAddress& address,
                                    std::span<const identity::Fingerprint*> out) const noexcept {
  if (address.family == 0 || out.empty()) return 0;
  const ByLength& f = address.family == AF_INET6 ? v6_ : v4_;
  for (const auto& [length, buckets] : f) {
    const auto it = buckets.find(masked(address, length));
    if (it == buckets.end() || it->second.empty()) continue;
    // Newest first: repeatedly the highest order below the last one taken (buckets are tiny).
    std::size_t n = 0;
    std::uint64_t below = UINT64_MAX;
    while (n < out.size()) {
      const Entry* best = nullptr;
      for (const Entry& e : it->second)
        if (e.order < below && (best == nullptr || e.order > best->order)) best = &e;
      if (best == nullptr) break;
      out[n++] = &best->fp;
      below = best->order;
    }
    return n;
  }
  return 0;
}

}  // namespace keymesh::discovery
