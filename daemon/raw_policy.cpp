// Raw-key peers under policy (raw_policy.h): the subject built at config load, the trackers
// per local identity, and the tunnel's two per-packet checks (send.cpp and receive.cpp call
// them only when Peer::raw_policy is set, i.e. when a policy file is configured).
#include "daemon/raw_policy.h"

#include <algorithm>

#include "daemon/config.h"
#include "daemon/identities.h"
#include "daemon/ip_packet.h"
#include "daemon/tunnel.h"
#include "policy/packet.h"

namespace keymesh::daemon {

policy::Subject raw_peer_subject(const PeerConfig& config, std::string_view name) {
  policy::Subject s;
  s.name = std::string(name);
  s.kind = "raw";
  s.groups = config.groups;
  s.labels = config.labels;
  s.networks = config.allowed_ips;
  return s;
}

policy::Subject local_subject_for_raw(const LocalIdentity& local) {
  if (local.certified) return local.subject;
  policy::Subject s;
  s.name = local.name;
  return s;
}

// ---- RawPeerPolicy ----

policy::ConnTrack* RawPeerPolicy::tracker(const LocalIdentity& local,
                                          const policy::Policy* policy) noexcept {
  for (auto& p : pairs_)
    if (p.local == &local) return p.conntrack.get();
  try {
    policy::PairPolicy out, in;
    if (policy) {
      const policy::Subject ours = local_subject_for_raw(local);
      out = policy->compile_pair(ours, subject_);
      in = policy->compile_pair(subject_, ours);
    }
    pairs_.push_back({&local, std::make_unique<policy::ConnTrack>(std::move(out), std::move(in))});
    return pairs_.back().conntrack.get();
  } catch (...) {
    return nullptr;
  }
}

std::size_t RawPeerPolicy::recompile(const policy::Policy* policy, WallTime wall,
                                     const LocalIdentity* only) {
  std::size_t dropped = 0;
  for (auto& p : pairs_) {
    if (only && p.local != only) continue;
    policy::PairPolicy out, in;
    if (policy) {
      const policy::Subject ours = local_subject_for_raw(*p.local);
      out = policy->compile_pair(ours, subject_);
      in = policy->compile_pair(subject_, ours);
    }
    dropped += p.conntrack->set_policy(std::move(out), std::move(in), wall);
  }
  return dropped;
}

void RawPeerPolicy::forget(const LocalIdentity& local) noexcept {
  std::erase_if(pairs_, [&](const Pair& p) { return p.local == &local; });
  if (last_denied_local == &local) last_denied_local = nullptr;
}

void RawPeerPolicy::tick(TimePoint now, WallTime wall) noexcept {
  for (auto& p : pairs_) {
    p.conntrack->expire(now);
    p.conntrack->drop_flows_not_allowed(wall);
  }
}

std::size_t RawPeerPolicy::flows() const noexcept {
  std::size_t n = 0;
  for (const auto& p : pairs_) n += p.conntrack->size();
  return n;
}

// ---- the tunnel's side ----

bool Tunnel::raw_policy_allows(Peer& peer, const IpHeaderView& ip,
                               std::span<const std::uint8_t> packet, bool inbound) noexcept {
  // Our end of the packet names the local identity: its source going out, its destination
  // coming in. Addresses no identity holds (the host's own, forwarded traffic) are the host's.
  const IpAddress ours = inbound ? destination_of(ip) : source_of(ip);
  LocalIdentity* local = local_routes_.lookup(ours);
  if (local == nullptr) local = host_;
  policy::ConnTrack* ct = peer.raw_policy->tracker(*local, policy_.get());
  if (ct == nullptr) {
    drop(DropReason::PolicyDenied);
    return false;
  }
  const auto view = policy::parse_packet(packet);
  const auto verdict =
      inbound ? ct->on_inbound(view, now(), wall_now()) : ct->on_outbound(view, now(), wall_now());
  if (policy::allowed(verdict)) return true;
  drop(DropReason::PolicyDenied);
  peer.raw_policy->last_denied_local = local;
  audit_denied(peer, local, view, verdict, inbound);
  return false;
}

Result<void> Tunnel::refuse_raw_overlap(const std::vector<IpPrefix>& networks) const {
  for (const auto& peer : peers_) {
    if (peer->keymesh) continue;
    for (const auto& raw : peer->allowed_ips)
      for (const auto& net : networks) {
        if (raw.address.family != net.address.family) continue;
        const IpPrefix& shorter = raw.length <= net.length ? raw : net;
        const IpPrefix& longer = raw.length <= net.length ? net : raw;
        if (shorter.network().contains(longer.address))
          return fail("certificate network " + net.to_string() + " overlaps allowed_ips " +
                      raw.to_string() + " of raw-key peer " + peer->name +
                      " (an address has one owner: change the peer's allowed_ips)");
      }
  }
  return {};
}

bool Tunnel::raw_unpoliced_allows(const IpHeaderView& ip, bool inbound) noexcept {
  const LocalIdentity* local = local_routes_.lookup(inbound ? destination_of(ip) : source_of(ip));
  if (local == nullptr || local == host_ || !local->certified) return true;
  drop(DropReason::PolicyDenied);
  return false;
}

std::uint32_t Tunnel::recompile_raw_policies(const LocalIdentity* only) noexcept {
  std::size_t dropped = 0;
  for (auto& p : peers_) {
    if (!p->raw_policy) continue;
    try {
      dropped += p->raw_policy->recompile(policy_.get(), wall_now(), only);
    } catch (...) {
      // Out of memory while compiling: forget the trackers, so the next packet compiles
      // them again rather than running on a policy that is no longer the current one.
      for (const auto& l : locals_) p->raw_policy->forget(*l);
    }
  }
  return std::uint32_t(dropped);
}

void Tunnel::forget_raw_trackers(const LocalIdentity& local) noexcept {
  for (auto& p : peers_)
    if (p->raw_policy) p->raw_policy->forget(local);
}

void Tunnel::tick_raw_policies() noexcept {
  for (auto& p : peers_) {
    if (!p->raw_policy) continue;
    p->raw_policy->tick(now(), wall_now());
  }
}

const policy::Subject* Tunnel::find_raw_subject(std::string_view name) const noexcept {
  for (const auto& p : peers_)
    if (!p->keymesh && p->raw_policy && p->name == name) return &p->raw_policy->subject();
  return nullptr;
}

}  // namespace keymesh::daemon
