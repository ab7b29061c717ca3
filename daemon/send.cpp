// The inside-to-outside path: a packet the kernel routed into the TUN device leaves as a
// WireGuard data message.
//
//  1. pump_inside: reserve room in the bind's send batch and read the packet from the device
//     straight into it, behind the 16-byte data header, so sealing happens in place.
//  2. send_inside_packet: parse the IP header. A raw-key peer whose allowed IPs hold the
//     destination takes it as in WireGuard (with a policy file, after policy and connection
//     tracking: raw_policy.cpp). Otherwise the source address names the local
//     identity, and the destination either another local identity (deliver_local: policy,
//     then back into the device) or a remote one.
//  3. path_for (paths.cpp): the path between the two, opened when policy grants anything
//     between them; then the packet itself must pass connection tracking and policy.
//  4. transmit: no usable keypair yet: stage a copy and start a handshake (handshake.cpp).
//  5. Seal under the current keypair with the next counter (crypto/keypair.h) and commit the
//     datagram to the peer's endpoint; the batch is flushed after the pump.
//  6. Timer hooks, then keep_key_fresh_on_send: start a rekey when the key is old or used a lot.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>  // repeat_route_misses

#include "daemon/ip_packet.h"
#include "daemon/tunnel.h"
#include "policy/packet.h"

