// The handshake driver: turns Noise messages (crypto/noise.h) into sessions for peers.
// WireGuard messages here (raw-key peers of the host key); the certificate-carrying keymesh
// variant in handshake_keymesh.cpp, sharing the steps after the Noise work.
//
//  Initiation in:  mac1 (is it for us?) -> repeat / per-source limit (handshake_guard.h) ->
//                  cookie if under load -> consume (2 DH) -> which
//                  peer -> timestamp/flood checks -> response out -> keypair waits in `next`.
//  Response in:    mac1 -> cookie if under load -> receiver index must be the outstanding
//                  initiation -> consume -> keypair to `current` -> staged packets or keepalive.
//  Cookie reply:   receiver index -> that peer's cookie generator.
// No answer of any kind goes to a sender that fails a check: a wrong key gets silence.
#include <spdlog/spdlog.h>

#include <cstring>

#include "common/bytes.h"
#include "daemon/tunnel.h"

namespace keymesh::daemon {

crypto::CookieSource cookie_source_of(const udp::Endpoint& ep) noexcept {
  crypto::CookieSource src;
  const std::size_t n = ep.family == AF_INET ? 4 : 16;
  std::memcpy(src.bytes.data(), ep.addr.data(), n);
  src.bytes[n] = std::uint8_t(ep.port >> 8);
  src.bytes[n + 1] = std::uint8_t(ep.port);
  src.size = n + 2;
  return src;
}

DropReason drop_for(crypto::HandshakeError e) noexcept {
  switch (e) {
    case crypto::HandshakeError::DhFailed: return DropReason::HandshakeDhFailed;
    case crypto::HandshakeError::ReplayedTimestamp: return DropReason::HandshakeReplayed;
    case crypto::HandshakeError::Flood: return DropReason::HandshakeFlood;
    case crypto::HandshakeError::UnknownPeer: return DropReason::UnknownPeer;
    case crypto::HandshakeError::WrongState: return DropReason::UnexpectedResponse;
    case crypto::HandshakeError::WrongReceiver: return DropReason::Mac1Invalid;
    default: return DropReason::HandshakeDecryptFailed;
  }
}

bool Tunnel::under_load() noexcept {
  const TimePoint t = now();
  if (t - load_window_start_ >= std::chrono::seconds(1)) {
    load_window_start_ = t;
    load_window_count_ = 0;
  }
  return ++load_window_count_ > under_load_threshold_;
}

void Tunnel::send_initiation(Peer& peer, bool is_retry) noexcept {
  if (!peer.endpoint.valid() && !peer.relay.via) return;
  const TimePoint t = now();
  if (peer.pending_initiation() && peer.last_initiation_sent &&
      t - *peer.last_initiation_sent < crypto::kInitiationReplaceAfter)
    return;  // the one in flight stands (crypto/constants.h)
  if (!is_retry) {
    // One initiation per rekey_timeout; retries come from the retransmit timer.
    if (peer.last_initiation_sent && t - *peer.last_initiation_sent < timers_.rekey_timeout)
      return;
    peer.handshake_attempts = 0;
  }
  if (auto old = peer.pending_initiation()) release_index(*old);
  const std::uint32_t index = allocate_index(peer);
  if (peer.keymesh) {
    send_keymesh_initiation(peer, index);
  } else {
    crypto::MessageInitiation msg;
    if (peer.handshake().create_initiation(msg, index, wall_now()) !=
        crypto::HandshakeError::None) {
      release_index(index);
      return;
    }
    auto bytes = std::span(reinterpret_cast<std::uint8_t*>(&msg), sizeof msg);
    peer.cookies().add_macs(bytes, t);
    bind_.send(peer.endpoint, bytes);
  }
  if (!peer.pending_initiation()) return;  // creating it failed
  peer.last_initiation_sent = t;
  timers_handshake_initiated(peer);
  timers_any_authenticated_packet_traversal(peer);
  timers_any_authenticated_packet_sent(peer);
}

bool Tunnel::cookie_demanded(crypto::CookieChecker& checker, std::span<std::uint8_t> msg,
                             const std::uint8_t* sender, const udp::Endpoint& from) noexcept {
  const auto src = cookie_source_of(from);
  if (!under_load() || checker.check_mac2(msg, src, now())) return false;
  crypto::MessageCookieReply reply;
  checker.create_reply(reply, msg, load_le32(sender), src, now());
  send_reply(from, std::span(reinterpret_cast<const std::uint8_t*>(&reply), sizeof reply));
  ++cookies_sent_;
  drop(DropReason::CookieRequired);
  return true;
}

void Tunnel::receive_initiation(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept {
  // Plain WireGuard initiations are for the identity that accepts raw-key peers (the host
  // key); workload identities speak only the keymesh variant (docs/architecture.md).
  LocalIdentity& local = *host_;
  if (const auto a = guard_->screen(crypto::mac1_of(msg), crypto::mac2_of(msg), from, now());
      a != HandshakeGuard::Admit::Yes)
    return refuse_initiation(a, from);
  if (!local.cookie_checker.check_mac1(msg)) return drop(DropReason::Mac1Invalid);
  const auto* init = reinterpret_cast<const crypto::MessageInitiation*>(msg.data());
  if (!initiation_admitted(local.cookie_checker, msg, init->sender, from)) return;

  crypto::ConsumedInitiation consumed;
  if (auto e = crypto::consume_initiation(local.statics, *init, consumed);
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));
  Peer* peer = find_peer(consumed.remote_static);
  if (peer == nullptr) return drop(DropReason::UnknownPeer);
  if (yields_to_own_initiation(*peer, from)) return drop(DropReason::HandshakeCrossed);
  if (auto e = peer->handshake().accept_initiation(std::move(consumed), now());
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));

