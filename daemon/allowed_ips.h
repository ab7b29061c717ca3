// Cryptokey routing table: longest-prefix match from IP prefixes to a value (a Peer* in
// practice), one path-compressed binary trie per address family.
//
// Outgoing packets look up their destination to pick a peer; incoming packets look up their
// source to check that the peer that sent them owns it. A prefix belongs to exactly one value,
// as in WireGuard: inserting it again moves it.
//
// Shape: a node exists only where a prefix is stored or where two subtrees fork, so a table
// of n prefixes has fewer than 2n nodes per family, and a lookup visits at most one node per
// address bit (33 for IPv4, 129 for IPv6) with no allocation. Nodes are owned by their parent
// through std::unique_ptr; removal collapses nodes that no longer store or fork.
//
// Threads: single-threaded. insert/remove/remove_all/clear run on the control path and
// lookup_* on the packet path of the same thread. Concurrent readers would need RCU-style
// publication later (build a new trie or copy-on-write the changed path, swap an atomic root,
// free the old nodes after readers have left); nothing here is safe for that today.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "common/ip.h"

namespace keymesh::daemon {

namespace allowed_ips_detail {

// Keys are addresses as big-endian unsigned integers, so bit 0 is the first bit on the wire
// and "longest common prefix" is a count of leading zeros of the XOR.
struct Key32 {
  static constexpr unsigned kBits = 32;
  std::uint32_t v = 0;

  static Key32 load(const std::uint8_t* p) noexcept {
    return {std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 |
            std::uint32_t(p[3])};
  }
  void store(std::uint8_t* p) const noexcept {
    for (int i = 0; i < 4; ++i) p[i] = std::uint8_t(v >> (24 - 8 * i));
  }
  // Number of leading bits `*this` and `o` share (kBits when equal).
  unsigned common(const Key32& o) const noexcept { return unsigned(std::countl_zero(v ^ o.v)); }
  unsigned bit(unsigned i) const noexcept { return (v >> (31 - i)) & 1u; }  // i < kBits
  Key32 masked(unsigned len) const noexcept {
    return {len == 0 ? 0u : v & (~std::uint32_t{0} << (32 - len))};
  }
};

struct Key128 {
  static constexpr unsigned kBits = 128;
  std::uint64_t hi = 0, lo = 0;

  static std::uint64_t load64(const std::uint8_t* p) noexcept {
    std::uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x = x << 8 | p[i];
    return x;
  }
  static Key128 load(const std::uint8_t* p) noexcept { return {load64(p), load64(p + 8)}; }
  void store(std::uint8_t* p) const noexcept {
    for (int i = 0; i < 8; ++i) {
      p[i] = std::uint8_t(hi >> (56 - 8 * i));
      p[8 + i] = std::uint8_t(lo >> (56 - 8 * i));
    }
  }
  unsigned common(const Key128& o) const noexcept {
    const std::uint64_t h = hi ^ o.hi;
    if (h != 0) return unsigned(std::countl_zero(h));
    return 64 + unsigned(std::countl_zero(lo ^ o.lo));
  }
  unsigned bit(unsigned i) const noexcept {  // i < kBits
    return i < 64 ? (hi >> (63 - i)) & 1u : (lo >> (127 - i)) & 1u;
  }
  static std::uint64_t top_bits(unsigned n) noexcept {  // n in [0, 64]
    return n == 0 ? 0 : ~std::uint64_t{0} << (64 - n);
  }
  Key128 masked(unsigned len) const noexcept {
    return {hi & top_bits(std::min(len, 64u)), lo & top_bits(len > 64 ? len - 64 : 0)};
  }
};

// One family's trie. Invariants: every node's key has its bits past `cidr` cleared; a child
// in slot b extends its parent's prefix, has a longer cidr, and has bit `parent.cidr` == b;
// a node without a value has two children.
template <class Key, class V>
class Trie {
 public:
  // Returns true if the prefix was new, false if an existing prefix had its value replaced.
  bool insert(Key key, unsigned cidr, const V& value) {
    key = key.masked(cidr);
    std::unique_ptr<Node>* slot = &root_;
    while (*slot) {
      Node& n = **slot;
      const unsigned common = std::min({cidr, unsigned(n.cidr), key.common(n.key)});
      if (common == n.cidr) {  // n's prefix contains the new one
        if (n.cidr == cidr) {
          const bool fresh = n.value == V{};
          n.value = value;
          return fresh;
        }
        slot = &n.child[key.bit(n.cidr)];
        continue;
      }
      auto leaf = make_node(key, cidr, value);
      if (common == cidr) {  // the new prefix contains n: it goes above n
        leaf->child[n.key.bit(cidr)] = std::move(*slot);
        *slot = std::move(leaf);
      } else {  // they diverge at bit `common`: fork there
        auto fork = make_node(key.masked(common), common, V{});
        fork->child[n.key.bit(common)] = std::move(*slot);
        fork->child[key.bit(common)] = std::move(leaf);
        *slot = std::move(fork);
      }
      return true;
    }
    *slot = make_node(key, cidr, value);
    return true;
  }

