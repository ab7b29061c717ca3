// EtcdDirectory: discovery through etcd v3 (docs/architecture.md), for clusters that outgrow one
// lighthouse. Talks to etcd's v3 JSON gateway over HTTP (/v3/kv/txn, /v3/kv/range,
// /v3/kv/deleterange, /v3/watch, /v3/lease/grant|keepalive|revoke) with libcurl.
//
// Layout under `prefix` (default /keymesh/v1; keys and values are base64 on the gateway):
//   <prefix>/records/<fingerprint hex>           a serialized proto::discovery::Record
//   <prefix>/networks/<cidr, '/' as '_'>/<hex>   the fingerprint hex: an index by network
//   <prefix>/crl/<issuer fingerprint hex>         a serialized RevocationList (cert.proto)
//   <prefix>/nodeca/<node CA fingerprint hex>     the claimant text of the host minting with it
// Every record key a host writes carries its lease (lease_ttl, kept alive at TTL/3), so a host
// that dies disappears from everyone's view within lease_ttl. Revocation lists carry no lease:
// they stay until a newer list of the same issuer replaces them. Lists are as untrusted as
// records: each receiver verifies them (identity::TrustStore::set_revocation_list) and keeps
// the newest per issuer, so a host that writes an older list over a newer one in etcd
// changes nothing for hosts that already hold the newer one.
//
// Two worker threads, so the daemon's loop never waits on etcd:
//  - the writer grants the lease, keeps it alive, and reconciles what we publish with what is
//    in etcd (after a lost lease or an etcd restart it re-grants and re-puts everything);
//  - the watcher reads the whole records prefix (range), then watches it from that revision;
//    on any failure (etcd down, compaction) it starts over with a fresh range.
// Both reconnect with exponential backoff (backoff_min .. backoff_max), rotating through
// `endpoints`. Results reach the loop thread through a uv_async handle; the cache (a
// MemoryDirectory mirroring the prefix) is touched only there, so watchers run on the loop.
// Lookups answer from the mirror and never start a query: once synced it holds everything.
// While etcd is unreachable the mirror keeps what it had.
//
// Threading: construct, call and destroy on the loop thread. The destructor stops the
// workers (revoking our lease, bounded by one request timeout) and joins them.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/uv_handle.h"
#include "discovery/memory_directory.h"

namespace keymesh::discovery {

class HttpSession;

struct EtcdOptions {
  std::vector<std::string> endpoints;   // "http://127.0.0.1:2379"; tried in turn
  std::string prefix = "/keymesh/v1";
  std::chrono::seconds lease_ttl{30};
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds backoff_min{250};
  std::chrono::milliseconds backoff_max{30000};
  MemoryDirectoryOptions cache;
  // The node CA this host mints with, claimed under <prefix>/nodeca/<fingerprint hex> with a
  // create-if-absent transaction bound to our lease (docs/identity.md, "One node CA, one
  // node"); `claimant` is the value written there, naming this host. Unset: no claim.
  std::optional<Fingerprint> node_ca;
  std::string claimant;
};

class EtcdDirectory final : public Directory {
 public:
  static Result<std::unique_ptr<EtcdDirectory>> open(uv_loop_t* loop, EtcdOptions options);
  ~EtcdDirectory() override;
  EtcdDirectory(const EtcdDirectory&) = delete;
  EtcdDirectory& operator=(const EtcdDirectory&) = delete;

  // Ours: visible here at once, in etcd as soon as the writer gets through.
  Result<void> publish(Record record) override;
  void withdraw(const Fingerprint& fingerprint) override;
  const Record* lookup_address(const IpAddress& address) noexcept override {
    return cache_.lookup_address(address);
  }
  const Record* lookup_fingerprint(const Fingerprint& fp) noexcept override {
    return cache_.lookup_fingerprint(fp);
  }
  WatchId watch(WatchFn fn) override { return cache_.watch(std::move(fn)); }
  void unwatch(WatchId id) override { cache_.unwatch(id); }
  void tick(WallTime) override {}  // etcd's leases do the expiring

  // Revocation lists: ours are put under <prefix>/crl/ (a later one for the same issuer
  // replaces it); every list seen there (snapshot and watch, ours too) is passed to `fn` on
  // the loop thread as UNVERIFIED bytes.
  void publish_revocation_list(const Fingerprint& issuer, Bytes list);
  void set_on_revocation_list(std::function<void(ByteSpan list)> fn) {
    on_revocation_list_ = std::move(fn);
  }
  // The node CA claim's outcome (options.node_ca), on the loop thread, after each check (at
  // start, after a new lease, and every lease_ttl / 3): "" granted, else the holder's claimant.
  void set_on_node_ca_claim(std::function<void(const std::string& holder)> fn) {
    on_node_ca_claim_ = std::move(fn);
  }

  // Loop-thread view: the watch stream is established and the mirror is current.
  bool synced() const noexcept { return synced_; }
  const MemoryDirectory& cache() const noexcept { return cache_; }

  struct Stats {
    std::uint64_t syncs = 0;        // full reads of the prefix (first one and reconnects)
    std::uint64_t events = 0;       // watch events applied
    std::uint64_t bad_values = 0;   // values that are not records (skipped)
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  struct Event;
  EtcdDirectory(uv_loop_t* loop, EtcdOptions options);
  void writer_main();
  Result<std::string> claim_node_ca(HttpSession& http, const std::string& base,
                                    const std::string& lease);
  void watcher_main();
  void post(Event event);
  void drain();  // loop thread

  EtcdOptions options_;
  MemoryDirectory cache_;
  UvHandle<uv_async_t> async_;
  std::map<Fingerprint, Record> own_;  // loop thread
  bool synced_ = false;                // loop thread
  Stats stats_;                        // loop thread

  // Shared with the workers.
  std::mutex mutex_;
  std::condition_variable changed_cv_;
  struct Desired {
    std::string value;                  // serialized proto::discovery::Record
    std::vector<std::string> networks;  // for the index keys
    bool operator==(const Desired&) const = default;
  };
  std::map<Fingerprint, Desired> desired_;      // guarded by mutex_
  std::map<Fingerprint, Bytes> desired_lists_;  // guarded by mutex_; by issuer
  std::function<void(ByteSpan)> on_revocation_list_;  // loop thread
  std::function<void(const std::string&)> on_node_ca_claim_;  // loop thread
  bool desired_changed_ = false;                // guarded by mutex_
  std::vector<Event> inbox_;                    // guarded by mutex_
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> failures_{0};      // writer failures: the watcher reconnects
  std::unique_ptr<HttpSession> writer_http_;
  std::unique_ptr<HttpSession> watcher_http_;
  std::thread writer_;
  std::thread watcher_;
};

}  // namespace keymesh::discovery
