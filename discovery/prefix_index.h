// PrefixIndex: longest-prefix match from an overlay address to the fingerprint of the record
// whose network covers it. Used by MemoryDirectory and the lighthouse server.
//
// One hash map per prefix length and family, searched from the longest length present down:
// a lookup costs one hash probe per distinct length in use (a handful in practice: /32 for
// workloads, a pod CIDR length per node, a few site subnets), without allocating.
// Several records may claim the same network (discovery is untrusted); the one added with the
// highest `order` wins, so the latest publication is tried first.
// Thread safety: none; one owner.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/ip.h"
#include "identity/certificate.h"

namespace keymesh::discovery {

struct IpAddressHash {
  std::size_t operator()(const IpAddress& a) const noexcept {
    std::size_t h = a.family;
    for (std::uint8_t b : a.bytes) h = h * 131 + b;
    return h;
  }
};

class PrefixIndex {
 public:
  void add(const IpPrefix& network, const identity::Fingerprint& fp, std::uint64_t order);
  void remove(const IpPrefix& network, const identity::Fingerprint& fp);
  // nullptr when no network covers `address`. Valid until the next add or remove.
  const identity::Fingerprint* lookup(const IpAddress& address) const noexcept;
  // Every fingerprint holding the longest matching network (several gateways of one site
  // name the same subnet), newest first, at most out.size() of them; returns how many were
  // written. Pointers are valid until the next add or remove. Does not allocate.
  std::size_t lookup_all(const IpAddress& address,
                         std::span<const identity::Fingerprint*> out) const noexcept;
  std::size_t size() const noexcept { return size_; }

 private:
  using Key = std::array<std::uint8_t, 16>;
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Entry {
    identity::Fingerprint fp;
    std::uint64_t order;
  };
  using Bucket = std::vector<Entry>;  // usually one
  using ByLength = std::map<std::uint8_t, std::unordered_map<Key, Bucket, KeyHash>, std::greater<>>;

  static Key masked(const IpAddress& a, std::uint8_t length) noexcept;
  ByLength& family(std::uint8_t f) noexcept { return f == AF_INET6 ? v6_ : v4_; }

  ByLength v4_;
  ByLength v6_;
  std::size_t size_ = 0;
};

}  // namespace keymesh::discovery
