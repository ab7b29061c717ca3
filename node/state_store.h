// The node's durable state: one SQLite database, <state_dir>/node.db.
//
// Crash safety: every change is one SQLite transaction, so after a kill -9 (or a power cut) at
// any moment a workload row is either all there or not there at all; the address column is
// UNIQUE, so the database itself refuses to give one address to two workloads.
//   - journal_mode=WAL, synchronous=FULL: each commit is fsynced before it returns. NORMAL
//     would survive kill -9 but may forget the last commits on power loss, after the container
//     was already told its address; the next ADD could then be handed the same one again.
//   - locking_mode=EXCLUSIVE: the connection holds the database lock until it closes, so a
//     second keymeshd on the same state directory fails at open instead of sharing the pool.
//   - secure_delete=ON: a removed workload's private key is overwritten, not left in a free
//     page.
// Permissions: the directory is created (or tightened) to 0700 and the database to 0600; the
// WAL file inherits the database's mode. Private keys are stored base64 in the row.
//
// Threading: one StateStore per process, used from one thread (the daemon's loop). Move-only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/secret.h"

struct sqlite3;

namespace keymesh::node {

inline constexpr std::string_view kDatabaseFile = "node.db";

// One attachment as stored. `chain` is identity::serialize_chain of leaf, node CA, ...
struct WorkloadRow {
  std::string container_id;
  std::string ifname;
  std::string front_door;  // "cni", "docker", "api"
  std::string netns;
  std::string identity;    // certificate name
  std::string address;     // "100.64.1.5" (unique)
  crypto::SecretKey private_key;
  Bytes chain;
  std::int64_t created_at = 0;  // unix seconds
  std::int64_t renewed_at = 0;
};

class StateStore {
 public:
  // Creates the directory and the schema when missing. Fails when another process holds the
  // database ("... is in use by another process").
  static Result<StateStore> open(const std::string& state_dir);
  StateStore(StateStore&& other) noexcept : db_(std::exchange(other.db_, nullptr)),
                                            path_(std::move(other.path_)) {}
  StateStore& operator=(StateStore&& other) noexcept;
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;
  ~StateStore();

  const std::string& path() const noexcept { return path_; }

  // ---- workloads ----
  // Every row, ordered by (container_id, ifname). A row whose key is not 32 bytes of base64
  // is an error naming it.
  Result<std::vector<WorkloadRow>> load_workloads() const;
  // One transaction: the row, plus meta[cursor_key] = cursor_value when cursor_key is not
  // empty. Fails (nothing written) when (container_id, ifname) or the address exists.
  Result<void> insert_workload(const WorkloadRow& row, const std::string& cursor_key = {},
                               const std::string& cursor_value = {});
  // A renewed certificate chain for an existing row. False when there is no such row.
  Result<bool> update_chain(const std::string& container_id, const std::string& ifname,
                            ByteSpan chain, std::int64_t renewed_at);
  // Deletes the listed attachments in one transaction; how many rows existed.
  Result<std::size_t> delete_workloads(
      const std::vector<std::pair<std::string, std::string>>& attachments);

  // ---- small internal settings (the IPAM cursor) ----
  Result<std::optional<std::string>> get_meta(const std::string& key) const;

  // ---- generic key/value, by namespace (Docker networks and endpoints) ----
  Result<void> put_kv(const std::string& ns, const std::string& key, const std::string& value);
  Result<std::optional<std::string>> get_kv(const std::string& ns, const std::string& key) const;
  Result<std::vector<std::pair<std::string, std::string>>> list_kv(const std::string& ns) const;
  Result<bool> del_kv(const std::string& ns, const std::string& key);  // false: was not there

 private:
  StateStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace keymesh::node
