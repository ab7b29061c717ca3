// The keymesh handshake variant (docs/protocol.md): Noise_IKpsk2 with each side's certificate
// chain as encrypted payload, between a local identity and a certified remote one.
//
//  Initiation in:  receiver hint -> local identity (O(1)), mac1 with its key confirms it
//                  before any DH -> cookie if under load -> consume (2 DH, payload) ->
//                  validate the chain against our roots -> the chain's key must be the
//                  handshake's static key -> policy grants something between the two ->
//                  path (found or opened) -> timestamp/flood checks -> response with our chain.
//  Response in:    receiver index -> path with that outstanding initiation -> mac1 -> cookie
//                  if under load -> consume -> validate the responder's chain, same key ->
//                  grant still there -> keypair to `current` -> staged packets.
// A failure at any step is answered with silence, counted, and (from the certificate check
// on) audited: the sender may be an impostor holding a stolen certificate, and learns nothing.
#include <spdlog/spdlog.h>

#include "common/bytes.h"
#include "daemon/tunnel.h"

namespace keymesh::daemon {

void Tunnel::send_keymesh_initiation(Peer& peer, std::uint32_t index) noexcept {
  const LocalIdentity& local = *peer.local;
  std::size_t written = 0;
  if (peer.handshake.create_keymesh_initiation(handshake_buffer_, index, wall_now(),
                                               local.chain_bytes, written) !=
      crypto::HandshakeError::None) {
    release_index(index);
    return;
  }
  auto bytes = std::span(handshake_buffer_.data(), written);
  peer.cookies.add_macs(bytes, now());
  send_initiation_bytes(peer, bytes);
}

std::shared_ptr<const RemoteIdentity> Tunnel::certified_remote(
    const LocalIdentity& local, const crypto::Key& remote_static) {
  using policy::AuditEventType;
  if (!trust_) {
    drop(DropReason::UnsupportedHandshake);
    return nullptr;
  }
  auto validated = trust_->validate(ByteSpan(payload_.data(), payload_.size()), wall_now());
  if (!validated) {
    drop(DropReason::CertificateRejected);
    audit(AuditEventType::kCertificateRejected, &local, nullptr, "",
          "handshake from key " + to_base64(remote_static).substr(0, 8) + ": " +
              validated.error().message);
    return nullptr;
  }
  if (auto same = identity::check_static_key(*validated, remote_static); !same) {
    drop(DropReason::CertificateKeyMismatch);
    RemoteIdentity claimed;
    claimed.name = validated->name;
    claimed.cert = std::move(*validated);
    audit(AuditEventType::kHandshakeRejected, &local, &claimed, "", same.error().message);
    return nullptr;
  }
  return learn_remote(std::move(*validated));
}

void Tunnel::receive_keymesh_initiation(std::span<std::uint8_t> msg,
                                        const udp::Endpoint& from) {
  const auto hint = crypto::keymesh_receiver_hint(msg);
  const auto candidates = locals_by_hint_.find(load_le32(hint.data()));
  if (candidates == locals_by_hint_.end()) return drop(DropReason::Mac1Invalid);
  // Usually one identity per hint; a hint collision costs one more mac1 (a hash), never a DH.
  LocalIdentity* local = nullptr;
  for (LocalIdentity* candidate : candidates->second)
    if (candidate->cookie_checker.check_mac1(msg)) {
      local = candidate;
      break;
    }
  if (local == nullptr) return drop(DropReason::Mac1Invalid);
  if (!local->certified) return drop(DropReason::UnsupportedHandshake);
  const auto& header = crypto::keymesh_initiation_header(msg);
  if (cookie_demanded(local->cookie_checker, msg, header.sender, from)) return;

  crypto::ConsumedInitiation consumed;
  if (auto e = crypto::consume_keymesh_initiation(local->statics, msg, consumed, payload_);
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));
  auto remote = certified_remote(*local, consumed.remote_static);
  if (!remote) return;
  if (!path_granted(*local, *remote, nullptr)) {
    drop(DropReason::PathNotGranted);
    return audit_refused(*local, *remote);
  }
  Peer* peer = path_for(*local, const_cast<RemoteIdentity&>(*remote));
  if (peer == nullptr) return;  // counted by path_for
  attach_remote(*peer, remote);
  if (yields_to_own_initiation(*peer, from)) return drop(DropReason::HandshakeCrossed);
  if (auto e = peer->handshake.accept_initiation(std::move(consumed), now());
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));

  crypto::SessionKeys keys;
  std::size_t written = 0;
  const std::uint32_t index = allocate_index(*peer);
  if (auto e = peer->handshake.create_keymesh_response(handshake_buffer_, index,
                                                       local->chain_bytes, keys, written);
      e != crypto::HandshakeError::None) {
    release_index(index);
    return drop(drop_for(e));
  }
  responded(*peer, std::span(handshake_buffer_.data(), written), std::move(keys), from);
}

void Tunnel::receive_keymesh_response(std::span<std::uint8_t> msg, const udp::Endpoint& from) {
  const auto& header = crypto::keymesh_response_header(msg);
  const std::uint32_t index = load_le32(header.receiver);
  const auto it = index_table_.find(index);
  if (it == index_table_.end()) return drop(DropReason::UnknownIndex);
  Peer& peer = *it->second;
  if (!peer.keymesh || peer.handshake.pending_local_index() != index)
    return drop(DropReason::UnexpectedResponse);
  LocalIdentity& local = *peer.local;
  if (!local.cookie_checker.check_mac1(msg)) return drop(DropReason::Mac1Invalid);
  if (cookie_demanded(local.cookie_checker, msg, header.sender, from)) return;

  crypto::SessionKeys keys;
  if (auto e = peer.handshake.consume_keymesh_response(msg, keys, payload_);
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));
  // The Noise work proved the responder holds the key we addressed; its chain must name that
  // key, chain to our roots, and still be granted by policy under what it says.
  auto remote = certified_remote(local, peer.public_key);
  if (!remote) return;
  if (!path_granted(local, *remote, nullptr)) {
    drop(DropReason::PathNotGranted);
    audit_refused(local, *remote);
    return close_path(peer, "the responder's certificate is not granted by policy");
  }
  attach_remote(peer, std::move(remote));
  initiator_completed(peer, std::move(keys), from);
}

}  // namespace keymesh::daemon
