// MissTable: the lighthouse's memory of recent address queries it could not answer, so that
// the record is pushed to the asker the moment it registers (a workload minted on one host
// is looked up from another before its host's Register arrives: without this the asker
// would hear "unknown" and wait for its own retry).
//
// Bounded three ways: each miss lives `ttl` (renewed when the same asker asks again), the
// table holds at most `max_entries` (address, asker) pairs, and one asker's overlay address
// holds at most `max_per_asker` of them. remember() refuses past a cap; the caller counts it.
// take() hands out each remembered asker at most once, so pushes never exceed the queries
// that caused them.
//
// Thread safety: none; the lighthouse's loop thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "discovery/prefix_index.h"
#include "udp/endpoint.h"

namespace keymesh::discovery {

struct MissTableOptions {
  std::chrono::seconds ttl{10};
  std::size_t max_entries = 16384;
  std::size_t max_per_asker = 64;
};

class MissTable {
 public:
  explicit MissTable(MissTableOptions options = {}) : options_(options) {}

  // `asker` asked for `address` and got nothing. False when a cap refused it.
  bool remember(const IpAddress& address, const udp::Endpoint& asker, TimePoint now);
  // Every live asker of an address inside `network` (each once per call, in address
  // order), and forgets those misses.
  std::vector<udp::Endpoint> take(const IpPrefix& network, TimePoint now);
  void expire(TimePoint now);
  std::size_t size() const noexcept { return size_; }

 private:
  // (family, address bytes) in that order: the addresses of one network are a contiguous
  // range of keys.
  using Key = std::array<std::uint8_t, 17>;
  struct Asker {
    udp::Endpoint to;
    TimePoint until;
  };
  static Key key_of(const IpAddress& a) noexcept;
  void forget(const udp::Endpoint& asker) noexcept;

  MissTableOptions options_;
  std::map<Key, std::vector<Asker>> misses_;  // usually one asker per address
  std::unordered_map<IpAddress, std::size_t, IpAddressHash> per_asker_;
  std::size_t size_ = 0;
};

}  // namespace keymesh::discovery
