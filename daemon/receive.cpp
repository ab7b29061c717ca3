// The outside-to-inside path: a UDP datagram becomes an inside packet, or a handshake step.
//
//  1. receive_outside: type and exact length (crypto::classify); anything else is dropped
//     (a NAT punch, nat.cpp, as `nat_punch`; the rest as `malformed_message`).
//     A relay envelope (relay.cpp) is unwrapped or forwarded; its inner message comes back here.
//  2. Handshake messages go to the handshake driver (handshake.cpp): mac1 for the local
//     identity, cookie under load, DH, peer lookup, replay and flood checks.
//  3. Data: receiver index -> peer and keypair; replay pre-check, open in place, replay
//     commit (all inside crypto::open_data, so a forgery never moves the window).
//  4. The first data under a responder's fresh keypair confirms the handshake: promote it,
//     flush staged packets. Any authenticated packet updates the endpoint (roaming).
//  5. A keepalive ends here. Otherwise the inner source must lie in the sender's allowed IPs
//     (cryptokey routing: a raw peer's configured ones, a path's certificate networks). On a
//     path the destination must be the path's local identity, and the packet must pass
//     connection tracking and policy; so must a raw peer's when a policy file is configured
//     (raw_policy.cpp). The packet, without padding, goes to the device.
#include <spdlog/spdlog.h>

#include "common/bytes.h"
#include "daemon/ip_packet.h"
#include "daemon/tunnel.h"
#include "policy/packet.h"

namespace keymesh::daemon {

void Tunnel::receive_outside(std::span<std::uint8_t> datagram,
                             const udp::Endpoint& from) noexcept {
  if (is_relay_envelope(datagram)) return receive_envelope(datagram, from);  // relay.cpp
  switch (crypto::classify(datagram)) {
    case crypto::MessageKind::Initiation: return receive_initiation(datagram, from);
    case crypto::MessageKind::Response: return receive_response(datagram, from);
    case crypto::MessageKind::CookieReply: return receive_cookie_reply(datagram);
    case crypto::MessageKind::Data: return receive_data(datagram, from);
    case crypto::MessageKind::KeymeshInitiation:
      return receive_keymesh_initiation(datagram, from);
    case crypto::MessageKind::KeymeshResponse: return receive_keymesh_response(datagram, from);
    case crypto::MessageKind::Invalid: break;
  }
  if (datagram.size() == 1 && datagram[0] == kPunchByte) return drop(DropReason::NatPunch);
  drop(DropReason::MalformedMessage);
}

void Tunnel::receive_data(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept {
  const auto* header = reinterpret_cast<const crypto::MessageDataHeader*>(msg.data());
  const std::uint32_t index = load_le32(header->receiver);
  const auto it = index_table_.find(index);
  if (it == index_table_.end()) return drop(DropReason::UnknownIndex);
  Peer& peer = *it->second;
  crypto::Keypair* kp = peer.keypairs.by_local_index(index);
  if (kp == nullptr) return drop(DropReason::UnknownIndex);

  std::span<std::uint8_t> plain;
  switch (crypto::open_data(*kp, msg, now(), &plain, key_limits())) {
    case crypto::OpenResult::Ok: break;
    case crypto::OpenResult::Replayed: return drop(DropReason::DataReplayed);
    case crypto::OpenResult::KeyExpired: return drop(DropReason::KeyExpired);
    case crypto::OpenResult::AuthFailed:
    case crypto::OpenResult::BadPadding: return drop(DropReason::DataAuthFailed);
  }

  std::optional<std::uint32_t> evicted;
  if (peer.keypairs.received_with(kp, &evicted)) {
    if (evicted) release_index(*evicted);
    handshake_completed(peer, false);
  }
  update_endpoint(peer, from);
  peer.rx_bytes += msg.size();
  ++counters_.rx_packets;
  counters_.rx_bytes += msg.size();
  timers_any_authenticated_packet_received(peer);
  timers_any_authenticated_packet_traversal(peer);
  keep_key_fresh_on_receive(peer, *kp);
  if (!peer.staged.empty()) send_staged(peer);
  if (plain.empty()) return;  // keepalive

  const IpHeaderView ip = parse_ip_header(plain);
  if (ip.version == 0) return drop(DropReason::InnerMalformed);
  if (peer.keymesh) {
    if (!inbound_allowed(peer, ip, plain.first(ip.total_length))) return;
  } else {
    const Peer* owner =
        ip.version == 4 ? allowed_ips_.lookup_v4(ip.src) : allowed_ips_.lookup_v6(ip.src);
    if (owner != &peer) return drop(DropReason::SourceNotAllowed);
    if (peer.raw_policy ? !raw_policy_allows(peer, ip, plain.first(ip.total_length), true)
                        : !raw_unpoliced_allows(ip, true))
      return;  // counted (and audited under policy)
  }
  if (!device_.write(plain.first(ip.total_length))) return drop(DropReason::TunWriteFailed);
  timers_data_received(peer);
}

bool Tunnel::inbound_allowed(Peer& peer, const IpHeaderView& ip,
                             std::span<const std::uint8_t> packet) noexcept {
  IpAddress src, dst;
  src.family = dst.family = ip.version == 4 ? AF_INET : AF_INET6;
  const std::size_t n = ip.version == 4 ? 4 : 16;
  std::memcpy(src.bytes.data(), ip.src, n);
  std::memcpy(dst.bytes.data(), ip.dst, n);
  bool source_ok = false;
  for (const auto& prefix : peer.allowed_ips) source_ok |= prefix.contains(src);
  if (!source_ok) {
    drop(DropReason::SourceNotAllowed);
    return false;
  }
  // A path carries traffic for its own local identity only: a peer granted access to one
  // workload must not reach its neighbours through that path.
  if (local_routes_.lookup(dst) != peer.local) {
    drop(DropReason::DestinationNotAllowed);
    return false;
  }
  const auto view = policy::parse_packet(packet);
  const auto verdict = peer.conntrack->on_inbound(view, now(), wall_now());
  if (policy::allowed(verdict)) return true;
  drop(DropReason::PolicyDenied);
  audit_denied(peer, nullptr, view, verdict, true);
  return false;
}

void Tunnel::keep_key_fresh_on_receive(Peer& peer, const crypto::Keypair& kp) noexcept {
  // The initiator renews a little before the responder would stop accepting the key, so a
  // one-way flow never runs into KeyExpired (WireGuard's keep_key_fresh on receive).
  if (!kp.initiator || &kp != peer.keypairs.current()) return;
  const auto margin = timers_.keepalive_timeout + timers_.rekey_timeout;
  if (now() - kp.created > timers_.reject_after_time - margin) send_initiation(peer, false);
}

}  // namespace keymesh::daemon
