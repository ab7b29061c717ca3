// Relaying (daemon/relay.h has the design): the envelope, the relay's forwarding decision, and
// the tunnel's side of it:
//
//  in:   receive_outside -> receive_envelope: an envelope for us is unwrapped and its inner
//        message handled as any other, with `relay_.rx` telling the handshake code to answer
//        through the relay and update_endpoint (note_authenticated_source) that the packet
//        came relayed. An envelope for another host goes to forward_envelope (relay only).
//  out:  commit_to_peer wraps sealed data of a relayed path; send_via_relays sends a
//        handshake initiation through the path's relay and, once the direct attempt has had
//        kRelayFallbackAfter, through every relay the remote's record names.
//  tick: the fallback timer, direct probes of relayed paths, paths with our own relays,
//        the relay's key-id table and the path-MTU report.
#include "daemon/relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/bytes.h"
#include "daemon/daemon_impl.h"
#include "daemon/tunnel.h"

namespace keymesh::daemon {

namespace {
constexpr auto kUpkeepInterval = std::chrono::seconds(1);
constexpr auto kPathMtuLogInterval = std::chrono::seconds(10);

long long millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
}  // namespace

// ---- tunnel: configuration ----

void Tunnel::set_relaying(bool enabled, std::vector<IpAddress> own_relays) {
  relay_.enabled = enabled;
  relay_.own_relays = std::move(own_relays);
}

void Tunnel::set_remote_relays(const crypto::Key& remote, std::vector<IpAddress> relays,
                               const crypto::Key& host_key) {
  if (relays.empty()) {
    relay_.remotes.erase(remote);
    return;
  }
  relay_.remotes[remote] = RelayState::RemoteRelays{std::move(relays), host_key};
}

// ---- tunnel: in ----

void Tunnel::receive_envelope(std::span<std::uint8_t> datagram,
                              const udp::Endpoint& from) noexcept {
  const auto envelope = parse_relay_envelope(datagram);
  if (!envelope) return drop(DropReason::RelayMalformed);
  if (envelope->target != key_id(host_->statics.public_key))
    return forward_envelope(*envelope, datagram, from);
  // For us. Nothing about the envelope is trusted: the inner message authenticates itself,
  // and the sender key id only says where answers go (a wrong one loses the answer).
  const auto kind = crypto::classify(envelope->inner);
  relay_.rx = RelayState::Rx{from, envelope->sender,
                             kind == crypto::MessageKind::KeymeshInitiation ||
                                 kind == crypto::MessageKind::KeymeshResponse ||
                                 kind == crypto::MessageKind::Initiation ||
                                 kind == crypto::MessageKind::Response};
  receive_outside(envelope->inner, from);
  relay_.rx.reset();
}

bool Tunnel::path_live(Peer& peer) const noexcept {
  const crypto::Keypair* kp = peer.keypairs.current();
  return kp != nullptr && peer.endpoint.valid() && !peer.relay.via &&
         now() - kp->created < timers_.reject_after_time;
}

void Tunnel::forward_envelope(const RelayEnvelope& envelope,
                              std::span<const std::uint8_t> datagram,
                              const udp::Endpoint& from) noexcept {
  if (!relay_.enabled) return drop(DropReason::RelayDisabled);
  const auto state = [this](KeyId id, RelayPathState& out) -> const RelayPathState* {
    auto k = relay_.key_ids.find(id);
    if (k == relay_.key_ids.end()) return nullptr;
    auto p = host_->paths.find(k->second);
    if (p == host_->paths.end()) return nullptr;
    out.endpoint = p->second->endpoint;
    out.live = path_live(*p->second);
    return &out;
  };
  if (relay_.key_ids_built_for != host_->paths.size() &&
      (!relay_.key_ids.contains(envelope.sender) || !relay_.key_ids.contains(envelope.target))) {
    // A path opened since the last rebuild (control path: allocates, once per change).
    try {
      relay_.key_ids.clear();
      for (const auto& [key, peer] : host_->paths) relay_.key_ids[key_id(key)] = key;
      relay_.key_ids_built_for = host_->paths.size();
    } catch (...) {
    }
  }
  RelayPathState s, t;
  const RelayDecision decision = decide_relay(relay_.enabled, envelope, from,
                                              state(envelope.sender, s), state(envelope.target, t));
  if (decision.refused) return drop(*decision.refused);
  bind_.send(decision.to, datagram);
  ++relay_.forwarded.packets;
  relay_.forwarded.bytes += datagram.size();
  const auto pair = std::pair{envelope.sender, envelope.target};
  auto it = relay_.pairs.find(pair);
  if (it == relay_.pairs.end() && relay_.pairs.size() < kMaxRelayPairs) {
    try {
      it = relay_.pairs.emplace(pair, RelayState::Count{}).first;  // once per pair
    } catch (...) {
    }
  }
  if (it != relay_.pairs.end()) {
    ++it->second.packets;
    it->second.bytes += datagram.size();
  }
}

bool Tunnel::note_authenticated_source(Peer& peer, const udp::Endpoint& from) noexcept {
  if (!peer.keymesh) return true;
  auto& r = peer.relay;
  if (relay_.rx) {
    // Prefer direct: relayed data does not move a path that works directly. A handshake
    // that completed through the relay does: its direct copy never arrived.
    if (!relay_.rx->handshake && !r.via && r.last_direct &&
        now() - *r.last_direct < kDirectFresh)
      return false;
    if (!r.via || !(*r.via == relay_.rx->relay) || r.target != relay_.rx->sender) {
      spdlog::info("path {} <-> {}: relayed via {}", peer.local ? peer.local->name : "host",
                   peer.name, relay_.rx->relay.to_string());
      r.via = relay_.rx->relay;
      r.target = relay_.rx->sender;
      r.next_probe = now() + kDirectProbeInterval;
    }
    return false;
  }
  r.last_direct = now();
  if (r.via) {
    spdlog::info("path {} <-> {}: direct again at {} (was relayed via {})",
                 peer.local ? peer.local->name : "host", peer.name, from.to_string(),
                 r.via->to_string());
    r.via.reset();
    r.fallback = false;
  }
  return true;
}

// ---- tunnel: out ----

bool Tunnel::send_enveloped(const udp::Endpoint& relay, KeyId target,
                            std::span<const std::uint8_t> bytes) noexcept {
  auto buffer = bind_.prepare_send(bytes.size() + kRelayEnvelopeSize);
  if (buffer.size() < bytes.size() + kRelayEnvelopeSize) {
    drop(DropReason::SendBufferUnavailable);
    return false;
  }
  write_relay_envelope(buffer, key_id(host_->statics.public_key), target);
  std::memcpy(buffer.data() + kRelayEnvelopeSize, bytes.data(), bytes.size());
  bind_.commit_send(relay, bytes.size() + kRelayEnvelopeSize);
  return true;
}

void Tunnel::commit_to_peer(Peer& peer, std::span<std::uint8_t> buffer, std::size_t size) noexcept {
  if (!peer.relay.via) return bind_.commit_send(peer.endpoint, size);
  if (buffer.size() < size + kRelayEnvelopeSize) return drop(DropReason::PacketTooBig);
  // The message was sealed in place at the front; one move makes room for the envelope.
  std::memmove(buffer.data() + kRelayEnvelopeSize, buffer.data(), size);
  write_relay_envelope(buffer, key_id(host_->statics.public_key), peer.relay.target);
  bind_.commit_send(*peer.relay.via, size + kRelayEnvelopeSize);
}

void Tunnel::send_reply(const udp::Endpoint& from, std::span<const std::uint8_t> bytes) noexcept {
  if (relay_.rx) {
    send_enveloped(relay_.rx->relay, relay_.rx->sender, bytes);
    return;
  }
  bind_.send(from, bytes);
}

void Tunnel::send_via_relays(Peer& peer, std::span<const std::uint8_t> bytes) noexcept {
  if (!peer.keymesh || relay_.probing) return;
  if (peer.relay.via) send_enveloped(*peer.relay.via, peer.relay.target, bytes);
  if (!peer.relay.fallback) return;
  auto it = relay_.remotes.find(peer.public_key);
  if (it == relay_.remotes.end()) return;
  const KeyId target = key_id(it->second.host_key);
  for (const auto& address : it->second.relays) {
    Peer* rp = relay_path(address, false);
    if (rp == nullptr || !path_live(*rp)) continue;  // tick_relays opens it
    if (peer.relay.via && *peer.relay.via == rp->endpoint && peer.relay.target == target)
      continue;  // sent above
    send_enveloped(rp->endpoint, target, bytes);
  }
}

Peer* Tunnel::relay_path(const IpAddress& relay, bool open) noexcept {
  RemoteIdentity* remote = remote_routes_.lookup(relay);
  if (!open) {  // no side effects: callers may be iterating over peers_
    if (remote == nullptr) return nullptr;
    auto it = host_->paths.find(remote->public_key);
    return it == host_->paths.end() ? nullptr : it->second;
  }
  if (remote == nullptr) {
    // Not known yet: ask discovery (the answer arrives through add_remote).
    if (on_route_miss_) {
      try {
        on_route_miss_(relay);
      } catch (...) {
      }
    }
    return nullptr;
  }
  if (remote->public_key == host_->statics.public_key) return nullptr;  // that is us
  Peer* path = path_for(*host_, *remote);  // opened when policy grants host <-> relay
  if (path == nullptr) return nullptr;
  if (path->persistent_keepalive.count() == 0) {
    path->persistent_keepalive = kRelayKeepalive;  // the relay must see us live
    path->persistent_keepalive_at = now();
  }
  if (path->keypairs.current() == nullptr) send_initiation(*path, false);
  return path;
}

// ---- tunnel: timers ----

void Tunnel::tick_relays() noexcept {
  const TimePoint t = now();
  for (auto& p : peers_) {
    Peer& peer = *p;
    if (!peer.keymesh) continue;
    auto& r = peer.relay;
    // An initiation being retransmitted (a completed handshake disarms the timer and leaves a
    // crossed initiation pending without meaning).
    if (peer.pending_initiation() && peer.retransmit_handshake_at) {
      if (!r.pending_since) {
        r.pending_since = t;
      } else if (!r.fallback && !r.via && t - *r.pending_since >= kRelayFallbackAfter &&
                 !(r.last_direct && t - *r.last_direct < kRelayFallbackAfter) &&
                 relay_.remotes.contains(peer.public_key)) {
        // (Something that came directly just now means direct works: this handshake crossed.)
        r.fallback = true;
        relay_.open_wanted = true;  // paths with its relays, after this loop
        spdlog::info("path {} <-> {}: no direct answer after {} ms, trying its relays",
                     peer.local ? peer.local->name : "host", peer.name,
                     millis(t - *r.pending_since));
        send_initiation(peer, true);
      }
    } else {
      r.pending_since.reset();
      r.fallback = false;
    }
    if (r.via && r.next_probe && t >= *r.next_probe) {
      // Try direct again: a handshake to every endpoint (and through the relay), after a
      // punch. The first authenticated packet that arrives directly moves the path.
      r.next_probe = t + kDirectProbeInterval;
      // The directory's latest word on where the remote is (it may have learned a new
      // public endpoint since the path opened).
      if (auto it = remotes_.find(peer.public_key);
          it != remotes_.end() && it->second && !it->second->endpoints.empty())
        peer.endpoint = it->second->endpoints.front();
      if (on_direct_probe_ && peer.remote) on_direct_probe_(*peer.remote);
      // Direct only: were it also relayed, the two sides' crossing probes could complete
      // through the relay and keep the path there. Its retransmits go both ways.
      relay_.probing = true;
      send_initiation(peer, false);
      relay_.probing = false;
    }
  }
  if (t < relay_.next_upkeep && !relay_.open_wanted) return;
  relay_.next_upkeep = t + kUpkeepInterval;
  relay_.open_wanted = false;
  for (const auto& address : relay_.own_relays) (void)relay_path(address, true);
  // The relays of remotes whose handshakes fell back to relaying (opening a path appends to
  // peers_, so not inside the loop above).
  try {
    std::vector<IpAddress> wanted;
    for (const auto& p : peers_)
      if (p->keymesh && p->relay.fallback)
        if (auto it = relay_.remotes.find(p->public_key); it != relay_.remotes.end())
          wanted.insert(wanted.end(), it->second.relays.begin(), it->second.relays.end());
    for (const auto& address : wanted) (void)relay_path(address, true);
  } catch (...) {
  }
  if (relay_.enabled) {
    try {
      relay_.key_ids.clear();
      for (const auto& [key, peer] : host_->paths) relay_.key_ids[key_id(key)] = key;
      relay_.key_ids_built_for = host_->paths.size();
    } catch (...) {
    }
  }
  report_path_mtu();
}

void Tunnel::report_path_mtu() noexcept {
  const std::uint64_t n = bind_.too_big_errors();
  if (n == relay_.too_big_seen) return;
  if (relay_.too_big_logged && now() - *relay_.too_big_logged < kPathMtuLogInterval) return;
  spdlog::warn("path MTU: {} datagram(s) refused as too big for the path (EMSGSIZE, counted as "
               "path_mtu_exceeded); inner packets over the learned path MTU are answered with ICMP "
               "too-big (too_big_for_path); interface mtu {}",
               n - relay_.too_big_seen, mtu_);
  relay_.too_big_seen = n;
  relay_.too_big_logged = now();
}

// ---- tunnel: status ----

void Tunnel::describe_relay(const Peer& peer, proto::PeerStatus& out) const {
  if (!peer.relay.via) return;
  out.set_relay(peer.relay.via->to_string());
  for (const auto& [key, path] : host_->paths)
    if (path != &peer && path->endpoint == *peer.relay.via && !path->relay.via) {
      out.set_relay_name(path->name);
      break;
    }
}

void Tunnel::describe_relaying(proto::StatusReply& out) const {
  auto* r = out.mutable_relay();
  r->set_enabled(relay_.enabled);
  r->set_forwarded_packets(relay_.forwarded.packets);
  r->set_forwarded_bytes(relay_.forwarded.bytes);
  for (const auto& a : relay_.own_relays) r->add_relays(a.to_string());
  const auto name = [this](KeyId id) {
    if (auto k = relay_.key_ids.find(id); k != relay_.key_ids.end())
      if (auto p = host_->paths.find(k->second); p != host_->paths.end()) return p->second->name;
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return std::string(buf);
  };
  for (const auto& [pair, count] : relay_.pairs) {
    auto* p = r->add_pairs();
    p->set_from(name(pair.first));
    p->set_to(name(pair.second));
    p->set_packets(count.packets);
    p->set_bytes(count.bytes);
  }
}

// ---- daemon side ----

void Daemon::Impl::open_relaying() {
  tunnel->set_relaying(config.relay, config.relays);
  if (config.relay) spdlog::info("relay: forwarding envelopes between peers with live paths");
  for (const auto& a : config.relays) spdlog::info("relay: keeping a path with relay {}", a.to_string());
  tunnel->set_direct_probe([this](const RemoteIdentity& remote) {
    if (!lighthouse_client) return;
    auto fp = identity::parse_fingerprint(remote.cert.fingerprint);
    if (!fp) return;
    std::optional<discovery::Fingerprint> requester;
    if (const LocalIdentity* host = tunnel->local_identities().front(); host && host->certified)
      requester = identity::parse_fingerprint(host->cert.fingerprint);
    lighthouse_client->request_punch(*fp, requester);
  });
}

void Daemon::Impl::relay_fields(discovery::Record& record) const {
  record.relay = config.relay;
  record.relays = config.relays;
  record.host_key = tunnel->public_key();
}

void Daemon::Impl::learn_relays(const discovery::Record& record) {
  if (record.host_key) tunnel->set_remote_relays(record.public_key, record.relays, *record.host_key);
}

}  // namespace keymesh::daemon