  crypto::MessageResponse response;
  crypto::SessionKeys keys;
  const std::uint32_t index = allocate_index(*peer);
  if (auto e = peer->handshake().create_response(response, index, keys);
      e != crypto::HandshakeError::None) {
    release_index(index);
    return drop(drop_for(e));
  }
  responded(*peer, std::span(reinterpret_cast<std::uint8_t*>(&response), sizeof response),
            std::move(keys), from);
}

void Tunnel::responded(Peer& peer, std::span<std::uint8_t> response, crypto::SessionKeys&& keys,
                       const udp::Endpoint& from) noexcept {
  peer.cookies().add_macs(response, now());
  update_endpoint(peer, from);
  liveness_received(peer);  // an initiation that got this far is the peer, alive
  send_reply(from, response);  // through the relay when the initiation came through one
  release_evicted(
      peer.keypairs.install_responder(crypto::Keypair::from_session(std::move(keys), now())));
  timers_session_derived(peer);
  timers_any_authenticated_packet_traversal(peer);
  timers_any_authenticated_packet_sent(peer);
  peer.handshake_done();
}

bool Tunnel::yields_to_own_initiation(const Peer& peer, const udp::Endpoint& from) const noexcept {
  // Both sides initiated at once. Answering both would give each side its own initiator
  // session, and the next rekeys would cross again, each time losing what was in flight
  // under the keypair the other side drops. So the larger public key ignores the other's
  // initiation while its own is fresh; the smaller key answers it. A stock WireGuard peer
  // answers everything, which is still correct: crossing then costs what it costs there.
  if (!peer.pending_initiation() || !peer.last_initiation_sent) return false;
  // From somewhere else than where ours went: the peer moved (a new NAT mapping), and our
  // initiation may never reach it. Answer, or neither side completes until ours ages out.
  if (peer.endpoint.valid() && !(from == peer.endpoint)) return false;
  if (now() - *peer.last_initiation_sent >= timers_.rekey_timeout) return false;
  const crypto::Key& own = peer.local ? peer.local->statics.public_key : host_->statics.public_key;
  return std::memcmp(own.data(), peer.public_key.data(), crypto::kKeySize) > 0;
}

