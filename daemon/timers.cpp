// All timer policy in one place (as WireGuard's timers.c). Each hook is named for the event
// that calls it; each deadline in Peer is armed by hooks and fired by tick_peer().
//
//  retransmit_handshake   armed when an initiation goes out; fires every rekey_timeout
//                         (+jitter) until a response arrives or rekey_attempt_time passes.
//  send_keepalive         armed when data arrives; fires after keepalive_timeout unless we
//                         sent something meanwhile (passive keepalive).
//  new_handshake          armed when data goes out; fires after keepalive + rekey timeouts if
//                         nothing authenticated came back: the peer may have lost our session.
//  zero_key_material      armed when a session is derived; wipes all keys after 3x reject time.
//  persistent_keepalive   re-armed by any authenticated traffic; keeps NAT mappings alive.
// Paths are also re-checked here once a second (expiry, revocation, policy schedules).
#include <spdlog/spdlog.h>

#include "daemon/tunnel.h"

namespace keymesh::daemon {

Duration Tunnel::jitter() noexcept {
  const auto max_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          crypto::kRekeyTimeoutJitterMax)
                          .count();
  return std::chrono::microseconds(crypto::random_u32() % std::uint32_t(max_us + 1));
}

void Tunnel::timers_data_sent(Peer& peer) noexcept {
  liveness_sent(peer);
  if (!peer.new_handshake_at)
    peer.new_handshake_at = now() + timers_.keepalive_timeout + timers_.rekey_timeout + jitter();
}

void Tunnel::timers_data_received(Peer& peer) noexcept {
  if (!peer.send_keepalive_at) peer.send_keepalive_at = now() + timers_.keepalive_timeout;
}

void Tunnel::timers_any_authenticated_packet_sent(Peer& peer) noexcept {
  peer.send_keepalive_at.reset();
}

void Tunnel::timers_any_authenticated_packet_received(Peer& peer) noexcept {
  liveness_received(peer);
  peer.new_handshake_at.reset();
}

void Tunnel::timers_any_authenticated_packet_traversal(Peer& peer) noexcept {
  if (peer.persistent_keepalive.count() > 0)
    peer.persistent_keepalive_at = now() + peer.persistent_keepalive;
}

void Tunnel::timers_handshake_initiated(Peer& peer) noexcept {
  peer.retransmit_handshake_at = now() + timers_.rekey_timeout + jitter();
}

void Tunnel::timers_handshake_complete(Peer& peer) noexcept {
  peer.retransmit_handshake_at.reset();
  peer.handshake_attempts = 0;
}

void Tunnel::timers_session_derived(Peer& peer) noexcept {
  peer.zero_key_material_at = now() + timers_.reject_after_time * 3;
}

void Tunnel::tick() noexcept {
  refresh_now();
  const TimePoint t = now();
  for (auto& peer : peers_) {
    tick_peer(*peer, t);
    check_liveness(*peer, t);  // liveness.cpp: probes, failover, stall reports
  }
  check_paths_on_tick();  // certificates, grants and schedules, once a second (paths.cpp)
  tick_relays();          // relay fallback, direct probes, paths with our relays (relay.cpp)
  prune_remotes();        // remote identities nobody can use (remote_prune.cpp)
  bind_.flush();
}

void Tunnel::tick_peer(Peer& peer, TimePoint t) noexcept {
  auto due = [t](std::optional<TimePoint>& deadline) {
    if (!deadline || *deadline > t) return false;
    deadline.reset();
    return true;
  };

  if (due(peer.retransmit_handshake_at)) {
    const auto max_attempts = timers_.rekey_attempt_time / timers_.rekey_timeout;
    if (peer.handshake_attempts >= std::uint32_t(max_attempts)) {
      // Give up: the packets waiting for this handshake will not be delivered.
      const std::size_t lost = peer.staged.clear();
      for (std::size_t i = 0; i < lost; ++i) drop(DropReason::HandshakeTimeout);
      spdlog::info("handshake with peer {} did not complete after {} attempts", peer.name,
                   peer.handshake_attempts + 1);
      if (!peer.zero_key_material_at)
        peer.zero_key_material_at = t + timers_.reject_after_time * 3;
    } else {
      ++peer.handshake_attempts;
      send_initiation(peer, true);
    }
  }
  if (due(peer.send_keepalive_at)) send_keepalive(peer);
  if (due(peer.new_handshake_at)) send_initiation(peer, false);
  if (due(peer.zero_key_material_at)) {
    for (crypto::Keypair* kp :
         {peer.keypairs.previous(), peer.keypairs.current(), peer.keypairs.next()})
      if (kp) release_index(kp->local_index);
    peer.keypairs.clear();
    if (auto pending = peer.pending_initiation()) release_index(*pending);
    peer.handshake_done(true);
  }
  if (due(peer.persistent_keepalive_at)) send_keepalive(peer);
}

}  // namespace keymesh::daemon
