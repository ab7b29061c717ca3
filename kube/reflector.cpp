#include "kube/reflector.h"

#include <utility>

namespace keymesh::kube {
namespace {

// The resync rules are the same for every kind; only the key and the map differ.
template <typename T, typename KeyFn>
std::vector<Change> replace_all(std::map<std::string, T>& cache, std::vector<T> items, KeyFn key) {
  std::vector<Change> changes;
  std::map<std::string, T> next;
  for (auto& item : items) {
    std::string k = key(item);
    auto old = cache.find(k);
    if (old == cache.end()) changes.push_back({EventType::kAdded, k});
    else if (old->second.resource_version != item.resource_version) changes.push_back({EventType::kModified, k});
    next.insert_or_assign(std::move(k), std::move(item));
  }
  for (const auto& [k, _] : cache)
    if (!next.contains(k)) changes.push_back({EventType::kDeleted, k});
  cache = std::move(next);
  return changes;
}

template <typename T>
Change apply(std::map<std::string, T>& cache, EventType type, std::string key, T item) {
  if (type == EventType::kDeleted) {
    cache.erase(key);
    return {EventType::kDeleted, std::move(key)};
  }
  const bool had = cache.contains(key);
  cache.insert_or_assign(key, std::move(item));
  return {had ? EventType::kModified : EventType::kAdded, std::move(key)};
}

}  // namespace

std::string pod_key(const Pod& p) { return p.namespace_name + "/" + p.name; }
std::string network_policy_key(const policy::NetworkPolicy& p) { return p.namespace_name + "/" + p.name; }

Reflector::Reflector(Kind kind, std::string path) : kind_(kind), path_(std::move(path)) {}

std::string Reflector::next_request() const {
  const char sep = path_.find('?') == std::string::npos ? '?' : '&';
  // No `limit`: the server then answers with every item in one reply (bounded by
  // kMaxListBytes), so no `continue` token is needed and no item is left on a later page.
  if (needs_list()) return path_;
  // allowWatchBookmarks: the server sends the newest resourceVersion now and then, so a resume
  // after a quiet period does not start from a version the server has compacted away.
  return path_ + sep + "watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=" + resource_version_;
}

std::expected<std::vector<Change>, std::string> Reflector::on_list(std::string_view body) {
  auto list = parse_list(body, kind_);
  if (!list) return std::unexpected("list: " + list.error());
  if (list->resource_version.empty()) return std::unexpected("list: no metadata.resourceVersion");
  std::vector<Change> changes;
  if (kind_ == Kind::kPod)
    changes = replace_all(pods_, std::move(list->pods), pod_key);
  else if (kind_ == Kind::kNetworkPolicy)
    changes = replace_all(network_policies_, std::move(list->network_policies), network_policy_key);
  else
    changes = replace_all(namespaces_, std::move(list->namespaces), [](const Namespace& n) { return n.name; });
  resource_version_ = std::move(list->resource_version);
  return changes;
}

std::expected<std::vector<Change>, std::string> Reflector::on_event(std::string_view line) {
  auto ev = parse_watch_event(line, kind_);
  if (!ev) return std::unexpected("watch: " + ev.error());
  switch (ev->type) {
    case EventType::kError:
      if (ev->error_code == 410) {  // Gone: our version was compacted; list again
        resource_version_.clear();
        ++relists_;
        return std::vector<Change>{};
      }
      return std::unexpected("watch: error " + std::to_string(ev->error_code) + ": " + ev->error_message);
    case EventType::kBookmark:
      resource_version_ = std::move(ev->resource_version);
      return std::vector<Change>{};
    default:
      break;
  }
  if (!ev->resource_version.empty()) resource_version_ = ev->resource_version;
  if (kind_ == Kind::kPod) {
    std::string k = pod_key(ev->pod);
    return std::vector<Change>{apply(pods_, ev->type, std::move(k), std::move(ev->pod))};
  }
  if (kind_ == Kind::kNetworkPolicy) {
    std::string k = network_policy_key(ev->network_policy);
    return std::vector<Change>{apply(network_policies_, ev->type, std::move(k), std::move(ev->network_policy))};
  }
  std::string k = ev->ns.name;
  return std::vector<Change>{apply(namespaces_, ev->type, std::move(k), std::move(ev->ns))};
}

}  // namespace keymesh::kube
