// DirectorySet: several backends behind one Directory, for a daemon configured with, say, a
// static file and lighthouses (and/or etcd). It owns none of them.
//  - publish / withdraw go to every backend (a static file ignores them);
//  - lookup_address asks every backend (so each can start its own query on a miss) and
//    returns the answer with the longest matching prefix; on a tie, the earlier backend;
//  - lookup_fingerprint returns the first backend's hit, in order;
//  - watch subscribes to every backend; a Change names the record of the backend that
//    changed, so on any Change the daemon should look up again through the set;
//  - tick ticks every backend.
// Backends must outlive the set. Thread safety: the loop thread, like the backends.
#pragma once

#include <map>
#include <vector>

#include "discovery/directory.h"

namespace keymesh::discovery {

class DirectorySet final : public Directory {
 public:
  // In priority order (e.g. static first, so a file can pin an endpoint).
  explicit DirectorySet(std::vector<Directory*> backends);
  ~DirectorySet() override;
  DirectorySet(const DirectorySet&) = delete;
  DirectorySet& operator=(const DirectorySet&) = delete;

  // Succeeds when every backend accepted the record; the error lists the refusals.
  Result<void> publish(Record record) override;
  void withdraw(const Fingerprint& fingerprint) override;
  const Record* lookup_address(const IpAddress& address) noexcept override;
  const Record* lookup_fingerprint(const Fingerprint& fingerprint) noexcept override;
  WatchId watch(WatchFn fn) override;
  void unwatch(WatchId id) override;
  void tick(WallTime now) override;

 private:
  std::vector<Directory*> backends_;
  std::map<WatchId, std::vector<WatchId>> watches_;  // ours -> one per backend, in order
  WatchId next_watch_ = 1;
};

// The length of the longest network of `record` that contains `address`, or -1.
int match_length(const Record& record, const IpAddress& address) noexcept;

}  // namespace keymesh::discovery
