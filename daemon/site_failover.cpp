// Several gateways for one network and the failover between them (site_failover.h).
//
// remote_routes_ maps a network to ONE remote identity: the chosen candidate. sites_ exists
// only for networks that two or more remote identities hold; it lists the candidates and
// remembers which one is chosen and which ones failed. Switching rewrites the one LPM entry,
// so the send path never looks at sites_.
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "daemon/tunnel.h"

namespace keymesh::daemon {

namespace {

bool holds(const std::vector<IpPrefix>& networks, const IpPrefix& prefix) {
  const IpPrefix want = prefix.network();
  return std::any_of(networks.begin(), networks.end(),
                     [&](const IpPrefix& n) { return n.network() == want; });
}

bool is_gateway(const RemoteIdentity& r) {
  return r.certified && r.cert.kind == identity::Kind::Gateway;
}

std::string names(const SiteRoute& r) {
  std::string out;
  for (const auto& c : r.candidates) out += (out.empty() ? "" : ", ") + c.name;
  return out;
}

SiteCandidate* find(SiteRoute& r, const crypto::Key& key) {
  for (auto& c : r.candidates)
    if (c.key == key) return &c;
  return nullptr;
}

}  // namespace

bool prefer(const SiteCandidate& a, const SiteCandidate& b) noexcept {
  if (a.name != b.name) return a.name < b.name;
  return std::memcmp(a.key.data(), b.key.data(), a.key.size()) < 0;
}

std::optional<std::size_t> next_candidate(const SiteRoute& route, TimePoint now,
                                          Duration hold_down,
                                          const std::function<bool(const SiteCandidate&)>& usable) {
  std::optional<std::size_t> longest_ago;
  for (std::size_t i = 0; i < route.candidates.size(); ++i) {
    const SiteCandidate& c = route.candidates[i];
    if (c.key == route.chosen || !usable(c)) continue;
    if (!c.failed_at || now - *c.failed_at >= hold_down) return i;
    if (!longest_ago || *c.failed_at < *route.candidates[*longest_ago].failed_at) longest_ago = i;
  }
  return longest_ago;
}

bool Tunnel::has_answered(const crypto::Key& remote) const noexcept {
  for (const auto& local : locals_)
    if (auto it = local->paths.find(remote); it != local->paths.end() && it->second->last_handshake)
      return true;
  return false;
}

bool Tunnel::candidate_usable(const crypto::Key& key) const noexcept {
  const auto it = remotes_.find(key);
  return it != remotes_.end() && it->second && trust_ &&
         trust_->recheck(it->second->cert, wall_now()).has_value();
}

void Tunnel::route_candidate(const IpPrefix& prefix, RemoteIdentity* remote) {
  const std::string text = prefix.network().to_string();
  // Only gateways share a network. Any other identity takes the network over, as a prefix
  // does in WireGuard's allowed IPs; callers route it only once address_owners.h let its
  // certificate hold the network (newest not_before wins).
  if (!is_gateway(*remote)) {
    remote_routes_.insert(prefix, remote);
    return;
  }
  auto site = sites_.find(text);
  if (site == sites_.end()) {
    RemoteIdentity* owner = remote_routes_.lookup(prefix.network().address);
    if (owner == nullptr || owner->public_key == remote->public_key || !is_gateway(*owner) ||
        !holds(owner->networks, prefix)) {
      remote_routes_.insert(prefix, remote);
      return;
    }
    // A second remote identity for a network already routed: keep both.
    SiteRoute r;
    r.prefix = prefix.network();
    r.candidates = {{owner->public_key, owner->name, {}}, {remote->public_key, remote->name, {}}};
    std::sort(r.candidates.begin(), r.candidates.end(), prefer);
    r.chosen = owner->public_key;
    site = sites_.emplace(text, std::move(r)).first;
    ++site_candidate_keys_[owner->public_key];
    ++site_candidate_keys_[remote->public_key];
  } else if (SiteCandidate* known = find(site->second, remote->public_key)) {
    known->name = remote->name;
  } else {
    auto& cs = site->second.candidates;
    SiteCandidate c{remote->public_key, remote->name, {}};
    cs.insert(std::upper_bound(cs.begin(), cs.end(), c, prefer), c);
    ++site_candidate_keys_[remote->public_key];
  }
  SiteRoute& r = site->second;
  // A preferred candidate takes over only while nothing flows through the chosen one yet.
  const SiteCandidate* chosen = find(r, r.chosen);
  const SiteCandidate* added = find(r, remote->public_key);
  if (chosen && added && chosen != added && prefer(*added, *chosen) && !has_answered(r.chosen))
    r.chosen = remote->public_key;
  RemoteIdentity* via = r.chosen == remote->public_key ? remote : remotes_.at(r.chosen).get();
  remote_routes_.insert(prefix, via);
  spdlog::info("site {}: {} candidates ({}), traffic via {}", text, r.candidates.size(), names(r),
               via->name);
}

void Tunnel::unroute_candidate(const IpPrefix& prefix, const RemoteIdentity& remote) {
  const std::string text = prefix.network().to_string();
  auto site = sites_.find(text);
  if (site == sites_.end()) {
    if (remote_routes_.lookup(prefix.network().address) == &remote) remote_routes_.remove(prefix);
    return;
  }
  SiteRoute& r = site->second;
  std::erase_if(r.candidates, [&](const SiteCandidate& c) { return c.key == remote.public_key; });
  if (auto n = site_candidate_keys_.find(remote.public_key);
      n != site_candidate_keys_.end() && --n->second == 0)
    site_candidate_keys_.erase(n);
  if (r.chosen == remote.public_key && !r.candidates.empty()) {
    auto next = next_candidate(r, now(), kFailedHoldDown, [](const SiteCandidate&) { return true; });
    r.chosen = r.candidates[next.value_or(0)].key;
  }
  if (!r.candidates.empty()) remote_routes_.insert(prefix, remotes_.at(r.chosen).get());
  if (r.candidates.size() > 1) return;
  for (const auto& c : r.candidates)
    if (auto n = site_candidate_keys_.find(c.key); n != site_candidate_keys_.end() && --n->second == 0)
      site_candidate_keys_.erase(n);
  sites_.erase(site);
}

void Tunnel::fail_over(const crypto::Key& dead, Duration silent) noexcept {
  if (!site_candidate_keys_.contains(dead)) return;
  const double seconds = std::chrono::duration<double>(silent).count();
  try {  // formatting may allocate; out of memory loses the lines, not the switch
    for (auto& [text, r] : sites_) {
      if (r.chosen != dead) continue;
      SiteCandidate* failed = find(r, dead);
      if (failed) failed->failed_at = now();
      const auto next = next_candidate(r, now(), kFailedHoldDown, [this](const SiteCandidate& c) {
        return candidate_usable(c.key);
      });
      const std::string from = failed ? failed->name : std::string("?");
      if (!next) {
        spdlog::warn("site failover: {} {} has no answer for {:.1f} s and no other gateway is usable",
                     text, from, seconds);
        continue;
      }
      const SiteCandidate& to = r.candidates[*next];
      r.chosen = to.key;
      ++r.failovers;
      RemoteIdentity* via = remotes_.at(to.key).get();
      remote_routes_.insert(r.prefix, via);
      // The new choice gets a fresh start: what it left unanswered before does not count.
      for (auto& local : locals_)
        if (auto it = local->paths.find(to.key); it != local->paths.end()) {
          it->second->unanswered_since.reset();
          it->second->probe_sent_at.reset();
        }
      std::string reason =
          fmt::format("{} {} -> {} (no answer for {:.1f} s)", text, from, to.name, seconds);
      spdlog::info("site failover: {}", reason);
      audit(policy::AuditEventType::kSiteFailover, nullptr, via, "", std::move(reason));
    }
  } catch (...) {
  }
}

}  // namespace keymesh::daemon
