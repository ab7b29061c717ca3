// discovery::Directory: where can identity X or overlay address Y be reached now?
// (docs/architecture.md.) One interface over every backend:
//   MemoryDirectory    (memory_directory.h)  the cache each backend fills; records expire
//   StaticDirectory    (static_directory.h)  a YAML file, reloadable
//   LighthouseClient   (lighthouse_client.h) asks lighthouses inside the overlay
//   EtcdDirectory      (etcd_directory.h)    etcd v3, leases and a watch
//   DirectorySet       (directory_set.h)     several of the above behind one Directory
//
// Discovery is UNTRUSTED (record.h): whatever it returns, the daemon only tries a handshake,
// which validates the certificate chain. It never grants anything.
//
// Contract for the daemon:
//  - Threading: every method runs on the daemon's loop thread. Backends that do I/O on other
//    threads (etcd) hand their results to the loop thread before touching the cache.
//  - Lookups never block and never do I/O on the caller's stack beyond queueing one small
//    datagram. A miss returns nullptr and may start an asynchronous query (lighthouse); when
//    the answer arrives, watchers get a Change (Added) and the daemon sends what it queued.
//  - A returned `const Record*` is valid until the next non-const call on that directory or
//    until control returns to the event loop (backends mutate from loop callbacks). Copy the
//    endpoints you need right away.
//  - Watch callbacks run synchronously inside publish, withdraw, tick or a backend's loop
//    callback, after the change is in place. They may look up, but must not publish or
//    withdraw on the same directory (such calls fail).
//  - Call tick() at least every kTickInterval with the wall-clock time; it expires records and
//    drives backend timers (re-registration, query retries).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "discovery/record.h"

namespace keymesh::discovery {

inline constexpr std::chrono::milliseconds kTickInterval{250};

enum class ChangeKind : std::uint8_t {
  Added,    // a record for a fingerprint not held before
  Updated,  // same fingerprint, different content (endpoints, chain, networks)
  Removed,  // withdrawn, expired, or gone from the backend
};
std::string_view to_string(ChangeKind kind) noexcept;

struct Change {
  ChangeKind kind;
  const Record& record;  // for Removed: the record as it was; valid during the callback only
};

using WatchFn = std::function<void(const Change&)>;
using WatchId = std::uint64_t;

class Directory {
 public:
  virtual ~Directory() = default;

  // Makes a record of OURS findable by others (and by lookups here). Replaces an earlier
  // record with the same fingerprint. Fails on records that break check_record's limits.
  // A refresh with identical content notifies nobody.
  virtual Result<void> publish(Record record) = 0;
  // Stops announcing a record of ours; a no-op for unknown fingerprints.
  virtual void withdraw(const Fingerprint& fingerprint) = 0;

  // The live record whose networks hold the longest prefix containing `address`; nullptr on
  // a miss (which may start an asynchronous query).
  virtual const Record* lookup_address(const IpAddress& address) noexcept = 0;
  virtual const Record* lookup_fingerprint(const Fingerprint& fingerprint) noexcept = 0;

  virtual WatchId watch(WatchFn fn) = 0;
  virtual void unwatch(WatchId id) = 0;

  virtual void tick(WallTime now) = 0;
};

}  // namespace keymesh::discovery
