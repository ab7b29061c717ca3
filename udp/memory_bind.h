// An in-process UDP network for whole-daemon tests that never sleep.
//
//   MemoryNetwork net({.loss = 0.01, .seed = 7});
//   auto a = net.bind(*Endpoint::parse("198.18.0.1:51820")).value();
//   auto b = net.bind(*Endpoint::parse("198.18.0.2:51820")).value();
//   a->send(b_endpoint, bytes); a->flush();        // now in b's inbox (or lost)
//   while (net.has_pending()) { ...let each daemon poll its bind... }
//
// Delivery happens synchronously in flush(): the network copies each datagram, decides its
// fate with a seeded generator (same seed, same sends: same losses, reorders and
// duplicates), and appends it to the receiving bind's inbox. There is no clock: a datagram
// picked for reordering is held back until `reorder_window` (at most) later datagrams have
// reached the same bind, or until that bind finds its inbox otherwise empty, or until
// release_held(). Packets are copied on the way in and out; this is test plumbing, not a
// packet path.
//
// NAT: add_nat(inside, outside) rewrites the source of traffic from `inside` to `outside`
// and sends traffic addressed to `outside` back to `inside` (a static 1:1 mapping). For
// anything fancier, set_nat_hook(f): f(from, to) returns the source the receiver should
// see (an unset Endpoint drops the datagram, like a NAT without a mapping); every
// rewrite it makes is remembered so replies find their way back, as a NAT's conntrack
// would. Static mappings win over the hook. Roaming: rebind() a MemoryBind, or change its
// NAT mapping.
//
// Threading: MemoryNetwork and its binds may be used from different threads (one mutex
// inside the network); each MemoryBind is still used by one thread at a time, like any
// Bind. The hook runs under that mutex and must not call back into the network. The
// network and its binds share state, so they may be destroyed in any order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/result.h"
#include "udp/bind.h"

namespace keymesh::udp {

struct MemoryNetworkOptions {
  double loss = 0.0;               // probability a datagram vanishes
  double reorder = 0.0;            // probability a datagram is held back behind later ones
  std::size_t reorder_window = 4;  // held back behind at most this many later datagrams
  double duplicate = 0.0;          // probability a datagram arrives twice (off by default)
  std::uint64_t seed = 1;
  std::size_t inbox_capacity = 4096;  // per bind; beyond it datagrams are dropped (overflow)
};

struct MemoryNetworkCounters {
  std::uint64_t sent = 0;        // datagrams handed to the network by a flush
  std::uint64_t delivered = 0;   // placed in a receiver's inbox (duplicates included)
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_unreachable = 0;  // nobody bound at the destination
  std::uint64_t dropped_overflow = 0;     // receiver's inbox full
  std::uint64_t dropped_nat = 0;          // NAT hook refused it
  std::uint64_t dropped_too_big = 0;      // larger than the receiver's buffer
  std::uint64_t reordered = 0;            // held back behind later datagrams
  std::uint64_t duplicated = 0;

  std::uint64_t dropped() const noexcept {
    return dropped_loss + dropped_unreachable + dropped_overflow + dropped_nat + dropped_too_big;
  }
};

namespace detail {
struct NetworkState;
struct Inbox;
}  // namespace detail

class MemoryBind;

class MemoryNetwork {
 public:
  using NatHook = std::function<Endpoint(const Endpoint& from, const Endpoint& to)>;

  explicit MemoryNetwork(const MemoryNetworkOptions& options = {});
  ~MemoryNetwork();
  MemoryNetwork(const MemoryNetwork&) = delete;
  MemoryNetwork& operator=(const MemoryNetwork&) = delete;

  // A bind reachable at `local`. Port 0 picks a free port from 49152 up. Fails when the
  // endpoint is unset or already bound.
  Result<std::unique_ptr<MemoryBind>> bind(const Endpoint& local);

  void set_loss(double probability);
  void set_reorder(double probability, std::size_t window);
  void set_duplicate(double probability);

  void add_nat(const Endpoint& inside, const Endpoint& outside);
  void remove_nat(const Endpoint& inside);
  void set_nat_hook(NatHook hook);  // empty function: no hook

  // Datagrams sitting in inboxes (held-back ones included). Datagrams committed on a bind
  // but not yet flushed are not in the network and do not count.
  bool has_pending() const;
  std::size_t pending() const;
  void release_held();  // deliver every held-back datagram now, in the order sent

  MemoryNetworkCounters counters() const;

 private:
  std::shared_ptr<detail::NetworkState> state_;
};

class MemoryBind final : public Bind {
 public:
  static constexpr std::size_t kMaxDatagram = 65535;
  static constexpr std::size_t kSendBatch = 64;

  ~MemoryBind() override;
  MemoryBind(const MemoryBind&) = delete;
  MemoryBind& operator=(const MemoryBind&) = delete;

  int fd() const noexcept override { return -1; }
  std::uint16_t local_port() const noexcept override { return local_.port; }
  std::size_t receive_batch(std::span<Datagram> batch) noexcept override;
  std::span<std::uint8_t> prepare_send(std::size_t capacity) noexcept override;
  void commit_send(const Endpoint& to, std::size_t size) noexcept override;
  void flush() noexcept override;
  std::uint64_t send_errors() const noexcept override { return send_errors_; }

  const Endpoint& local() const noexcept { return local_; }
  // Moves this bind to a new address (simulates roaming). Datagrams already in the inbox
  // stay; later traffic to the old address is unreachable. Call from the bind's thread.
  Result<void> rebind(const Endpoint& local);
  std::size_t pending() const;  // datagrams waiting in this bind's inbox

 private:
  friend class MemoryNetwork;
  MemoryBind(std::shared_ptr<detail::NetworkState> network, std::unique_ptr<detail::Inbox> inbox);

  std::shared_ptr<detail::NetworkState> network_;
  std::unique_ptr<detail::Inbox> inbox_;
  Endpoint local_;  // copy of inbox_->local, only changed by rebind() on this thread
  std::uint64_t send_errors_ = 0;

  // Pending send batch: slots grow to the largest capacity asked for, then stay.
  std::vector<std::vector<std::uint8_t>> slots_;
  std::vector<Endpoint> destinations_;
  std::vector<std::size_t> sizes_;
  std::size_t send_count_ = 0;
  bool prepared_ = false;
};

}  // namespace keymesh::udp
