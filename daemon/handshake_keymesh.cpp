// The keymesh handshake variant (docs/protocol.md): Noise_IKpsk2 with each side's certificate
// chain as encrypted payload, between a local identity and a certified remote one.
//
//  Initiation in:  receiver hint -> local identity (O(1)), mac1 with its key confirms it
//                  before any DH -> an exact repeat, or a source over its rate, is refused
//                  (handshake_guard.h) -> cookie if under load -> consume (2 DH, payload) ->
//                  replay/flood memory of (local identity, remote key) -> validate the chain
//                  against our roots -> the chain's key must be the handshake's static key ->
//                  policy grants something between the two -> the certificate may own its
//                  networks (address_owners.h) -> only now anything changes: timestamp
//                  committed, remote learned and routed, path (found or opened) -> response.
//  Response in:    receiver index -> path with that outstanding initiation -> mac1 -> cookie
//                  if under load -> consume -> validate the responder's chain, same key ->
//                  grant still there, address owned -> learned -> keypair to `current`.
// A failure at any step is answered with silence, counted, and (from the certificate check
// on) audited, at most one line per source per second (rejection_audit.h): the sender may
// be an impostor holding a stolen certificate, and learns nothing.
#include <spdlog/spdlog.h>

#include "common/bytes.h"
#include "daemon/tunnel.h"
#include "policy/subject_of.h"

namespace keymesh::daemon {

void Tunnel::send_keymesh_initiation(Peer& peer, std::uint32_t index) noexcept {
  const LocalIdentity& local = *peer.local;
  std::size_t written = 0;
  if (peer.handshake().create_keymesh_initiation(handshake_buffer_, index, wall_now(),
                                               local.chain_bytes, written) !=
      crypto::HandshakeError::None) {
    release_index(index);
    peer.handshake_done();
    return;
  }
  auto bytes = std::span(handshake_buffer_.data(), written);
  peer.cookies().add_macs(bytes, now());
  send_initiation_bytes(peer, bytes);
}

std::shared_ptr<RemoteIdentity> Tunnel::certified_remote(const LocalIdentity& local,
                                                         const crypto::Key& remote_static,
                                                         const udp::Endpoint& from) {
  using policy::AuditEventType;
  if (!trust_) {
    drop(DropReason::UnsupportedHandshake);
    return nullptr;
  }
  auto validated = trust_->validate(ByteSpan(payload_.data(), payload_.size()), wall_now());
  if (!validated) {
    drop(DropReason::CertificateRejected);
    audit_rejection(AuditEventType::kCertificateRejected, &local, nullptr,
                    "handshake from key " + to_base64(remote_static).substr(0, 8) + ": " +
                        validated.error().message,
                    from);
    return nullptr;
  }
  if (auto same = identity::check_static_key(*validated, remote_static); !same) {
    drop(DropReason::CertificateKeyMismatch);
    RemoteIdentity claimed;
    claimed.name = validated->name;
    claimed.cert = std::move(*validated);
    audit_rejection(AuditEventType::kHandshakeRejected, &local, &claimed, same.error().message,
                    from);
    return nullptr;
  }
  // Nothing is stored yet: the caller commits with learn_remote() once every check passed.
  if (auto known = remotes_.find(validated->public_key);
      known != remotes_.end() && known->second &&
      known->second->cert.fingerprint == validated->fingerprint)
    return known->second;
  auto fresh = std::make_shared<RemoteIdentity>();
  fresh->name = validated->name;
  fresh->public_key = validated->public_key;
  fresh->certified = true;
  fresh->subject = policy::subject_from(*validated);
  fresh->networks = validated->networks;
  fresh->source = "handshake";
  fresh->cert = std::move(*validated);
  return fresh;
}

bool Tunnel::remote_admitted(const LocalIdentity& local, const RemoteIdentity& remote,
                             const udp::Endpoint& from) {
  if (!path_granted(local, remote, nullptr)) {
    drop(DropReason::PathNotGranted);
    audit_refused(local, remote);
    return false;
  }
  if (auto why = owners_.refusal(remote.cert, wall_now())) {
    drop(DropReason::AddressNotOwned);
    audit_rejection(policy::AuditEventType::kHandshakeRejected, &local, &remote, *why, from);
    return false;
  }
  return true;
}

void Tunnel::refuse_initiation(HandshakeGuard::Admit why, const udp::Endpoint& from) noexcept {
  if (why == HandshakeGuard::Admit::Repeated) {
    drop(DropReason::HandshakeRepeated);
    return audit_rejection(policy::AuditEventType::kHandshakeRejected, nullptr, nullptr,
                           "initiation repeated byte for byte (a replay)", from);
  }
  drop(DropReason::HandshakeRateLimited);
  audit_rejection(policy::AuditEventType::kHandshakeRejected, nullptr, nullptr,
                  "initiations over the per-source rate limit", from);
}

bool Tunnel::initiation_admitted(crypto::CookieChecker& checker, std::span<std::uint8_t> msg,
                                 const std::uint8_t* sender, const udp::Endpoint& from) noexcept {
  const auto admitted = guard_->admit(crypto::mac1_of(msg), from, now(), [&] {
    return checker.check_mac2(msg, cookie_source_of(from), now());
  });
  switch (admitted) {
    case HandshakeGuard::Admit::Yes: break;
    case HandshakeGuard::Admit::SendCookie: {
      crypto::MessageCookieReply reply;
      checker.create_reply(reply, msg, load_le32(sender), cookie_source_of(from), now());
      send_reply(from, std::span(reinterpret_cast<const std::uint8_t*>(&reply), sizeof reply));
      ++cookies_sent_;
      [[fallthrough]];
    }
    case HandshakeGuard::Admit::Repeated:
    case HandshakeGuard::Admit::RateLimited: refuse_initiation(admitted, from); return false;
  }
  // Counted towards the global load only once the source is within its share: one loud
  // source alone does not make every peer pay the cookie round trip.
  return !cookie_demanded(checker, msg, sender, from);
}

void Tunnel::audit_rejection(policy::AuditEventType type, const LocalIdentity* local,
                             const RemoteIdentity* remote, std::string_view reason,
                             const udp::Endpoint& from) noexcept {
  if (audit_ == nullptr) return;
  try {
    const std::string source = from.address().to_string();  // IPv4: no allocation (SSO)
    const WallTime t = wall_now();
    if (rejections_.count_quiet(source, t)) return;
    policy::AuditEvent e;
    e.time = t;
    e.event = type;
    if (local) e.local = policy::AuditParty{local->name, local->cert.fingerprint, local->cert.groups};
    if (remote)
      e.remote = policy::AuditParty{remote->name, remote->cert.fingerprint, remote->cert.groups};
    e.reason = std::string(reason) + " (from " + source + ")";
    if (auto line = rejections_.admit(source, std::move(e))) audit_->record(*line);
  } catch (...) {
    // Out of memory while formatting: the refusal stands, the line is lost.
  }
}

void Tunnel::receive_keymesh_initiation(std::span<std::uint8_t> msg,
                                        const udp::Endpoint& from) {
  const auto hint = crypto::keymesh_receiver_hint(msg);
  const auto candidates = locals_by_hint_.find(load_le32(hint.data()));
  if (candidates == locals_by_hint_.end()) return drop(DropReason::Mac1Invalid);
  if (const auto a = guard_->screen(crypto::mac1_of(msg), crypto::mac2_of(msg), from, now());
      a != HandshakeGuard::Admit::Yes)
    return refuse_initiation(a, from);
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
  if (!initiation_admitted(local->cookie_checker, msg, header.sender, from)) return;

  crypto::ConsumedInitiation consumed;
  if (auto e = crypto::consume_keymesh_initiation(local->statics, msg, consumed, payload_);
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));
  // Replay and flood memory per (local identity, remote key), before the chain work.
  const crypto::Key& local_key = local->statics.public_key;
  if (auto e = guard_->check(local_key, consumed.remote_static, consumed.timestamp, now(),
                             wall_now());
      e != crypto::HandshakeError::None) {
    drop(drop_for(e));
    return audit_rejection(policy::AuditEventType::kHandshakeRejected, local, nullptr,
                           e == crypto::HandshakeError::Flood
                               ? "initiations from key " +
                                     to_base64(consumed.remote_static).substr(0, 8) +
                                     " closer together than 20 ms"
                               : "replayed or stale initiation from key " +
                                     to_base64(consumed.remote_static).substr(0, 8),
                           from);
  }
  auto candidate = certified_remote(*local, consumed.remote_static, from);
  if (!candidate || !remote_admitted(*local, *candidate, from)) return;
  const crypto::Timestamp timestamp = consumed.timestamp;
  if (!guard_->commit(local_key, consumed.remote_static, timestamp, now()))
    return drop(DropReason::HandshakeFlood);  // replay table full: cannot guard, so refuse
  auto remote = learn_remote(std::move(candidate), from);
  Peer* peer = path_for(*local, const_cast<RemoteIdentity&>(*remote));
  if (peer == nullptr) return;  // counted by path_for
  attach_remote(*peer, remote);
  if (yields_to_own_initiation(*peer, from)) return drop(DropReason::HandshakeCrossed);
  if (auto e = peer->handshake().accept_initiation(std::move(consumed), now());
      e != crypto::HandshakeError::None) {
    peer->handshake_done();
    return drop(drop_for(e));
  }