void Tunnel::receive_response(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept {
  if (!host_->cookie_checker.check_mac1(msg)) return drop(DropReason::Mac1Invalid);
  const auto* resp = reinterpret_cast<const crypto::MessageResponse*>(msg.data());
  if (cookie_demanded(host_->cookie_checker, msg, resp->sender, from)) return;

  const std::uint32_t index = load_le32(resp->receiver);
  const auto it = index_table_.find(index);
  if (it == index_table_.end()) return drop(DropReason::UnknownIndex);
  Peer& peer = *it->second;
  if (peer.keymesh || peer.pending_initiation() != index)
    return drop(DropReason::UnexpectedResponse);
  crypto::SessionKeys keys;
  if (auto e = peer.handshake().consume_response(*resp, keys); e != crypto::HandshakeError::None)
    return drop(drop_for(e));
  initiator_completed(peer, std::move(keys), from);
}

void Tunnel::initiator_completed(Peer& peer, crypto::SessionKeys&& keys,
                                 const udp::Endpoint& from) noexcept {
  release_evicted(
      peer.keypairs.install_initiator(crypto::Keypair::from_session(std::move(keys), now())));
  peer.handshake_done();
  update_endpoint(peer, from);
  timers_session_derived(peer);
  handshake_completed(peer, true);
  timers_any_authenticated_packet_received(peer);
  timers_any_authenticated_packet_traversal(peer);
  // The responder holds the new keypair in `next` until it sees data under it: send the
  // staged packets now, or an empty keepalive if there are none.
  if (peer.staged.empty()) send_keepalive(peer);
  else send_staged(peer);
}

void Tunnel::receive_cookie_reply(std::span<std::uint8_t> msg) noexcept {
  const auto* reply = reinterpret_cast<const crypto::MessageCookieReply*>(msg.data());
  const auto it = index_table_.find(load_le32(reply->receiver));
  if (it == index_table_.end()) return drop(DropReason::UnknownIndex);
  // A path keeps no handshake state once its handshake is over, so a late reply to a message
  // whose handshake completed finds nothing to match and is dropped like a forged one.
  Peer& peer = *it->second;
  if (!peer.has_handshake_state() || !peer.cookies().consume_reply(*reply, now()))
    return drop(DropReason::CookieReplyInvalid);
}

std::uint32_t Tunnel::allocate_index(Peer& peer) noexcept {
  for (;;) {
    const std::uint32_t index = crypto::random_u32();
    if (index_table_.try_emplace(index, &peer).second) return index;
  }
}

void Tunnel::release_index(std::uint32_t index) noexcept { index_table_.erase(index); }

void Tunnel::release_evicted(const crypto::Keypairs::Evicted& evicted) noexcept {
  for (const auto& index : evicted)
    if (index) release_index(*index);
}

void Tunnel::update_endpoint(Peer& peer, const udp::Endpoint& from) noexcept {
  if (!note_authenticated_source(peer, from)) return;  // came through a relay (relay.cpp)
  if (peer.endpoint == from) return;
  if (peer.endpoint.valid())
    spdlog::info("roaming: peer {} endpoint {} -> {}", peer.name, peer.endpoint.to_string(),
                 from.to_string());
  peer.endpoint = from;
}

void Tunnel::handshake_completed(Peer& peer, bool as_initiator) noexcept {
  peer.last_handshake = wall_now();
  ++handshakes_completed_;
  timers_handshake_complete(peer);
  spdlog::info("handshake complete: peer {} ({}) as {}", peer.name,
               to_base64(peer.public_key).substr(0, 8), as_initiator ? "initiator" : "responder");
  if (peer.keymesh && !peer.announced) {
    peer.announced = true;
    std::string rule;
    path_granted(*peer.local, *peer.remote, &rule);
    counters_.paths_allowed.add({rule});
    audit(policy::AuditEventType::kPathOpened, peer.local, peer.remote.get(), rule,
          "handshake complete as " + std::string(as_initiator ? "initiator" : "responder"));
  }
}

}  // namespace keymesh::daemon
