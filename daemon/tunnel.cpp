#include "daemon/tunnel.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/bytes.h"
#include "identity/cert_file.h"
#include "identity/chain.h"

namespace keymesh::daemon {

namespace {
constexpr std::size_t kRxBatch = 64;
constexpr std::size_t kRxBufferSize = 65536;
}  // namespace

// ---- StagedPackets ----

bool StagedPackets::push(std::span<const std::uint8_t> packet) {
  if (size() == crypto::kMaxStagedPackets) return false;
  if (head_ > 0 && slots_.size() == crypto::kMaxStagedPackets) {  // the sent front goes
    slots_.erase(slots_.begin(), slots_.begin() + std::ptrdiff_t(head_));
    head_ = 0;
  }
  slots_.emplace_back(packet.begin(), packet.end());
  return true;
}

std::span<const std::uint8_t> StagedPackets::front() const noexcept { return slots_[head_]; }

void StagedPackets::pop() noexcept {
  if (++head_ == slots_.size()) release();
}

std::size_t StagedPackets::clear() noexcept {
  const std::size_t n = size();
  release();
  return n;
}

void StagedPackets::release() noexcept {
  std::vector<std::vector<std::uint8_t>>().swap(slots_);
  head_ = 0;
}

// ---- Tunnel ----

void describe_identity(const LocalIdentity& local, proto::IdentityInfo& out) {
  out.set_name(local.name);
  out.set_public_key(to_base64(local.statics.public_key));
  out.set_source(local.source);
  out.set_paths(std::uint32_t(local.paths.size()));
  if (local.renew_at)
    out.set_renew_at_unix(
        std::chrono::duration_cast<std::chrono::seconds>(local.renew_at->time_since_epoch())
            .count());
  if (!local.certified) {
    out.set_kind("raw");
    return;
  }
  out.set_kind(std::string(identity::kind_name(local.cert.kind)));
  out.set_fingerprint(local.cert.fingerprint);
  for (const auto& n : local.cert.networks) out.add_networks(n.to_string());
  for (const auto& g : local.cert.groups) out.add_groups(g);
  for (const auto& [k, v] : local.cert.labels) (*out.mutable_labels())[k] = v;
  for (const auto& [k, v] : local.cert.context) (*out.mutable_context())[k] = v;
  out.set_issuer(local.cert.issuer_name);
  out.set_not_after_unix(local.cert.not_after);
  if (auto chain = identity::parse_chain(local.chain_bytes))
    out.set_certificate_chain(identity::armor_certificates(*chain));
}

Tunnel::Tunnel(const Config& config, tun::Device& device, udp::Bind& bind,
               const TimeSource& time)
    : device_(device),
      bind_(bind),
      time_(time),
      now_(time.now()),
      timers_(config.timers),
      under_load_threshold_(config.handshakes_per_second_under_load),
      mtu_(std::size_t(device.mtu())) {
  LocalIdentitySpec host;
  host.name = "host";
  host.private_key.assign(config.private_key.span());
  host.accepts_raw_peers = true;
  host.source = "config";
  (void)add_local_identity(std::move(host));  // cannot fail: no chain, first identity
  handshake_buffer_.resize(crypto::keymesh_initiation_size(crypto::kMaxHandshakePayload));
  for (const auto& pc : config.peers) {
    const crypto::SecretKey* psk = pc.preshared_key ? &*pc.preshared_key : nullptr;
    auto peer = std::make_unique<Peer>(host_->statics, pc.public_key, psk);
    peer->name = pc.name.empty() ? to_base64(pc.public_key).substr(0, 8) : pc.name;
    peer->has_preshared_key = psk != nullptr;
    if (pc.endpoint) peer->endpoint = *pc.endpoint;
    peer->allowed_ips = pc.allowed_ips;
    peer->persistent_keepalive = pc.persistent_keepalive;
    // With a policy file, raw-key peers are policy subjects too (raw_policy.h).
    if (!config.policy_file.empty())
      peer->raw_policy = std::make_unique<RawPeerPolicy>(raw_peer_subject(pc, peer->name));
    for (const auto& prefix : pc.allowed_ips) allowed_ips_.insert(prefix, peer.get());
    peers_by_key_[pc.public_key] = peer.get();
    peers_.push_back(std::move(peer));
  }
  rx_storage_ = std::make_unique_for_overwrite<std::uint8_t[]>(kRxBatch * kRxBufferSize);
  rx_batch_.resize(kRxBatch);
  for (std::size_t i = 0; i < kRxBatch; ++i)
    rx_batch_[i].buffer = std::span<std::uint8_t>(&rx_storage_[i * kRxBufferSize], kRxBufferSize);
  // A peer with persistent keepalive announces itself at start, as wg does, so that a peer
  // behind NAT is reachable before it has anything to say.
  for (auto& peer : peers_)
    if (peer->persistent_keepalive.count() > 0 && peer->endpoint.valid())
      peer->persistent_keepalive_at = now();
}

Tunnel::~Tunnel() = default;

Peer* Tunnel::find_peer(const crypto::Key& public_key) noexcept {
  auto it = peers_by_key_.find(public_key);
  return it == peers_by_key_.end() ? nullptr : it->second;
}

crypto::KeyLimits Tunnel::key_limits() const noexcept {
  crypto::KeyLimits limits;
  limits.reject_after_time = timers_.reject_after_time;
  return limits;
}

void Tunnel::pump_outside(std::size_t budget) noexcept {
  refresh_now();
  while (budget > 0) {
    const std::size_t want = std::min(budget, rx_batch_.size());
    const std::size_t got = bind_.receive_batch(std::span(rx_batch_.data(), want));
    for (std::size_t i = 0; i < got; ++i)
      receive_outside(rx_batch_[i].buffer.first(rx_batch_[i].size), rx_batch_[i].from);
    budget -= std::min(budget, got);
    if (got < want) break;
  }
  // The rest of a coalesced receive (GRO) that the budget cut short: already off the
  // socket, so no readiness event would bring it back.
  while (const std::size_t got = bind_.receive_pending(rx_batch_))
    for (std::size_t i = 0; i < got; ++i)
      receive_outside(rx_batch_[i].buffer.first(rx_batch_[i].size), rx_batch_[i].from);
  device_.flush();
  bind_.flush();
  learn_path_mtu();
}

proto::StatusReply Tunnel::status() const {
  proto::StatusReply reply;
  reply.set_interface(device_.name());
  reply.set_public_key(to_base64(host_->statics.public_key));
  reply.set_listen_port(bind_.local_port());
  reply.set_mtu(std::uint32_t(mtu_));
  for (const auto& peer : peers_) {
    auto* p = reply.add_peers();
    p->set_name(peer->name);
    p->set_public_key(to_base64(peer->public_key));
    if (peer->endpoint.valid()) p->set_endpoint(peer->endpoint.to_string());
    for (const auto& prefix : peer->allowed_ips) p->add_allowed_ips(prefix.to_string());
    if (peer->last_handshake)
      p->set_last_handshake_unix(std::chrono::duration_cast<std::chrono::seconds>(
                                     peer->last_handshake->time_since_epoch())
                                     .count());
    p->set_rx_bytes(peer->rx_bytes);
    p->set_tx_bytes(peer->tx_bytes);
    p->set_persistent_keepalive(std::uint32_t(
        std::chrono::duration_cast<std::chrono::seconds>(peer->persistent_keepalive).count()));
    p->set_preshared_key(peer->has_preshared_key);
    if (peer->keymesh) {
      p->set_local_identity(peer->local->name);
      if (peer->remote) {
        p->set_remote_fingerprint(peer->remote->cert.fingerprint);
        for (const auto& g : peer->remote->cert.groups) p->add_remote_groups(g);
        p->set_remote_not_after_unix(peer->remote->cert.not_after);
        for (const auto& [k, v] : peer->remote->cert.context) (*p->mutable_remote_context())[k] = v;
        p->set_remote_issuer(peer->remote->cert.issuer_name);
      }
      if (peer->conntrack) p->set_flows(std::uint32_t(peer->conntrack->size()));
      describe_relay(*peer, *p);
    }
    if (peer->raw_policy) p->set_flows(std::uint32_t(peer->raw_policy->flows()));
  }
  for (const auto& local : locals_) describe_identity(*local, *reply.add_identities());
  if (policy_) reply.set_policy_rules(std::uint32_t(policy_->rules().size()));
  for (const auto& [text, site] : sites_) {
    auto* s = reply.add_sites();
    s->set_network(text);
    for (const auto& c : site.candidates) {
      s->add_candidates(c.name);
      if (c.key == site.chosen) s->set_via(c.name);
    }
    s->set_failovers(site.failovers);
  }
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const auto reason = DropReason(i);
    std::uint64_t count = drops_.get(reason);
    // Some drops happen below the tunnel, inside a batch it handed over: the device and the
    // bind count those, and they are reported under the reason they belong to.
    if (reason == DropReason::TunWriteFailed) count += device_.write_failures();
    if (reason == DropReason::UdpSendFailed)
      count += bind_.send_errors() - bind_.too_big_errors();
    if (reason == DropReason::PathMtuExceeded) count += bind_.too_big_errors();
    auto* d = reply.add_drops();
    d->set_reason(std::string(to_string(reason)));
    d->set_count(count);
  }
  describe_relaying(reply);
  reply.set_handshakes_completed(handshakes_completed_);
  reply.set_cookies_sent(cookies_sent_);
  reply.set_rx_packets(counters_.rx_packets);
  reply.set_rx_bytes(counters_.rx_bytes);
  reply.set_tx_packets(counters_.tx_packets);
  reply.set_tx_bytes(counters_.tx_bytes);
  return reply;
}

}  // namespace keymesh::daemon