  crypto::SessionKeys keys;
  std::size_t written = 0;
  const std::uint32_t index = allocate_index(*peer);
  if (auto e = peer->handshake().create_keymesh_response(handshake_buffer_, index,
                                                       local->chain_bytes, keys, written);
      e != crypto::HandshakeError::None) {
    release_index(index);
    peer->handshake_done();
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
  if (!peer.keymesh || peer.pending_initiation() != index)
    return drop(DropReason::UnexpectedResponse);
  LocalIdentity& local = *peer.local;
  if (!local.cookie_checker.check_mac1(msg)) return drop(DropReason::Mac1Invalid);
  if (cookie_demanded(local.cookie_checker, msg, header.sender, from)) return;

  crypto::SessionKeys keys;
  if (auto e = peer.handshake().consume_keymesh_response(msg, keys, payload_);
      e != crypto::HandshakeError::None)
    return drop(drop_for(e));
  peer.handshake_done();
  // The Noise work proved the responder holds the key we addressed; its chain must name that
  // key, chain to our roots, still be granted by policy under what it says, and not be an
  // older certificate for an address a newer one holds.
  auto candidate = certified_remote(local, peer.public_key, from);
  if (!candidate) return;
  if (!remote_admitted(local, *candidate, from))
    return close_path(peer, "the responder's certificate is not granted or does not own its "
                            "address");
  attach_remote(peer, learn_remote(std::move(candidate), from));
  initiator_completed(peer, std::move(keys), from);
}

}  // namespace keymesh::daemon