namespace keymesh::daemon {

namespace {
// Packets waiting for discovery, all destinations together, and how long one may wait (a
// lighthouse answers in one round trip; three tries at one second each fit).
constexpr std::size_t kMaxUnrouted = 256;
constexpr auto kUnroutedWait = std::chrono::seconds(3);
// Fair shares of that queue and of the directory's lookups (20 new queries a second node-wide,
// docs/discovery.md): one local identity holds at most a quarter of the waiting packets and
// starts at most 5 lookups a second (bursts of 10), so one workload sending to addresses
// nobody holds cannot crowd out the others' misses.
constexpr std::size_t kMaxUnroutedPerSource = kMaxUnrouted / 4;
constexpr double kMissLookupsPerSecond = 5;
constexpr double kMissLookupBurst = 10;

// Room a data message needs around an inside packet of up to `mtu` bytes: header in front,
// padding (at most 15) and tag behind, and a relay envelope (relay.cpp moves the message
// behind it when the path is relayed).
std::size_t message_capacity(std::size_t mtu) {
  return sizeof(crypto::MessageDataHeader) + mtu + crypto::kPaddingMultiple +
         crypto::kTagSize + kRelayEnvelopeSize;
}
}  // namespace

void Tunnel::pump_inside(std::size_t budget) noexcept {
  constexpr std::size_t kHeader = sizeof(crypto::MessageDataHeader);
  refresh_now();
  for (; budget > 0; --budget) {
    auto buffer = bind_.prepare_send(message_capacity(mtu_));
    if (buffer.empty()) {
      drop(DropReason::SendBufferUnavailable);
      break;
    }
    const long n = device_.read(buffer.subspan(kHeader, mtu_));
    if (n == -EMSGSIZE) {
      drop(DropReason::PacketTooBig);
      continue;
    }
    if (n <= 0) break;
    send_inside_packet(buffer, std::size_t(n));
  }
  bind_.flush();
  learn_path_mtu();
  // deliver_local and ICMP too-big answers went back into the device, which may buffer them.
  device_.flush();
}

void Tunnel::send_inside_packet(std::span<std::uint8_t> buffer, std::size_t size) noexcept {
  constexpr std::size_t kHeader = sizeof(crypto::MessageDataHeader);
  const auto packet = buffer.subspan(kHeader, size);
  const IpHeaderView ip = parse_ip_header(packet);
  if (ip.version == 0) return drop(DropReason::InsideMalformed);
  const bool v4 = ip.version == 4;
  if (Peer* raw = v4 ? allowed_ips_.lookup_v4(ip.dst) : allowed_ips_.lookup_v6(ip.dst)) {
    if (raw->raw_policy ? !raw_policy_allows(*raw, ip, packet.first(ip.total_length), false)
                        : !raw_unpoliced_allows(ip, false))
      return;  // counted (and audited under policy)
    return transmit(*raw, buffer, packet);
  }

  LocalIdentity* local = v4 ? local_routes_.lookup_v4(ip.src) : local_routes_.lookup_v6(ip.src);
  if (local == nullptr) return drop(DropReason::NoLocalIdentity);
  if (LocalIdentity* to = v4 ? local_routes_.lookup_v4(ip.dst) : local_routes_.lookup_v6(ip.dst))
    return deliver_local(*local, *to, packet);
  RemoteIdentity* remote = v4 ? remote_routes_.lookup_v4(ip.dst) : remote_routes_.lookup_v6(ip.dst);
  if (remote == nullptr) return wait_for_route(*local, packet.first(ip.total_length), ip);
  Peer* peer = path_for(*local, *remote);
  if (peer == nullptr) return;  // counted (and audited) by path_for
  const auto view = policy::parse_packet(packet.first(ip.total_length));
  const auto verdict = peer->conntrack->on_outbound(view, now(), wall_now());
  if (!policy::allowed(verdict)) {
    drop(DropReason::PolicyDenied);
    return audit_denied(*peer, local, view, verdict, false);
  }
  transmit(*peer, buffer, packet);
}

void Tunnel::wait_for_route(LocalIdentity& from, std::span<const std::uint8_t> packet,
                            const IpHeaderView& ip) noexcept {
  // The miss path, not the fast path: it may allocate (one copy per waiting packet).
  if (!on_route_miss_) return drop(DropReason::NoRoute);
  try {
    // Over its share, a source loses its own oldest packet; when the queue is full, the
    // source holding the most loses its oldest (never the others first).
    LocalIdentity* evict = nullptr;
    if (from.unrouted >= kMaxUnroutedPerSource) {
      evict = &from;
    } else if (unrouted_.size() >= kMaxUnrouted) {
      std::size_t most = 0;
      for (const auto& l : locals_)
        if (l->unrouted > most) most = l->unrouted, evict = l.get();
    }
    if (evict != nullptr) {
      auto oldest = std::find_if(unrouted_.begin(), unrouted_.end(),
                                 [&](const Unrouted& u) { return u.from == evict; });
      if (oldest != unrouted_.end()) {
        unrouted_.erase(oldest);
        --evict->unrouted;
      }
      drop(DropReason::NoRoute);
    }
    unrouted_.push_back({std::vector<std::uint8_t>(packet.begin(), packet.end()), now(), &from});
    ++from.unrouted;
    // Without a token it waits; repeat_route_misses asks again at the next tick.
    if (take_lookup_token(from)) on_route_miss_(destination_of(ip));
  } catch (...) {
    drop(DropReason::NoRoute);
  }
}

bool Tunnel::take_lookup_token(LocalIdentity& from) noexcept {
  const TimePoint t = now();
  if (!from.miss_refilled) from.miss_tokens = kMissLookupBurst;
  else
    from.miss_tokens = std::min(kMissLookupBurst,
                                from.miss_tokens + kMissLookupsPerSecond *
                                    std::chrono::duration<double>(t - *from.miss_refilled).count());
  from.miss_refilled = t;
  if (from.miss_tokens < 1) return false;
  from.miss_tokens -= 1;
  return true;
}

void Tunnel::await_endpoint(Peer& peer, std::span<const std::uint8_t> packet) noexcept {
  // A path to a remote that no directory placed and whose handshakes we never saw (or saw on
  // a path long closed): keep the packet and ask the directory where it is. Its answer
  // (add_remote -> give_endpoint_to_paths) starts the handshake and the packet goes with it.
  if (!peer.keymesh) return drop(DropReason::NoEndpoint);  // a raw peer says where it is
  if (!peer.staged.push(packet)) drop(DropReason::StagedQueueFull);
  if (!on_route_miss_ || peer.local == nullptr || !take_lookup_token(*peer.local)) return;
  try {
    on_route_miss_(destination_of(parse_ip_header(packet)));
  } catch (...) {
    // The lookup could not be queued: the packet stays staged, and the next one asks again.
  }
}

void Tunnel::repeat_route_misses() noexcept {
  if (unrouted_.empty() || !on_route_miss_) return;
  try {
    // Collected first: a hit routes the packets (add_remote -> retry_unrouted) meanwhile.
    std::vector<IpAddress> destinations;
    std::unordered_map<const void*, std::size_t> asked;  // per source: its fair share again
    for (const auto& u : unrouted_) {
      if (now() - u.since >= kUnroutedWait) continue;
      const IpAddress dst = destination_of(parse_ip_header(u.packet));
      if (std::find(destinations.begin(), destinations.end(), dst) != destinations.end()) continue;
      if (asked[u.from] >= std::size_t(kMissLookupBurst)) continue;
      ++asked[u.from];
      destinations.push_back(dst);  // at most kMaxUnrouted
    }
    for (const auto& d : destinations) on_route_miss_(d);
  } catch (...) {
    drop(DropReason::NoRoute);
  }
}

void Tunnel::retry_unrouted() noexcept {
  constexpr std::size_t kHeader = sizeof(crypto::MessageDataHeader);
  std::deque<Unrouted> waiting;
  waiting.swap(unrouted_);
  for (auto& u : waiting) {
    const IpHeaderView ip = parse_ip_header(u.packet);
    const bool v4 = ip.version == 4;
    const bool routed = (v4 ? remote_routes_.lookup_v4(ip.dst) : remote_routes_.lookup_v6(ip.dst));
    if (!routed && now() - u.since < kUnroutedWait) {
      unrouted_.push_back(std::move(u));  // still waiting: its source's count stays
      continue;
    }
    --u.from->unrouted;
    if (!routed) {
      drop(DropReason::NoRoute);
      continue;
    }
    auto buffer = bind_.prepare_send(message_capacity(mtu_));
    if (buffer.empty() || u.packet.size() > mtu_) {
      drop(DropReason::SendBufferUnavailable);
      continue;
    }
    std::memcpy(buffer.data() + kHeader, u.packet.data(), u.packet.size());
    send_inside_packet(buffer, u.packet.size());
  }
  bind_.flush();
}

void Tunnel::deliver_local(LocalIdentity& from, LocalIdentity& to,
                           std::span<const std::uint8_t> packet) noexcept {
  // Same-host traffic between two workloads gets the same check as any other (docs/architecture.md):
  // one tracker per pair, created on first use, from policy compiled for both directions.
  if (&from == &to) return drop(DropReason::NoRoute);  // the kernel routes these itself
  const bool forward = &from < &to;
  LocalIdentity& a = forward ? from : to;
  LocalIdentity& b = forward ? to : from;
  auto it = local_pairs_.find({&a, &b});
  if (it == local_pairs_.end()) {
    try {
      const bool both = a.certified && b.certified;
      auto out = both ? compiled_pair(a.subject, b.subject) : pair_policies_.share({});
      auto in = both ? compiled_pair(b.subject, a.subject) : pair_policies_.share({});
      it = local_pairs_
               .emplace(std::pair{&a, &b},
                        std::make_unique<policy::ConnTrack>(std::move(out), std::move(in)))
               .first;
      if (flow_log_)
        it->second->set_flow_log(flow_log_, {a.name, a.cert.fingerprint, a.cert.groups},
                                 {b.name, b.cert.fingerprint, b.cert.groups});
    } catch (...) {
      return drop(DropReason::PolicyDenied);
    }
  }
  const auto view = policy::parse_packet(packet);
  const auto verdict = forward ? it->second->on_outbound(view, now(), wall_now())
                               : it->second->on_inbound(view, now(), wall_now());
  if (!policy::allowed(verdict)) {
    drop(DropReason::PolicyDenied);
    RemoteIdentity target;  // the receiving workload, described for the audit line
    target.name = to.name;
    target.cert = to.cert;
    target.certified = to.certified;
    return audit(policy::AuditEventType::kPacketDenied, &from, &target, "",
                 policy::describe_denial(verdict, view, from.name, to.name) + " (same host)");
  }
  if (!device_.write(packet)) drop(DropReason::TunWriteFailed);
}

void Tunnel::transmit(Peer& peer, std::span<std::uint8_t> buffer,
                      std::span<std::uint8_t> packet) noexcept {
  if (!peer.endpoint.valid() && !peer.relay.via) return await_endpoint(peer, packet);
  if (over_path_limit(peer, packet)) return;  // answered with ICMP too-big (path_mtu.cpp)
  crypto::Keypair* kp = peer.keypairs.current();
  std::size_t written = 0;
  const auto result = kp == nullptr
                          ? crypto::SealResult::NoKey
                          : crypto::seal_data(*kp, buffer, packet, mtu_, now(), &written,
                                              key_limits());
  if (result != crypto::SealResult::Ok) {
    if (result == crypto::SealResult::TooBig) return drop(DropReason::PacketTooBig);
    // No key, or it may no longer be used: keep the packet until a handshake completes.
    if (!peer.staged.push(packet)) drop(DropReason::StagedQueueFull);
    liveness_sent(peer);  // a handshake nobody answers is a dead path too (liveness.cpp)
    send_initiation(peer, false);
    return;
  }
  commit_to_peer(peer, buffer, written);
  peer.tx_bytes += written;
  ++counters_.tx_packets;
  counters_.tx_bytes += written;
  timers_data_sent(peer);
  timers_any_authenticated_packet_sent(peer);
  timers_any_authenticated_packet_traversal(peer);
  keep_key_fresh_on_send(peer);
}

bool Tunnel::send_data(Peer& peer, std::span<const std::uint8_t> packet) noexcept {
  crypto::Keypair* kp = peer.keypairs.current();
  if (kp == nullptr || (!peer.endpoint.valid() && !peer.relay.via)) return false;
  auto buffer = bind_.prepare_send(message_capacity(std::max(packet.size(), mtu_)));
  if (buffer.empty()) {
    drop(DropReason::SendBufferUnavailable);
    return false;
  }
  if (!packet.empty())  // a keepalive's span may be null, which memcpy must not see
    std::memcpy(buffer.data() + sizeof(crypto::MessageDataHeader), packet.data(), packet.size());
  std::size_t written = 0;
  const auto plain = buffer.subspan(sizeof(crypto::MessageDataHeader), packet.size());
  if (crypto::seal_data(*kp, buffer, plain, mtu_, now(), &written, key_limits()) !=
      crypto::SealResult::Ok)
    return false;
  commit_to_peer(peer, buffer, written);
  peer.tx_bytes += written;
  ++counters_.tx_packets;
  counters_.tx_bytes += written;
  if (!packet.empty()) timers_data_sent(peer);
  timers_any_authenticated_packet_sent(peer);
  timers_any_authenticated_packet_traversal(peer);
  return true;
}

void Tunnel::send_keepalive(Peer& peer) noexcept {
  // Without a usable key the handshake itself is the signal (WireGuard stages the
  // keepalive and initiates).
  if (!send_data(peer, {})) send_initiation(peer, false);
}

void Tunnel::send_staged(Peer& peer) noexcept {
  while (!peer.staged.empty()) {
    if (!send_data(peer, peer.staged.front())) return;
    peer.staged.pop();
  }
  keep_key_fresh_on_send(peer);
}

void Tunnel::keep_key_fresh_on_send(Peer& peer) noexcept {
  const crypto::Keypair* kp = peer.keypairs.current();
  if (kp == nullptr) return;
  const bool worn = kp->send_counter > timers_.rekey_after_messages;
  const bool old = kp->initiator && now() - kp->created > timers_.rekey_after_time;
  if (worn || old) send_initiation(peer, false);
}

}  // namespace keymesh::daemon
