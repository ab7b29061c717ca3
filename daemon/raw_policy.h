// Raw-key peers as policy subjects (docs/sites.md, "A stock WireGuard endpoint as a site").
//
// A raw-key peer from the config (`peers:`) speaks plain WireGuard and has no certificate.
// When the daemon has a policy file (config `policy:`), such a peer is a policy subject all
// the same: its config `name`, `groups` and `labels`, kind "raw", and its `allowed_ips` as its
// networks. Every packet to and from it then goes through policy and connection tracking, as
// on a certified path: one ConnTrack per (raw peer, local identity) pair, where the local
// identity is the one whose networks hold our end of the packet (the source going out, the
// destination coming in), or the host identity when none does.
//
// Without a policy file nothing here exists (Peer::raw_policy is null) and a raw-key peer
// keeps WireGuard semantics for the host: it may send from its allowed IPs to addresses that
// no certified identity holds (the host's own, forwarded LANs of plain-WireGuard setups). It
// fails closed for everything else: packets to or from a workload or gateway identity's
// networks are dropped (policy_denied), as a certified peer without a grant would be
// (Tunnel::raw_unpoliced_allows).
//
// Ownership and threading: a RawPeerPolicy belongs to its Peer (Tunnel's thread only). It
// holds LocalIdentity pointers; the tunnel calls forget() before an identity goes away.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "policy/conntrack.h"
#include "policy/evaluator.h"
#include "policy/rule.h"

namespace keymesh::daemon {

struct LocalIdentity;
struct PeerConfig;

// The subject of a raw-key peer, built once at config load: kind "raw", no fingerprint.
policy::Subject raw_peer_subject(const PeerConfig& config, std::string_view name);

// The subject a local identity presents to a raw-key peer: its certificate's, or only its
// name when it has none (the host key without `certificate:`).
policy::Subject local_subject_for_raw(const LocalIdentity& local);

class RawPeerPolicy {
 public:
  explicit RawPeerPolicy(policy::Subject subject) : subject_(std::move(subject)) {}

  const policy::Subject& subject() const noexcept { return subject_; }

  // The tracker between this peer and `local`. The first call per local identity compiles
  // both directions from `policy` (null: grants nothing) and allocates; later calls are a
  // scan of a vector as short as the number of local identities that talked to the peer.
  // Null only when out of memory.
  policy::ConnTrack* tracker(const LocalIdentity& local, const policy::Policy* policy) noexcept;

  // Recompiles every tracker (or only those of `only`) from `policy`, keeping the tracked
  // flows still granted. Returns how many flows were dropped.
  std::size_t recompile(const policy::Policy* policy, WallTime wall,
                        const LocalIdentity* only = nullptr);
  // Drops the tracker of a local identity that is going away.
  void forget(const LocalIdentity& local) noexcept;
  // Timer: idle flows out, flows whose grant ended (schedules) out.
  void tick(TimePoint now, WallTime wall) noexcept;
  std::size_t flows() const noexcept;

  // The local identity of the last denied packet, for the periodic "more packets denied"
  // audit line (null: none yet, or forgotten).
  const LocalIdentity* last_denied_local = nullptr;

 private:
  struct Pair {
    const LocalIdentity* local;
    std::unique_ptr<policy::ConnTrack> conntrack;
  };
  policy::Subject subject_;
  std::vector<Pair> pairs_;
};

}  // namespace keymesh::daemon
