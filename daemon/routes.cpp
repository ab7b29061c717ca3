#include "daemon/routes.h"

#include <spdlog/spdlog.h>

#include "daemon/daemon_impl.h"
#include "tun/netlink.h"

namespace keymesh::daemon {

namespace {

bool covers(const IpPrefix& outer, const IpPrefix& inner) noexcept {
  return outer.address.family == inner.address.family && outer.length <= inner.length &&
         outer.network().contains(inner.address);
}

bool overlaps(const IpPrefix& a, const IpPrefix& b) noexcept {
  return covers(a, b) || covers(b, a);
}

}  // namespace

std::vector<IpPrefix> plan_site_routes(std::span<const IpPrefix> remote_networks,
                                       std::span<const IpPrefix> local_networks,
                                       std::span<const IpPrefix> interface_prefixes) {
  std::map<std::string, IpPrefix> wanted;
  for (const auto& raw : remote_networks) {
    const IpPrefix prefix = raw.network();
    if (prefix.length == 0) continue;
    bool skip = false;
    for (const auto& own : interface_prefixes) skip |= covers(own, prefix);
    for (const auto& local : local_networks) skip |= overlaps(local, prefix);
    if (!skip) wanted.emplace(prefix.to_string(), prefix);
  }
  std::vector<IpPrefix> out;
  out.reserve(wanted.size());
  for (auto& [text, prefix] : wanted) out.push_back(prefix);
  return out;
}

SiteRoutes::SiteRoutes(std::string ifname, std::vector<IpPrefix> interface_prefixes)
    : ifname_(std::move(ifname)), interface_prefixes_(std::move(interface_prefixes)) {}

void SiteRoutes::sync(std::span<const IpPrefix> remote_networks,
                      std::span<const IpPrefix> local_networks) {
  std::map<std::string, IpPrefix> wanted;
  for (const auto& p : plan_site_routes(remote_networks, local_networks, interface_prefixes_))
    wanted.emplace(p.to_string(), p);
  for (auto it = installed_.begin(); it != installed_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto r = tun::delete_route(ifname_, it->second); !r) {
      spdlog::warn("site route {} via {}: cannot remove: {}", it->first, ifname_,
                   r.error().message);
      ++it;
      continue;
    }
    spdlog::info("site route {} via {} removed (no remote identity holds it)", it->first,
                 ifname_);
    it = installed_.erase(it);
  }
  for (const auto& [text, prefix] : wanted) {
    if (installed_.contains(text)) continue;
    if (auto r = tun::add_route(ifname_, prefix); !r) {
      // Once per prefix and reason, not once per sync.
      if (auto& last = failed_[text]; last != r.error().message) {
        last = r.error().message;
        spdlog::warn("site route {} via {}: cannot add: {}", text, ifname_, last);
      }
      continue;
    }
    failed_.erase(text);
    spdlog::info("site route {} via {} added", text, ifname_);
    installed_.emplace(text, prefix);
  }
}

std::vector<std::string> SiteRoutes::installed() const {
  std::vector<std::string> out;
  for (const auto& [text, prefix] : installed_) out.push_back(text);
  return out;
}

void Daemon::Impl::sync_routes() {
  if (!site_routes || !tunnel) return;
  std::vector<IpPrefix> locals;
  for (const LocalIdentity* l : tunnel->local_identities())
    if (l->certified) locals.insert(locals.end(), l->cert.networks.begin(), l->cert.networks.end());
  site_routes->sync(tunnel->remote_networks(), locals);
}

}  // namespace keymesh::daemon