  // Returns true if the prefix was present.
  bool remove(Key key, unsigned cidr) {
    key = key.masked(cidr);
    std::unique_ptr<Node>* parent = nullptr;
    std::unique_ptr<Node>* slot = &root_;
    while (*slot) {
      Node& n = **slot;
      if (n.cidr > cidr || key.common(n.key) < n.cidr) return false;
      if (n.cidr == cidr) break;
      parent = slot;
      slot = &n.child[key.bit(n.cidr)];
    }
    if (!*slot || (*slot)->value == V{}) return false;
    (*slot)->value = V{};
    collapse(*slot);
    // If the node vanished, its parent may now be a valueless node with one child. Nodes
    // further up keep both their children, so one level is enough.
    if (parent) collapse(*parent);
    return true;
  }

  // Returns how many prefixes were removed.
  std::size_t remove_all(const V& value) { return remove_all(root_, value); }

  V lookup(const Key& key) const noexcept {
    V best{};
    const Node* n = root_.get();
    while (n && key.common(n->key) >= n->cidr) {
      if (!(n->value == V{})) best = n->value;
      if (n->cidr == Key::kBits) break;
      n = n->child[key.bit(n->cidr)].get();
    }
    return best;
  }

  // Calls f(key, cidr) for every stored prefix whose value is `value`, in address order.
  template <class F>
  void for_each_of(const V& value, F&& f) const {
    walk(root_.get(), value, f);
  }

  std::size_t node_count() const noexcept { return count(root_.get()); }

  void clear() noexcept { root_.reset(); }

 private:
  struct Node {
    Key key;
    std::uint8_t cidr = 0;
    V value{};
    std::array<std::unique_ptr<Node>, 2> child;
  };

  static std::unique_ptr<Node> make_node(const Key& key, unsigned cidr, const V& value) {
    auto n = std::make_unique<Node>();
    n->key = key;
    n->cidr = std::uint8_t(cidr);
    n->value = value;
    return n;
  }

  // Drops or bypasses *slot if it no longer stores a value or forks.
  static void collapse(std::unique_ptr<Node>& slot) noexcept {
    Node& n = *slot;
    if (!(n.value == V{}) || (n.child[0] && n.child[1])) return;
    // Move the child out first: assigning to slot destroys n, which owns it.
    std::unique_ptr<Node> only = std::move(n.child[n.child[0] ? 0 : 1]);
    slot = std::move(only);
  }

  // Post-order, so that each node is judged after its subtrees have been pruned. Recursion
  // depth is bounded by kBits + 1.
  static std::size_t remove_all(std::unique_ptr<Node>& slot, const V& value) {
    if (!slot) return 0;
    std::size_t removed = remove_all(slot->child[0], value) + remove_all(slot->child[1], value);
    if (slot->value == value) {
      slot->value = V{};
      ++removed;
    }
    collapse(slot);
    return removed;
  }

  template <class F>
  static void walk(const Node* n, const V& value, F& f) {
    if (!n) return;
    if (n->value == value) f(n->key, unsigned(n->cidr));
    walk(n->child[0].get(), value, f);
    walk(n->child[1].get(), value, f);
  }

  static std::size_t count(const Node* n) noexcept {
    return n ? 1 + count(n->child[0].get()) + count(n->child[1].get()) : 0;
  }

