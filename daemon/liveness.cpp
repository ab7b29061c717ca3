// Path liveness: is the remote end of a path still answering? (issue 8: gateway failover, NAT
// mapping changes.) WireGuard notices a dead peer only when its new_handshake timer fires
// (keepalive + rekey timeouts, 15 s) and then keeps trying the same endpoint. A watched path
// is asked sooner:
//
//  1. liveness_sent: data goes out while nothing authenticated came back since: remember when.
//  2. liveness_received: any authenticated packet (data, keepalive, handshake response, an
//     initiation we answer) clears it.
//  3. check_liveness (each tick): unanswered for kProbeAfter -> send a handshake initiation
//     (a live peer answers it at once, even when it has no data for us); still nothing
//     kProbeWait later -> the path is stalled: fail over to another gateway of the same
//     network (site_failover.cpp) and tell the daemon (on_stall_), which re-registers with the
//     lighthouse (our public endpoint may have moved), asks it for punches and re-initiates.
//
// Watched: every certified path while this node is behind NAT, every path to a remote
// identity that is one of several candidates for a network, and every path to a lighthouse
// (a restarted lighthouse has no session: this host's Registers and queries go unheard until
// a new handshake, which the probe starts 2 s after the first unanswered one). Other paths
// keep WireGuard's timers only: a one-way flow on a watched path costs one handshake every
// few seconds, which is the price of noticing a dead gateway or a moved NAT mapping in seconds.
#include <spdlog/spdlog.h>

#include "daemon/tunnel.h"

namespace keymesh::daemon {

void Tunnel::liveness_sent(Peer& peer) noexcept {
  if (!peer.unanswered_since) peer.unanswered_since = now();
}

void Tunnel::liveness_received(Peer& peer) noexcept {
  peer.unanswered_since.reset();
  peer.probe_sent_at.reset();
}

bool Tunnel::watches_liveness(const Peer& peer) const noexcept {
  return peer.keymesh &&
         (path_keepalive_.count() > 0 || site_candidate_keys_.contains(peer.public_key) ||
          watched_keys_.contains(peer.public_key));
}

void Tunnel::check_liveness(Peer& peer, TimePoint t) noexcept {
  if (!peer.unanswered_since || !watches_liveness(peer)) return;
  if (!peer.probe_sent_at) {
    if (t - *peer.unanswered_since < kProbeAfter) return;
    peer.probe_sent_at = t;
    spdlog::debug("path {}: nothing back for {} ms, probing with a handshake", peer.name,
                  std::chrono::duration_cast<std::chrono::milliseconds>(t - *peer.unanswered_since).count());
    send_initiation(peer, true);
    return;
  }
  if (t - *peer.probe_sent_at < kProbeWait) return;
  const Duration silent = t - *peer.unanswered_since;
  // The next data sent starts a new round: a path nothing is sent on any more stays quiet.
  peer.unanswered_since.reset();
  peer.probe_sent_at.reset();
  spdlog::info("path {} <-> {} stalled: no answer for {:.1f} s (endpoint {})",
               peer.local ? peer.local->name : "host", peer.name,
               std::chrono::duration<double>(silent).count(), peer.endpoint.to_string());
  fail_over(peer.public_key, silent);
  if (on_stall_) on_stall_(peer);
}

}  // namespace keymesh::daemon
