// MemoryDirectory: the in-memory Directory. Every backend keeps one as its cache; tests and
// the static backend use it as it is. Records expire at Record::expires (checked in tick)
// unless re-published; a re-publish with the same content only moves `expires` (no Change).
// Longest-prefix lookups go through a PrefixIndex (prefix_index.h).
//
// Limits: at most `max_records` records; a publish beyond that fails (counted), so a flood of
// answers from an untrusted source cannot grow memory without bound.
// Thread safety: none; the owner's thread (the daemon's loop thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include "discovery/directory.h"
#include "discovery/prefix_index.h"

namespace keymesh::discovery {

struct MemoryDirectoryOptions {
  std::size_t max_records = 65536;
};

class MemoryDirectory final : public Directory {
 public:
  explicit MemoryDirectory(MemoryDirectoryOptions options = {});

  Result<void> publish(Record record) override;
  void withdraw(const Fingerprint& fingerprint) override;
  const Record* lookup_address(const IpAddress& address) noexcept override {
    return find_address(address);
  }
  const Record* lookup_fingerprint(const Fingerprint& fingerprint) noexcept override {
    return find(fingerprint);
  }
  WatchId watch(WatchFn fn) override;
  void unwatch(WatchId id) override;
  // Removes every record with expires <= now.
  void tick(WallTime now) override;

  // Makes the directory hold exactly `records` (a reloaded file, an etcd snapshot), with one
  // Change per record that appeared, changed or went away. Invalid records are skipped and
  // reported in the error (the valid ones are still applied).
  // Const lookups (a MemoryDirectory never queries anyone).
  const Record* find_address(const IpAddress& address) const noexcept;
  const Record* find(const Fingerprint& fingerprint) const noexcept;

  Result<void> replace_all(std::vector<Record> records);
  void for_each(const std::function<void(const Record&)>& fn) const;
  std::size_t size() const noexcept { return records_.size(); }
  // The earliest `expires` held (WallTime::max() when empty or nothing expires).
  WallTime next_expiry() const noexcept;

  struct Stats {
    std::uint64_t rejected_full = 0;     // publish refused: max_records reached
    std::uint64_t rejected_invalid = 0;  // publish refused: check_record failed
    std::uint64_t expired = 0;
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  struct Entry {
    Record record;
    std::uint64_t order;  // publication sequence: the latest claim on a network wins
  };

  void index(const Entry& e);
  void unindex(const Entry& e);
  void erase(std::unordered_map<Fingerprint, Entry, FingerprintHash>::iterator it);
  void notify(ChangeKind kind, const Record& record);

  MemoryDirectoryOptions options_;
  std::unordered_map<Fingerprint, Entry, FingerprintHash> records_;
  PrefixIndex index_;
  std::map<WatchId, WatchFn> watchers_;
  WatchId next_watch_ = 1;
  std::uint64_t next_order_ = 1;
  bool notifying_ = false;  // set while watch callbacks run: mutation is refused then
  Stats stats_;
};

}  // namespace keymesh::discovery
