// Identities, paths and the decisions about them (docs/architecture.md).
//
// A path (one local identity <-> one certified remote identity) is opened by the first packet
// that needs it, or by a valid initiation, and only while policy grants some traffic between
// the two. It closes, with an audit line, when the remote certificate expires or is revoked,
// when its root is no longer trusted, when a policy change or a schedule boundary takes the
// grant away, or when the local identity is removed.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/bytes.h"
#include "daemon/tunnel.h"
#include "policy/subject_of.h"

namespace keymesh::daemon {

namespace {
constexpr auto kRecheckInterval = std::chrono::seconds(1);
constexpr auto kRefusedAuditInterval = std::chrono::seconds(5);
constexpr auto kDeniedAuditInterval = std::chrono::seconds(1);
constexpr std::size_t kMaxRefusedAuditEntries = 4096;

policy::AuditParty party_of(const std::string& name, const identity::ValidatedIdentity& cert,
                            bool certified) {
  policy::AuditParty p;
  p.name = name;
  if (certified || !cert.fingerprint.empty()) {
    p.fingerprint = cert.fingerprint;
    p.groups = cert.groups;
    p.subject = cert.subject;  // a person's (docs/access.md)
  }
  return p;
}

bool overlaps(const IpPrefix& a, const IpPrefix& b) {
  if (a.address.family != b.address.family) return false;
  const IpPrefix& shorter = a.length <= b.length ? a : b;
  const IpPrefix& longer = a.length <= b.length ? b : a;
  return shorter.network().contains(longer.address);
}
}  // namespace

// ---- decisions and audit ----

bool Tunnel::path_granted(const LocalIdentity& local, const RemoteIdentity& remote,
                          std::string* rule) const {
  if (!policy_ || !local.certified || !remote.certified) return false;
  if (!policy_->path_granted(local.subject, remote.subject, wall_now())) return false;
  if (rule) {
    // Name the first rule (file order) that selects the pair in either direction.
    auto ab = policy_->matching_rules(local.subject, remote.subject);
    auto ba = policy_->matching_rules(remote.subject, local.subject);
    std::uint32_t first = UINT32_MAX;
    if (!ab.empty()) first = ab.front();
    if (!ba.empty()) first = std::min(first, ba.front());
    if (first != UINT32_MAX) *rule = policy_->rules()[first].name;
  }
  return true;
}

void Tunnel::audit(policy::AuditEventType type, const LocalIdentity* local,
                   const RemoteIdentity* remote, std::string_view rule,
                   std::string reason) noexcept {
  if (audit_ == nullptr) return;
  try {
    policy::AuditEvent e;
    e.time = wall_now();
    e.event = type;
    if (local) e.local = party_of(local->name, local->cert, local->certified);
    if (remote) e.remote = party_of(remote->name, remote->cert, remote->certified);
    e.rule = std::string(rule);
    e.reason = std::move(reason);
    audit_->record(e);
  } catch (...) {
    // Out of memory while formatting: the decision stands, the line is lost.
  }
}

void Tunnel::audit_refused(const LocalIdentity& local, const RemoteIdentity& remote) noexcept {
  ++counters_.paths_refused;
  counters_.denied.add({"path", "", local.name, remote.name});
  // Keyed by the two keys (no allocation): a flood towards a refused pair costs a hash lookup.
  const std::uint64_t key = load_le64(local.statics.public_key.data()) ^
                            (load_le64(remote.public_key.data()) * 0x9e3779b97f4a7c15ull);
  try {
    if (refused_audited_.size() > kMaxRefusedAuditEntries) refused_audited_.clear();
    auto [it, fresh] = refused_audited_.try_emplace(key, now());
    if (!fresh && now() - it->second < kRefusedAuditInterval) {
      if (audit_) ++counters_.audit_suppressed;
      return;
    }
    it->second = now();
  } catch (...) {
    return;
  }
  audit(policy::AuditEventType::kPathRefused, &local, &remote, "",
        policy_ ? policy_->refusal_reason(local.subject, remote.subject)
                : "no rule grants any traffic between " + local.name + " and " + remote.name);
}

void Tunnel::audit_denied(Peer& peer, const LocalIdentity* from_local,
                          const policy::PacketView& packet, policy::Verdict verdict,
                          bool inbound) noexcept {
  // At most one line per path per second from here, carrying how many packets it stands for;
  // the packets in between cost a counter increment, not a formatted line.
  const LocalIdentity* local = from_local ? from_local : peer.local ? peer.local : host_;
  ++counters_.packets_denied;
  counters_.denied.add({"packet", inbound ? "inbound" : "outbound", local->name, peer.name});
  ++peer.denied_unreported;
  if (peer.denied_reported_at && now() - *peer.denied_reported_at < kDeniedAuditInterval) {
    if (audit_) ++counters_.audit_suppressed;
    return;
  }
  report_denied(peer, from_local,
                inbound ? policy::describe_denial(verdict, packet, peer.name, local->name)
                        : policy::describe_denial(verdict, packet, local->name, peer.name));
}

void Tunnel::report_denied(Peer& peer, const LocalIdentity* from_local,
                           std::string reason) noexcept {
  if (peer.denied_unreported == 0) return;
  if (audit_ != nullptr) {
    try {
      policy::AuditEvent e;
      e.time = wall_now();
      e.event = policy::AuditEventType::kPacketDenied;
      const LocalIdentity* local = from_local ? from_local : peer.local ? peer.local : host_;
      e.local = party_of(local->name, local->cert, local->certified);
      if (peer.remote) e.remote = party_of(peer.remote->name, peer.remote->cert, true);
      else if (peer.raw_policy)  // a raw-key peer: its config name and groups
        e.remote = policy::AuditParty{peer.name, "", peer.raw_policy->subject().groups};
      e.reason = std::move(reason);
      e.count = peer.denied_unreported;
      audit_->record(e);
    } catch (...) {
    }
  }
  peer.denied_unreported = 0;
  peer.denied_reported_at = now();
}

// ---- paths ----

Peer* Tunnel::path_for(LocalIdentity& local, RemoteIdentity& remote) noexcept {
  if (auto it = local.paths.find(remote.public_key); it != local.paths.end()) return it->second;
  if (!local.certified) {
    drop(DropReason::NoLocalIdentity);
    return nullptr;
  }
  if (!path_granted(local, remote, nullptr)) {
    drop(DropReason::PathNotGranted);
    audit_refused(local, remote);
    return nullptr;
  }
  // A certificate revoked or expired since we learned it: no handshake to try.
  if (!trust_ || !trust_->recheck(remote.cert, wall_now())) {
    drop(DropReason::CertificateRejected);
    return nullptr;
  }
  try {
    return open_path(local, remotes_.at(remote.public_key));
  } catch (...) {
    drop(DropReason::NoRoute);
    return nullptr;
  }
}

Peer* Tunnel::open_path(LocalIdentity& local, std::shared_ptr<const RemoteIdentity> remote) {
  auto peer = std::make_unique<Peer>(local.statics, remote->public_key, nullptr, true);
  peer->name = remote->name;
  peer->local = &local;
  // A remote known only from handshakes (it reached us first) has no directory endpoints:
  // start where its last handshake came from, or the new path could never initiate.
  if (!remote->endpoints.empty()) peer->endpoint = remote->endpoints.front();
  else if (remote->observed.valid()) peer->endpoint = remote->observed;
  peer->persistent_keepalive = path_keepalive_;
  peer->allowed_ips = remote->networks;
  attach_remote(*peer, std::move(remote));
  Peer* raw = peer.get();
  local.paths[raw->public_key] = raw;
  peers_.push_back(std::move(peer));
  return raw;
}

void Tunnel::attach_remote(Peer& peer, std::shared_ptr<const RemoteIdentity> remote) {
  const bool changed = !peer.remote || peer.remote->cert.fingerprint != remote->cert.fingerprint;
  peer.remote = std::move(remote);
  peer.name = peer.remote->name;
  peer.allowed_ips = peer.remote->networks;
  if (!changed && peer.conntrack) return;
  // New certificate (first, or renewed with other groups): compile the pair policies again,
  // keeping tracked flows that are still granted.
  auto out = compiled_pair(peer.local->subject, peer.remote->subject);
  auto in = compiled_pair(peer.remote->subject, peer.local->subject);
  if (peer.conntrack) peer.conntrack->set_policy(std::move(out), std::move(in), wall_now());
  else peer.conntrack = std::make_unique<policy::ConnTrack>(std::move(out), std::move(in));
  if (flow_log_)
    peer.conntrack->set_flow_log(flow_log_,
                                 party_of(peer.local->name, peer.local->cert, peer.local->certified),
                                 party_of(peer.remote->name, peer.remote->cert, true));
}

policy::SharedPairPolicy Tunnel::compiled_pair(const policy::Subject& from,
                                               const policy::Subject& to) {
  return pair_policies_.share(policy_ ? policy_->compile_pair(from, to) : policy::PairPolicy{});
}

void Tunnel::close_path(Peer& peer, std::string_view reason) noexcept {
  spdlog::info("path closed: {} <-> {}: {}", peer.local ? peer.local->name : "host", peer.name,
               reason);
  if (peer.keymesh)
    audit(policy::AuditEventType::kPathClosed, peer.local, peer.remote.get(), "",
          std::string(reason));
  for (crypto::Keypair* kp :
       {peer.keypairs.previous(), peer.keypairs.current(), peer.keypairs.next()})
    if (kp) release_index(kp->local_index);
  if (auto pending = peer.pending_initiation()) release_index(*pending);
  const std::size_t lost = peer.staged.clear();
  for (std::size_t i = 0; i < lost; ++i) drop(DropReason::PathClosed);
  if (peer.local) peer.local->paths.erase(peer.public_key);
  auto it = std::find_if(peers_.begin(), peers_.end(),
                         [&](const std::unique_ptr<Peer>& p) { return p.get() == &peer; });
  if (it != peers_.end()) peers_.erase(it);
}

void Tunnel::close_paths(const std::vector<Peer*>& doomed, std::string_view reason) noexcept {
  for (Peer* p : doomed) close_path(*p, reason);
}

std::shared_ptr<const RemoteIdentity> Tunnel::learn_remote(std::shared_ptr<RemoteIdentity> fresh,
                                                           const udp::Endpoint& from) {
  const std::vector<crypto::Key> displaced = owners_.claim(fresh->cert, wall_now(), true);
  auto& slot = remotes_[fresh->public_key];
  if (slot && slot != fresh && slot->cert.fingerprint != fresh->cert.fingerprint)
    fresh->endpoints = slot->endpoints;  // what the directory said still holds
  if (slot && slot->cert.fingerprint == fresh->cert.fingerprint) fresh = slot;
  // Every check passed: the handshake proved who sent it from there. Not through a relay:
  // `from` is then the relay, which would not know what to do with a direct initiation.
  if (!relay_.rx) fresh->observed = from;
  // Routed again even when already known: the owner's handshake wins its address back from
  // whatever a directory record or an older certificate routed there meanwhile.
  route_remote(fresh);
  slot = fresh;
  for (const auto& key : displaced) {
    if (key == fresh->public_key) continue;
    std::vector<Peer*> doomed;
    for (auto& l : locals_)
      if (auto p = l->paths.find(key); p != l->paths.end()) doomed.push_back(p->second);
    close_paths(doomed, "its address is owned by a newer certificate (" + fresh->name + ", " +
                            fresh->cert.fingerprint.substr(0, 16) + ")");
  }
  return fresh;
}

void Tunnel::route_remote(const std::shared_ptr<RemoteIdentity>& remote) {
  // Several remote identities may hold one network (gateways of one site): route_candidate
  // keeps them all and routes to the chosen one (site_failover.cpp).
  if (auto old = remotes_.find(remote->public_key);
      old != remotes_.end() && old->second && old->second != remote) {
    remote_routes_.remove_all(old->second.get());
    for (const auto& prefix : old->second->networks)
      if (std::find(remote->networks.begin(), remote->networks.end(), prefix) ==
          remote->networks.end())
        unroute_candidate(prefix, *old->second);
  }
  for (const auto& prefix : remote->networks) route_candidate(prefix, remote.get());
}

void Tunnel::recheck_paths() noexcept {
  std::vector<std::pair<Peer*, std::string>> doomed;
  for (auto& p : peers_) {
    if (!p->keymesh || !p->remote) continue;
    if (!trust_) {
      p->conntrack->end_all(policy::FlowEnd::kRevoked);
      doomed.emplace_back(p.get(), "no trust roots are configured any more");
      continue;
    }
    if (auto ok = trust_->recheck(p->remote->cert, wall_now()); !ok) {
      p->conntrack->end_all(policy::FlowEnd::kRevoked);
      doomed.emplace_back(p.get(), "remote certificate: " + ok.error().message);
      continue;
    }
    if (!path_granted(*p->local, *p->remote, nullptr)) {
      p->conntrack->end_all(policy::FlowEnd::kPolicy);
      doomed.emplace_back(p.get(), "policy no longer grants any traffic between " +
                                       p->local->name + " and " + p->remote->name);
      continue;
    }
    p->conntrack->drop_flows_not_allowed(wall_now());
  }
  for (auto& [peer, reason] : doomed) close_path(*peer, reason);
}

void Tunnel::check_paths_on_tick() noexcept {
  if (now() < next_recheck_) return;
  next_recheck_ = now() + kRecheckInterval;
  recheck_paths();
  if (!unrouted_.empty()) retry_unrouted();  // also ages out what waited too long
  for (auto& [pair, ct] : local_pairs_) {
    ct->expire(now());
    ct->drop_flows_not_allowed(wall_now());
  }
  for (auto& p : peers_) {
    if (p->conntrack) p->conntrack->expire(now());
    if (p->denied_unreported > 0 &&
        (!p->denied_reported_at || now() - *p->denied_reported_at >= kDeniedAuditInterval))
      report_denied(*p, p->raw_policy ? p->raw_policy->last_denied_local : nullptr,
                    "more packets denied on this path");
  }
  tick_raw_policies();
  guard_->prune(now());
  owners_.prune(wall_now());
  for (auto& line : rejections_.due(wall_now()))
    if (audit_) audit_->record(line);
  if (audit_) audit_->flush(wall_now());
  if (flow_log_) flow_log_->flush(wall_now());
}

// ---- trust and policy ----

void Tunnel::set_trust(std::shared_ptr<const identity::TrustStore> trust) {
  trust_ = std::move(trust);
  refresh_now();
  recheck_paths();
}

Tunnel::PolicyChange Tunnel::set_policy(std::shared_ptr<const policy::Policy> policy) {
  policy_ = std::move(policy);
  refresh_now();
  PolicyChange change;
  std::vector<Peer*> doomed;
  for (auto& p : peers_) {
    if (!p->keymesh || !p->remote) continue;
    if (!path_granted(*p->local, *p->remote, nullptr)) {
      p->conntrack->end_all(policy::FlowEnd::kPolicy);
      doomed.push_back(p.get());
      continue;
    }
    auto out = compiled_pair(p->local->subject, p->remote->subject);
    auto in = compiled_pair(p->remote->subject, p->local->subject);
    change.flows_dropped +=
        std::uint32_t(p->conntrack->set_policy(std::move(out), std::move(in), wall_now()));
  }
  change.paths_closed = std::uint32_t(doomed.size());
  close_paths(doomed, "the reloaded policy grants nothing between the two identities");
  for (auto& [pair, ct] : local_pairs_) {
    auto out = compiled_pair(pair.first->subject, pair.second->subject);
    auto in = compiled_pair(pair.second->subject, pair.first->subject);
    change.flows_dropped += std::uint32_t(ct->set_policy(std::move(out), std::move(in), wall_now()));
  }
  change.flows_dropped += recompile_raw_policies(nullptr);
  return change;
}

// ---- local identities ----

Result<const LocalIdentity*> Tunnel::add_local_identity(LocalIdentitySpec spec) {
  auto local = std::make_unique<LocalIdentity>(spec.private_key);
  local->name = spec.name;
  local->source = spec.source;
  local->accepts_raw_peers = spec.accepts_raw_peers;
  local->renew_at = spec.renew_at;
  if (!spec.chain.empty()) {
    if (!trust_) return fail("no trust roots are configured (trust.roots), so certificates "
                             "cannot be checked");
    refresh_now();
    auto validated = trust_->validate(spec.chain, wall_now());
    if (!validated) return fail(validated.error().message);
    if (auto same = identity::check_static_key(*validated, local->statics.public_key); !same)
      return fail(same.error().message + " (the private key does not belong to it)");
    if (auto r = refuse_raw_overlap(validated->networks); !r) return std::unexpected(r.error());
    local->certified = true;
    local->cert = std::move(*validated);
    local->chain_bytes = identity::serialize_chain(spec.chain);
    if (local->chain_bytes.size() > crypto::kMaxHandshakePayload)
      return fail("certificate chain of " + std::to_string(local->chain_bytes.size()) +
                  " bytes does not fit a handshake (at most " +
                  std::to_string(crypto::kMaxHandshakePayload) + ")");
    local->subject = policy::subject_from(local->cert);
    if (local->name.empty()) local->name = local->cert.name;
  }
  if (local->name.empty()) return fail("an identity needs a name");
  for (const auto& other : locals_) {
    if (other->name == local->name) return fail("identity " + local->name + " already exists");
    if (other->statics.public_key == local->statics.public_key)
      return fail("identity " + other->name + " already uses this key");
    for (const auto& a : other->cert.networks)
      for (const auto& b : local->cert.networks)
        if (overlaps(a, b))
          return fail(b.to_string() + " overlaps " + a.to_string() + " of identity " +
                      other->name);
  }
  LocalIdentity* raw = local.get();
  for (const auto& prefix : raw->cert.networks) local_routes_.insert(prefix, raw);
  locals_by_hint_[load_le32(raw->statics.receiver_hint.data())].push_back(raw);
  if (raw->accepts_raw_peers && host_ == nullptr) host_ = raw;
  locals_.push_back(std::move(local));
  ++local_generation_;
  if (raw->certified)
    spdlog::info("identity {} added ({}, {}, {})", raw->name, identity::kind_name(raw->cert.kind),
                 raw->cert.fingerprint.substr(0, 16), raw->source);
  return raw;
}

Result<std::uint32_t> Tunnel::remove_local_identity(std::string_view name) {
  const LocalIdentity* found = find_local(name);
  if (found == nullptr) return fail("no local identity " + std::string(name));
  if (found == host_) return fail("the host identity cannot be removed");
  auto* local = const_cast<LocalIdentity*>(found);
  refresh_now();
  std::vector<Peer*> doomed;
  for (auto& [key, peer] : local->paths) doomed.push_back(peer);
  close_paths(doomed, "local identity " + local->name + " was removed");
  for (auto it = local_pairs_.begin(); it != local_pairs_.end();)
    it = it->first.first == local || it->first.second == local ? local_pairs_.erase(it)
                                                               : std::next(it);
  local_routes_.remove_all(local);
  forget_raw_trackers(*local);
  // Its packets waiting for discovery go with it (their source no longer names anyone).
  std::erase_if(unrouted_, [&](const Unrouted& u) {
    if (u.from != local) return false;
    drop(DropReason::NoLocalIdentity);
    return true;
  });
  auto& same_hint = locals_by_hint_[load_le32(local->statics.receiver_hint.data())];
  std::erase(same_hint, local);
  if (same_hint.empty()) locals_by_hint_.erase(load_le32(local->statics.receiver_hint.data()));
  spdlog::info("identity {} removed ({} path(s) closed)", local->name, doomed.size());
  std::erase_if(locals_, [&](const std::unique_ptr<LocalIdentity>& l) { return l.get() == local; });
  ++local_generation_;
  return std::uint32_t(doomed.size());
}

// Also gives a key-only identity (the host key) its first certificate.
Result<void> Tunnel::renew_local_identity(std::string_view name,
                                          std::vector<identity::Certificate> chain,
                                          std::optional<WallTime> renew_at) {
  const LocalIdentity* found = find_local(name);
  if (found == nullptr) return fail("no local identity " + std::string(name));
  auto* local = const_cast<LocalIdentity*>(found);
  if (!trust_) return fail("no trust roots are configured");
  refresh_now();
  auto validated = trust_->validate(chain, wall_now());
  if (!validated) return fail(validated.error().message);
  if (auto same = identity::check_static_key(*validated, local->statics.public_key); !same)
    return fail(same.error().message);
  if (local->certified && validated->networks != local->cert.networks)
    return fail("a renewed certificate must keep the networks of the one it replaces");
  // Checked before anything changes, as at add_local_identity: a renewal that would not fit a
  // handshake keeps the old certificate.
  Bytes chain_bytes = identity::serialize_chain(chain);
  if (chain_bytes.size() > crypto::kMaxHandshakePayload)
    return fail("renewed certificate chain of " + std::to_string(chain_bytes.size()) +
                " bytes does not fit a handshake (at most " +
                std::to_string(crypto::kMaxHandshakePayload) + ")");
  if (!local->certified) {
    if (auto r = refuse_raw_overlap(validated->networks); !r) return std::unexpected(r.error());
    // First certificate of an identity that had only its key (the host key from the config).
    for (const auto& other : locals_)
      for (const auto& a : other->cert.networks)
        for (const auto& b : validated->networks)
          if (other.get() != local && overlaps(a, b))
            return fail(b.to_string() + " overlaps " + a.to_string() + " of identity " +
                        other->name);
    for (const auto& prefix : validated->networks) local_routes_.insert(prefix, local);
    local->name = validated->name;
    local->certified = true;
  }
  local->cert = std::move(*validated);
  local->chain_bytes = std::move(chain_bytes);
  local->subject = policy::subject_from(local->cert);
  local->renew_at = renew_at;
  ++local_generation_;
  recompile_raw_policies(local);
  // The remote side holds our old certificate until the next handshake; hand it the new one
  // now rather than at the next rekey, which may come after the old one expires.
  for (auto& [key, peer] : local->paths) {
    attach_remote(*peer, peer->remote);
    peer->last_initiation_sent.reset();
    send_initiation(*peer, false);
  }
  bind_.flush();
  spdlog::info("identity {} renewed: certificate {} valid until {}", local->name,
               local->cert.fingerprint.substr(0, 16), identity::format_utc(local->cert.not_after));
  return {};
}

const LocalIdentity* Tunnel::find_local(std::string_view key) const noexcept {
  for (const auto& l : locals_)
    if (l->name == key || (key.size() >= 8 && l->cert.fingerprint.starts_with(key)))
      return l.get();
  return nullptr;
}

std::vector<const LocalIdentity*> Tunnel::local_identities() const {
  std::vector<const LocalIdentity*> out;
  for (const auto& l : locals_) out.push_back(l.get());
  return out;
}

// ---- remote identities ----

const RemoteIdentity* Tunnel::find_remote(std::string_view key) const noexcept {
  for (const auto& [k, r] : remotes_)
    if (r && (r->name == key || (key.size() >= 8 && r->cert.fingerprint.starts_with(key))))
      return r.get();
  return nullptr;
}

Result<const RemoteIdentity*> Tunnel::add_remote(std::span<const identity::Certificate> chain,
                                                 std::vector<udp::Endpoint> endpoints) {
  if (!trust_) return fail("no trust roots are configured (trust.roots)");
  refresh_now();
  auto validated = trust_->validate(chain, wall_now());
  if (!validated) return fail(validated.error().message);
  // A record is a claim, not a proof: it may name who holds an address nobody confirmed, and
  // its not_before counts for the ownership rule, but it never moves a route away from a
  // key that completed a handshake (address_owners.h).
  if (auto why = owners_.refusal(*validated, wall_now())) return fail(*why);
  if (auto known = remotes_.find(validated->public_key);
      known != remotes_.end() && known->second && known->second->source == "handshake" &&
      known->second->cert.fingerprint == validated->fingerprint) {
    known->second->endpoints = std::move(endpoints);
    give_endpoint_to_paths(*known->second);
    return known->second.get();
  }
  const bool route = !owners_.confirmed_elsewhere(*validated, wall_now());
  owners_.claim(*validated, wall_now(), false);
  auto remote = std::make_shared<RemoteIdentity>();
  remote->name = validated->name;
  remote->public_key = validated->public_key;
  remote->certified = true;
  remote->subject = policy::subject_from(*validated);
  remote->networks = validated->networks;
  remote->endpoints = std::move(endpoints);
  remote->source = "directory";
  remote->cert = std::move(*validated);
  if (route) route_remote(remote);
  else if (auto old = remotes_.find(remote->public_key); old != remotes_.end() && old->second)
    remote_routes_.remove_all(old->second.get());
  give_endpoint_to_paths(*remote);
  remotes_[remote->public_key] = remote;
  if (!unrouted_.empty()) retry_unrouted();
  return remote.get();
}

void Tunnel::give_endpoint_to_paths(const RemoteIdentity& remote) noexcept {
  if (remote.endpoints.empty()) return;
  for (auto& l : locals_)
    if (auto p = l->paths.find(remote.public_key);
        p != l->paths.end() && !p->second->endpoint.valid()) {
      p->second->endpoint = remote.endpoints.front();
      // Whatever waited for somewhere to send it can go now.
      if (!p->second->staged.empty()) send_initiation(*p->second, false);
    }
}

std::vector<IpPrefix> Tunnel::remote_networks() const {
  std::vector<IpPrefix> out;
  for (const auto& [key, remote] : remotes_)
    if (remote && trust_ && trust_->recheck(remote->cert, wall_now()))
      out.insert(out.end(), remote->networks.begin(), remote->networks.end());
  return out;
}

std::optional<udp::Endpoint> Tunnel::endpoint_of(const IpAddress& source) const noexcept {
  const RemoteIdentity* remote = remote_routes_.lookup(source);
  if (remote == nullptr) return std::nullopt;
  for (const auto& local : locals_)
    if (auto it = local->paths.find(remote->public_key); it != local->paths.end())
      if (it->second->endpoint.valid()) return it->second->endpoint;
  return std::nullopt;
}

Peer* Tunnel::find_path(std::string_view local_name, const crypto::Key& remote) noexcept {
  const LocalIdentity* local = find_local(local_name);
  if (local == nullptr) return nullptr;
  auto it = local->paths.find(remote);
  return it == local->paths.end() ? nullptr : it->second;
}

std::size_t Tunnel::path_count() const noexcept {
  std::size_t n = 0;
  for (const auto& l : locals_) n += l->paths.size();
  return n;
}

}  // namespace keymesh::daemon