  std::unique_ptr<Node> root_;
};

}  // namespace allowed_ips_detail

// Longest-prefix-match table from IP prefixes to a value, IPv4 and IPv6.
// V: default-constructible, copyable, ==-comparable; V{} means "no entry", so inserting V{}
// is the same as removing the prefix. Values are copied in and out; the table never owns
// what a pointer V points at (the caller removes a peer's prefixes before freeing the peer).
template <class V>
class AllowedIps {
 public:
  // Maps `prefix` to `value`. Host bits are ignored (10.1.2.3/24 is 10.1.2.0/24). If the
  // prefix is already present its value is replaced: a prefix belongs to one value.
  // The prefix must be valid (family AF_INET/AF_INET6, length <= 32/128, as IpPrefix::parse
  // gives); an invalid one is ignored (and asserts in debug builds).
  void insert(const IpPrefix& prefix, V value) {
    if (value == V{}) return remove(prefix);
    if (!valid(prefix)) return;
    const bool fresh = is_v4(prefix)
        ? v4_.insert(Key32::load(prefix.address.bytes.data()), prefix.length, value)
        : v6_.insert(Key128::load(prefix.address.bytes.data()), prefix.length, value);
    if (fresh) ++size_;
  }

  // Removes exactly `prefix` (host bits ignored); nothing happens if it is absent.
  void remove(const IpPrefix& prefix) {
    if (!valid(prefix)) return;
    const bool removed = is_v4(prefix)
        ? v4_.remove(Key32::load(prefix.address.bytes.data()), prefix.length)
        : v6_.remove(Key128::load(prefix.address.bytes.data()), prefix.length);
    if (removed) --size_;
  }

  // Removes every prefix mapped to `value` (a peer going away). remove_all(V{}) does nothing.
  void remove_all(V value) {
    if (value == V{}) return;
    size_ -= v4_.remove_all(value);
    size_ -= v6_.remove_all(value);
  }

  // Packet path. The value of the longest stored prefix containing the address, V{} if none
  // (or if the address's family is unset). No allocation, no exceptions.
  V lookup(const IpAddress& addr) const noexcept {
    if (addr.family == AF_INET) return lookup_v4(addr.bytes.data());
    if (addr.family == AF_INET6) return lookup_v6(addr.bytes.data());
    return V{};
  }
  // `addr4` points at 4 bytes (`addr16` at 16) in network order, e.g. inside an IP header;
  // they are read during the call only.
  V lookup_v4(const std::uint8_t* addr4) const noexcept {
    return v4_.lookup(Key32::load(addr4));
  }
  V lookup_v6(const std::uint8_t* addr16) const noexcept {
    return v6_.lookup(Key128::load(addr16));
  }

  // Control path (status output). Every prefix mapped to `value`, host bits cleared, sorted:
  // IPv4 before IPv6, then by address, then shorter before longer.
  std::vector<IpPrefix> prefixes_of(V value) const {
    std::vector<IpPrefix> out;
    if (value == V{}) return out;
    v4_.for_each_of(value, [&](const Key32& k, unsigned cidr) {
      out.push_back(make_prefix(AF_INET, k, cidr));
    });
    v6_.for_each_of(value, [&](const Key128& k, unsigned cidr) {
      out.push_back(make_prefix(AF_INET6, k, cidr));
    });
    // The pre-order walk already yields this order; sorting keeps the promise explicit.
    std::sort(out.begin(), out.end(), [](const IpPrefix& a, const IpPrefix& b) {
      return std::tie(a.address.family, a.address.bytes, a.length) <
             std::tie(b.address.family, b.address.bytes, b.length);
    });
    return out;
  }

  // Number of stored prefixes, both families.
  std::size_t size() const noexcept { return size_; }

  // Diagnostics: trie nodes held, both families. Path compression keeps it below 2 * size();
  // it walks the tries, so it is for tests and status, not the packet path.
  std::size_t node_count() const noexcept { return v4_.node_count() + v6_.node_count(); }

  void clear() noexcept {
    v4_.clear();
    v6_.clear();
    size_ = 0;
  }

 private:
  using Key32 = allowed_ips_detail::Key32;
  using Key128 = allowed_ips_detail::Key128;

  static bool is_v4(const IpPrefix& p) noexcept { return p.address.family == AF_INET; }
  static bool valid(const IpPrefix& p) noexcept {
    const bool ok = (p.address.family == AF_INET && p.length <= 32) ||
                    (p.address.family == AF_INET6 && p.length <= 128);
    assert(ok && "AllowedIps: invalid prefix");
    return ok;
  }
  template <class Key>
  static IpPrefix make_prefix(std::uint8_t family, const Key& k, unsigned cidr) {
    IpPrefix p;
    p.address.family = family;
    k.store(p.address.bytes.data());
    p.length = std::uint8_t(cidr);
    return p;
  }

  allowed_ips_detail::Trie<Key32, V> v4_;
  allowed_ips_detail::Trie<Key128, V> v6_;
  std::size_t size_ = 0;
};

}  // namespace keymesh::daemon
