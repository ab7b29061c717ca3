#include "discovery/directory_set.h"

namespace keymesh::discovery {

int match_length(const Record& record, const IpAddress& address) noexcept {
  int best = -1;
  for (const auto& n : record.networks)
    if (n.length > best && n.contains(address)) best = n.length;
  return best;
}

DirectorySet::DirectorySet(std::vector<Directory*> backends) : backends_(std::move(backends)) {}

DirectorySet::~DirectorySet() {
  for (const auto& [id, ids] : watches_)
    for (std::size_t i = 0; i < ids.size(); ++i) backends_[i]->unwatch(ids[i]);
}

Result<void> DirectorySet::publish(Record record) {
  std::string errors;
  for (Directory* d : backends_) {
    if (auto ok = d->publish(record); !ok) {
      if (!errors.empty()) errors += "; ";
      errors += ok.error().message;
    }
  }
  if (!errors.empty()) return fail(errors);
  return {};
}

void DirectorySet::withdraw(const Fingerprint& fingerprint) {
  for (Directory* d : backends_) d->withdraw(fingerprint);
}

const Record* DirectorySet::lookup_address(const IpAddress& address) noexcept {
  const Record* best = nullptr;
  int best_length = -1;
  for (Directory* d : backends_) {
    const Record* r = d->lookup_address(address);
    if (r == nullptr) continue;
    const int len = match_length(*r, address);
    if (len > best_length) {
      best = r;
      best_length = len;
    }
  }
  return best;
}

const Record* DirectorySet::lookup_fingerprint(const Fingerprint& fingerprint) noexcept {
  for (Directory* d : backends_)
    if (const Record* r = d->lookup_fingerprint(fingerprint)) return r;
  return nullptr;
}

WatchId DirectorySet::watch(WatchFn fn) {
  std::vector<WatchId> ids;
  ids.reserve(backends_.size());
  for (Directory* d : backends_) ids.push_back(d->watch(fn));
  const WatchId id = next_watch_++;
  watches_.emplace(id, std::move(ids));
  return id;
}

void DirectorySet::unwatch(WatchId id) {
  const auto it = watches_.find(id);
  if (it == watches_.end()) return;
  for (std::size_t i = 0; i < it->second.size(); ++i) backends_[i]->unwatch(it->second[i]);
  watches_.erase(it);
}

void DirectorySet::tick(WallTime now) {
  for (Directory* d : backends_) d->tick(now);
}

}  // namespace keymesh::discovery
