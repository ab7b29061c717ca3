// Address allocation from the node's IPv4 pool (the node CA's range).
//
// Assignable: every address of the pool except the network address, the broadcast address and
// the first host address, which the node keeps for itself. So a /24 gives 253 workloads, and a
// /31 or /32 none. New addresses come from a next-free scan that starts after the last one
// handed out and wraps, so an address just freed is not reused at once (a peer may still hold
// a path to the old holder). An explicit request is honoured when it is assignable and free.
//
// Ipam only does the arithmetic and remembers what is in use; the caller persists (pick, then
// take once committed). Not synchronized: one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <set>

#include "common/ip.h"
#include "common/result.h"

namespace keymesh::node {

class Ipam {
 public:
  // `pool` must be IPv4; host bits are ignored.
  explicit Ipam(const IpPrefix& pool);

  const IpPrefix& pool() const noexcept { return pool_; }
  std::size_t capacity() const noexcept;  // assignable addresses in the pool
  std::size_t used() const noexcept { return used_.size(); }
  bool in_use(const IpAddress& a) const noexcept;
  // The first host address, kept for the node itself ("100.64.1.1" in 100.64.1.0/24).
  IpAddress node_address() const noexcept;

  // `wanted` when set (error when outside the pool, reserved or in use), else the next free
  // address after the cursor. Changes nothing. "no free address in 100.64.1.0/24" when full.
  Result<IpAddress> pick(const std::optional<IpAddress>& wanted) const;
  // Marks `a` in use; with `advance`, the next scan starts after it. Addresses outside the
  // pool are ignored (rows kept from an older node CA range).
  void take(const IpAddress& a, bool advance);
  void release(const IpAddress& a) noexcept;

  // The last address handed out: persisted so a restart does not reuse a freed one at once.
  IpAddress cursor() const noexcept;
  void set_cursor(const IpAddress& a) noexcept;  // ignored when outside the pool

 private:
  std::optional<std::uint32_t> offset_of(const IpAddress& a) const noexcept;
  IpAddress address_at(std::uint32_t host) const noexcept;

  IpPrefix pool_;
  std::uint32_t base_ = 0;            // network address, host order
  std::uint32_t first_ = 0, last_ = 0;  // assignable range [first_, last_] as host offsets
  std::uint32_t cursor_ = 0;          // host offset of the last address handed out
  std::set<std::uint32_t> used_;      // host offsets
};

}  // namespace keymesh::node
