// The node's workloads: for each attachment (container, interface) an overlay address from the
// node's pool, an X25519 key and a short-lived certificate minted by the node CA, kept in the
// state database so a restart of keymeshd gives every running container the same address and
// identity. Serves WorkloadAdd/Del/List/Gc and IdentityAdd without a chain (proto/control.proto).
//
// Every change is committed to the database before memory changes, so what the store says is
// always what a restart would load. A kill -9 at any point loses at most the change in flight,
// which the caller never saw succeed.
//
// Threading: single-threaded, the daemon's loop thread. Ownership: the store owns every
// Workload; a pointer it returns stays valid until that workload is removed or the store is
// destroyed (renewal updates the workload in place).
#pragma once

#include <chrono>
#include <compare>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "crypto/secret.h"
#include "identity/certificate.h"
#include "node/ipam.h"
#include "node/node_ca.h"
#include "node/state_store.h"

namespace keymesh::node {

// How each workload came in: the CNI plugin, the Docker driver, or `keymesh identity add`.
inline constexpr std::string_view kFrontDoorCni = "cni";
inline constexpr std::string_view kFrontDoorDocker = "docker";
inline constexpr std::string_view kFrontDoorApi = "api";
// `keymesh identity add NAME` (minted, no container) is stored as ("identity:NAME", "").
inline constexpr std::string_view kIdentityPrefix = "identity:";
// kv namespace of reserved addresses (WorkloadStore::reserve).
inline constexpr std::string_view kReservationNamespace = "ipam.reserved";

struct Attachment {
  std::string container_id;
  std::string ifname;
  auto operator<=>(const Attachment&) const = default;
};

struct WorkloadSpec {
  std::string container_id;                    // not empty
  std::string ifname;                          // not empty ("eth0")
  std::string netns;                           // for CHECK and diagnostics; may be empty
  std::string front_door{kFrontDoorCni};       // "cni", "docker" or "api"
  std::string identity;                        // certificate name, already expanded
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
  std::optional<IpAddress> address;            // explicit request; nullopt: allocate
};

struct Workload {
  std::string container_id;
  std::string ifname;
  std::string netns;
  std::string front_door;
  IpPrefix address;                            // address/32
  crypto::SecretKey key;                       // X25519 private key (wiped when destroyed)
  std::vector<identity::Certificate> chain;    // leaf, node CA, its issuers (no root)
  WallTime created_at;
  WallTime renewed_at;                         // last mint (== created_at until renewed)
  WallTime renew_at;                           // when due_for_renewal starts listing it

  const identity::Certificate& certificate() const noexcept { return chain.front(); }
  const std::string& name() const noexcept { return certificate().name(); }
  const std::vector<std::string>& groups() const noexcept { return certificate().fields().groups; }
  const std::map<std::string, std::string>& labels() const noexcept {
    return certificate().fields().labels;
  }
  Attachment attachment() const { return {container_id, ifname}; }
};

class WorkloadStore {
 public:
  struct Options {
    std::chrono::seconds lifetime{24 * 3600};  // asked of the node CA, which may clamp it
    double renew_fraction = 2.0 / 3.0;         // renew after this share of the lifetime
  };

  // Opens (creating) <state_dir>/node.db and loads every workload. Fails when a row is
  // damaged (its chain does not parse, or its key does not match its certificate): handing
  // that address out again could give it to two containers.
  static Result<WorkloadStore> open(const std::string& state_dir, NodeCa ca, Options options);
  static Result<WorkloadStore> open(const std::string& state_dir, NodeCa ca) {
    return open(state_dir, std::move(ca), Options{});
  }

  // Allocates, mints and persists. Fails, consuming nothing, when the attachment exists
  // (CNI: ADD for an existing attachment is an error), the name is outside the node CA's
  // pattern, the explicit address is taken or outside the range, or the pool is exhausted.
  Result<const Workload*> add(const WorkloadSpec& spec, WallTime now);
  // `keymesh identity add NAME` without a chain: front door "api", attachment
  // ("identity:NAME", ""). Fails when NAME exists.
  Result<const Workload*> mint_identity(const std::string& name, std::vector<std::string> groups,
                                        std::map<std::string, std::string> labels,
                                        const std::optional<IpAddress>& address, WallTime now);
  // Idempotent: false when it did not exist. The address returns to the pool.
  Result<bool> remove(const std::string& container_id, const std::string& ifname);
  // Removes every workload of `front_door` whose attachment is not in `keep` (CNI GC). Returns
  // what was removed.
  Result<std::vector<Workload>> gc(const std::set<Attachment>& keep, std::string_view front_door);

  // ---- addresses held without a workload ----
  // The Docker IPAM hands out an address before the endpoint (and so the identity) exists,
  // and Docker releases it only after the endpoint is gone. A reservation keeps the address
  // from every allocation (and from add() with that explicit address) until unreserve().
  // Persisted in the state database (kv namespace kReservationNamespace), so restarts keep
  // it. `owner` says who holds it, for diagnostics. Same errors as add()'s address choice.
  Result<IpAddress> reserve(const std::optional<IpAddress>& wanted, const std::string& owner);
  // False when `a` was not reserved. The address returns to the pool.
  Result<bool> unreserve(const IpAddress& a);
  // Address text ("100.64.1.5") -> owner.
  const std::map<std::string, std::string>& reservations() const noexcept {
    return reservations_;
  }

  const Workload* find(const std::string& container_id, const std::string& ifname) const;
  const Workload* find_by_address(const IpAddress& a) const;
  std::vector<const Workload*> list() const;  // ordered by (container_id, ifname)

  // Workloads whose renew_at <= now.
  std::vector<Attachment> due_for_renewal(WallTime now) const;
  // A new certificate for the same key, address, name, groups and labels, persisted.
  Result<const Workload*> renew(const std::string& container_id, const std::string& ifname,
                                WallTime now);
  // The same, with other groups and labels (a Kubernetes pod's labels changed): the node CA
  // checks them against its constraints; on error nothing changes.
  Result<const Workload*> reissue(const std::string& container_id, const std::string& ifname,
                                  std::vector<std::string> groups,
                                  std::map<std::string, std::string> labels, WallTime now);

  const NodeCa& node_ca() const noexcept { return ca_; }
  const Ipam& ipam() const noexcept { return ipam_; }
  // The database, for other node state (the Docker driver's networks and endpoints: put_kv).
  StateStore& state() noexcept { return db_; }

 private:
  WorkloadStore(StateStore db, NodeCa ca, Options options)
      : db_(std::move(db)), ca_(std::move(ca)), ipam_(ca_.pool()), options_(options) {}
  Result<void> load();
  WallTime renew_time(const identity::Certificate& leaf) const;

  StateStore db_;
  NodeCa ca_;
  Ipam ipam_;
  Options options_;
  std::map<Attachment, Workload> workloads_;  // node-based: pointers stay valid
  std::map<std::string, std::string> reservations_;  // address text -> owner
};

}  // namespace keymesh::node
