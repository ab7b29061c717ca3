// Several gateways for one site subnet (issue 8): when two or more remote GATEWAY identities
// hold the same network (two gateway certificates naming 198.19.2.0/24, say gw-b1 and gw-b2),
// all of them are kept as candidates and one is chosen (other kinds keep WireGuard's rule:
// the identity learned last for a network takes it over); the tunnel's LPM table (`remote_routes_`)
// points at the chosen one, so the send path stays one lookup (the LPM entry IS the cache).
//
// Choosing (site_failover.cpp):
//  - candidates are ordered by certificate name, then key: the order of preference;
//  - the first candidate learned is chosen; a later one that sorts before it takes over only
//    while the chosen one has never completed a handshake (nothing flows through it yet);
//  - when the chosen candidate's path stops answering (liveness.cpp: data unanswered for
//    kProbeAfter, then a handshake initiation unanswered for kProbeWait) the next candidate is
//    chosen: the first one in order that has not failed within kFailedHoldDown, else the one
//    that failed longest ago (a failed gateway is retried when the others fail too);
//  - no automatic fail-back: the new choice stays while it answers (no flapping, and flows
//    keep the gateway whose connection tracking knows them).
// Everything here runs on the tunnel's thread; the types are plain data.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "crypto/primitives.h"

namespace keymesh::daemon {

// Data sent on a watched path and nothing authenticated back for this long: probe it.
inline constexpr auto kProbeAfter = std::chrono::seconds(2);
// The probe (a handshake initiation) unanswered for this long: the path is stalled.
inline constexpr auto kProbeWait = std::chrono::milliseconds(1500);
// A candidate that failed is passed over for this long while another one is usable.
inline constexpr auto kFailedHoldDown = std::chrono::seconds(30);

struct SiteCandidate {
  crypto::Key key{};
  std::string name;
  std::optional<TimePoint> failed_at;  // last time it stopped answering
};

// One network held by two or more remote identities.
struct SiteRoute {
  IpPrefix prefix;
  std::vector<SiteCandidate> candidates;  // by name, then key
  crypto::Key chosen{};
  std::uint64_t failovers = 0;
};

// Whether `a` is preferred over `b` (name, then key).
bool prefer(const SiteCandidate& a, const SiteCandidate& b) noexcept;

// The candidate to move to when the chosen one fails at `now`: the first usable one in order
// that has not failed within `hold_down`, else the usable one that failed longest ago; never
// the chosen one. nullopt when no other candidate is usable.
std::optional<std::size_t> next_candidate(const SiteRoute& route, TimePoint now,
                                          Duration hold_down,
                                          const std::function<bool(const SiteCandidate&)>& usable);

}  // namespace keymesh::daemon
