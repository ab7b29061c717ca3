#include "discovery/memory_directory.h"

#include <spdlog/spdlog.h>

#include <unordered_set>

namespace keymesh::discovery {

std::string_view to_string(ChangeKind kind) noexcept {
  switch (kind) {
    case ChangeKind::Added:
      return "added";
    case ChangeKind::Updated:
      return "updated";
    case ChangeKind::Removed:
      return "removed";
  }
  return "?";
}

MemoryDirectory::MemoryDirectory(MemoryDirectoryOptions options) : options_(options) {}

void MemoryDirectory::index(const Entry& e) {
  for (const auto& n : e.record.networks) index_.add(n, e.record.fingerprint, e.order);
}

void MemoryDirectory::unindex(const Entry& e) {
  for (const auto& n : e.record.networks) index_.remove(n, e.record.fingerprint);
}

void MemoryDirectory::notify(ChangeKind kind, const Record& record) {
  if (watchers_.empty()) return;
  notifying_ = true;
  const Change change{kind, record};
  // A callback may unwatch (itself or another): iterate over a snapshot of the ids.
  std::vector<WatchId> ids;
  ids.reserve(watchers_.size());
  for (const auto& [id, fn] : watchers_) ids.push_back(id);
  for (WatchId id : ids) {
    const auto it = watchers_.find(id);
    if (it != watchers_.end()) it->second(change);
  }
  notifying_ = false;
}

Result<void> MemoryDirectory::publish(Record record) {
  if (notifying_) return fail("discovery: publish from inside a watch callback");
  if (auto ok = check_record(record); !ok) {
    ++stats_.rejected_invalid;
    return ok;
  }
  const auto it = records_.find(record.fingerprint);
  if (it != records_.end()) {
    Entry& e = it->second;
    if (e.record.same_content(record)) {
      e.record.expires = record.expires;
      return {};
    }
    unindex(e);
    e.record = std::move(record);
    e.order = next_order_++;
    index(e);
    notify(ChangeKind::Updated, e.record);
    return {};
  }
  if (records_.size() >= options_.max_records) {
    ++stats_.rejected_full;
    return fail("discovery: directory full (" + std::to_string(options_.max_records) +
                " records); " + record.describe() + " dropped");
  }
  const Fingerprint fp = record.fingerprint;
  Entry& e = records_.emplace(fp, Entry{std::move(record), next_order_++}).first->second;
  index(e);
  notify(ChangeKind::Added, e.record);
  return {};
}

void MemoryDirectory::erase(std::unordered_map<Fingerprint, Entry, FingerprintHash>::iterator it) {
  unindex(it->second);
  const Record gone = std::move(it->second.record);
  records_.erase(it);
  notify(ChangeKind::Removed, gone);
}

void MemoryDirectory::withdraw(const Fingerprint& fingerprint) {
  if (notifying_) {
    spdlog::warn("discovery: withdraw from inside a watch callback ignored");
    return;
  }
  const auto it = records_.find(fingerprint);
  if (it != records_.end()) erase(it);
}

const Record* MemoryDirectory::find_address(const IpAddress& address) const noexcept {
  const Fingerprint* fp = index_.lookup(address);
  if (fp == nullptr) return nullptr;
  const auto it = records_.find(*fp);
  return it == records_.end() ? nullptr : &it->second.record;
}

const Record* MemoryDirectory::find(const Fingerprint& fingerprint) const noexcept {
  const auto it = records_.find(fingerprint);
  return it == records_.end() ? nullptr : &it->second.record;
}

WatchId MemoryDirectory::watch(WatchFn fn) {
  const WatchId id = next_watch_++;
  watchers_.emplace(id, std::move(fn));
  return id;
}

void MemoryDirectory::unwatch(WatchId id) { watchers_.erase(id); }

void MemoryDirectory::tick(WallTime now) {
  if (notifying_) return;
  std::vector<Fingerprint> expired;
  for (const auto& [fp, e] : records_)
    if (e.record.expires <= now) expired.push_back(fp);
  for (const auto& fp : expired) {
    const auto it = records_.find(fp);
    if (it == records_.end()) continue;
    ++stats_.expired;
    erase(it);
  }
}

Result<void> MemoryDirectory::replace_all(std::vector<Record> records) {
  if (notifying_) return fail("discovery: replace_all from inside a watch callback");
  std::unordered_set<Fingerprint, FingerprintHash> keep;
  for (const auto& r : records) keep.insert(r.fingerprint);
  std::vector<Fingerprint> gone;
  for (const auto& [fp, e] : records_)
    if (!keep.contains(fp)) gone.push_back(fp);
  for (const auto& fp : gone) erase(records_.find(fp));
  std::string errors;
  for (auto& r : records) {
    if (auto ok = publish(std::move(r)); !ok) {
      if (!errors.empty()) errors += "; ";
      errors += ok.error().message;
    }
  }
  if (!errors.empty()) return fail(errors);
  return {};
}

void MemoryDirectory::for_each(const std::function<void(const Record&)>& fn) const {
  for (const auto& [fp, e] : records_) fn(e.record);
}

WallTime MemoryDirectory::next_expiry() const noexcept {
  WallTime t = WallTime::max();
  for (const auto& [fp, e] : records_) t = std::min(t, e.record.expires);
  return t;
}

}  // namespace keymesh::discovery
