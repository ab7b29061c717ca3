#include "node/state_store.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"
#include "identity/files.h"

namespace keymesh::node {

namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS workloads (
  container_id TEXT NOT NULL,
  ifname       TEXT NOT NULL,
  front_door   TEXT NOT NULL,
  netns        TEXT NOT NULL,
  identity     TEXT NOT NULL,
  address      TEXT NOT NULL UNIQUE,
  private_key  TEXT NOT NULL,
  chain        BLOB NOT NULL,
  created_at   INTEGER NOT NULL,
  renewed_at   INTEGER NOT NULL,
  PRIMARY KEY (container_id, ifname)
);
CREATE TABLE IF NOT EXISTS kv (
  ns    TEXT NOT NULL,
  key   TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ns, key)
);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql";

// One prepared statement; finalized on scope exit. Binds copy nothing the caller must keep
// alive past step() except where noted.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool prepared() const noexcept { return rc_ == SQLITE_OK; }
  // SQLITE_STATIC: `v` must stay alive until step() returns; SQLite copies it into the page.
  void text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_STATIC);
  }
  void blob(int i, ByteSpan v) {
    sqlite3_bind_blob(s_, i, v.data(), int(v.size()), SQLITE_STATIC);
  }
  void int64(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  int step() { return rc_ = sqlite3_step(s_); }
  void clear() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  std::string_view column_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string_view(p, std::size_t(sqlite3_column_bytes(s_, i))) : std::string_view();
  }
  Bytes column_blob(int i) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, i));
    return p ? Bytes(p, p + sqlite3_column_bytes(s_, i)) : Bytes();
  }
  std::int64_t column_int64(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_ = SQLITE_OK;
};

std::unexpected<Error> db_fail(sqlite3* db, const std::string& path, const std::string& what) {
  const int code = sqlite3_extended_errcode(db);
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
    return fail(path + ": " + what + ": the database is in use by another process (is another "
                "keymeshd running with the same state directory?)");
  return fail(path + ": " + what + ": " + sqlite3_errmsg(db));
}

Result<void> exec(sqlite3* db, const std::string& path, const char* sql, const char* what) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    return db_fail(db, path, what);
  return {};
}

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails.
template <class F>
auto in_transaction(sqlite3* db, const std::string& path, F&& body) -> decltype(body()) {
  if (auto r = exec(db, path, "BEGIN IMMEDIATE", "begin"); !r) return std::unexpected(r.error());
  auto result = body();
  if (!result) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return result;
  }
  if (auto r = exec(db, path, "COMMIT", "commit"); !r) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return std::unexpected(r.error());
  }
  return result;
}

// mkdir 0700, or tighten an existing directory to 0700.
Result<void> prepare_directory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(dir + ": cannot create the state directory: " + errno_text(errno));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fail(dir + ": " + errno_text(errno));
  if (!S_ISDIR(st.st_mode)) return fail(dir + ": not a directory");
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0)
    return fail(dir + ": cannot restrict the state directory to 0700: " + errno_text(errno));
  return {};
}

// Creates the database file 0600 before SQLite sees it (SQLite would use the umask), and
// tightens an existing one.
Result<void> prepare_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(path + ": " + errno_text(errno));
  struct stat st {};
  Result<void> r;
  if (::fstat(fd, &st) != 0) r = fail(path + ": " + errno_text(errno));
  else if (!S_ISREG(st.st_mode)) r = fail(path + ": not a regular file");
  else if ((st.st_mode & 077) != 0 && ::fchmod(fd, 0600) != 0)
    r = fail(path + ": cannot restrict to 0600: " + errno_text(errno));
  ::close(fd);
  return r;
}

}  // namespace

Result<StateStore> StateStore::open(const std::string& state_dir) {
  if (auto r = prepare_directory(state_dir); !r) return std::unexpected(r.error());
  const std::string path = state_dir + "/" + std::string(kDatabaseFile);
  if (auto r = prepare_file(path); !r) return std::unexpected(r.error());

  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nullptr);
  StateStore store(raw, path);  // closes `raw` on every early return
  if (rc != SQLITE_OK) return db_fail(raw, path, "cannot open");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 200);
  // Order matters: exclusive locking before WAL keeps the WAL index in heap memory (no -shm).
  if (auto r = exec(raw, path, "PRAGMA locking_mode=EXCLUSIVE", "locking mode"); !r)
    return std::unexpected(r.error());
  {
    Stmt wal(raw, "PRAGMA journal_mode=WAL");
    if (!wal.prepared() || wal.step() != SQLITE_ROW) return db_fail(raw, path, "journal mode");
    if (wal.column_text(0) != "wal") return fail(path + ": cannot switch to WAL journal mode");
  }
  if (auto r = exec(raw, path, "PRAGMA synchronous=FULL; PRAGMA secure_delete=ON", "pragmas");
      !r)
    return std::unexpected(r.error());
  auto schema = in_transaction(raw, path, [&]() -> Result<void> {
    Stmt version(raw, "PRAGMA user_version");
    if (!version.prepared() || version.step() != SQLITE_ROW)
      return db_fail(raw, path, "schema version");
    const auto v = version.column_int64(0);
    if (v > kSchemaVersion)
      return fail(path + ": written by a newer keymeshd (schema " + std::to_string(v) +
                  ", this one knows " + std::to_string(kSchemaVersion) + ")");
    if (auto r = exec(raw, path, kSchema, "create schema"); !r) return r;
    return exec(raw, path, "PRAGMA user_version=1", "schema version");
  });
  if (!schema) return std::unexpected(schema.error());
  return store;
}

StateStore& StateStore::operator=(StateStore&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

StateStore::~StateStore() { sqlite3_close_v2(db_); }

Result<std::vector<WorkloadRow>> StateStore::load_workloads() const {
  Stmt q(db_,
         "SELECT container_id, ifname, front_door, netns, identity, address, private_key, chain,"
         " created_at, renewed_at FROM workloads ORDER BY container_id, ifname");
  if (!q.prepared()) return db_fail(db_, path_, "read workloads");
  std::vector<WorkloadRow> rows;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    WorkloadRow row;
    row.container_id = q.column_text(0);
    row.ifname = q.column_text(1);
    row.front_door = q.column_text(2);
    row.netns = q.column_text(3);
    row.identity = q.column_text(4);
    row.address = q.column_text(5);
    // Straight from SQLite's buffer into the wiping key: no temporary copy of the secret.
    if (identity::decode_armored(q.column_text(6), row.private_key.span()) != 32)
      return fail(path_ + ": workload " + row.container_id + "/" + row.ifname +
                  ": private key is not 32 bytes of base64");
    row.chain = q.column_blob(7);
    row.created_at = q.column_int64(8);
    row.renewed_at = q.column_int64(9);
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return db_fail(db_, path_, "read workloads");
  return rows;
}

Result<void> StateStore::insert_workload(const WorkloadRow& row, const std::string& cursor_key,
                                         const std::string& cursor_value) {
  return in_transaction(db_, path_, [&]() -> Result<void> {
    Stmt ins(db_,
             "INSERT INTO workloads (container_id, ifname, front_door, netns, identity, address,"
             " private_key, chain, created_at, renewed_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
    if (!ins.prepared()) return db_fail(db_, path_, "insert workload");
    std::string key = to_base64(row.private_key.span());
    ins.text(1, row.container_id);
    ins.text(2, row.ifname);
    ins.text(3, row.front_door);
    ins.text(4, row.netns);
    ins.text(5, row.identity);
    ins.text(6, row.address);
    ins.text(7, key);
    ins.blob(8, row.chain);
    ins.int64(9, row.created_at);
    ins.int64(10, row.renewed_at);
    const int rc = ins.step();
    ins.clear();
    sodium_memzero(key.data(), key.size());
    if (rc != SQLITE_DONE)
      return db_fail(db_, path_, "insert workload " + row.container_id + "/" + row.ifname);
    if (cursor_key.empty()) return {};
    Stmt meta(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
    if (!meta.prepared()) return db_fail(db_, path_, "write " + cursor_key);
    meta.text(1, cursor_key);
    meta.text(2, cursor_value);
    if (meta.step() != SQLITE_DONE) return db_fail(db_, path_, "write " + cursor_key);
    return {};
  });
}

Result<bool> StateStore::update_chain(const std::string& container_id, const std::string& ifname,
                                      ByteSpan chain, std::int64_t renewed_at) {
  return in_transaction(db_, path_, [&]() -> Result<bool> {
    Stmt up(db_,
            "UPDATE workloads SET chain = ?, renewed_at = ?"
            " WHERE container_id = ? AND ifname = ?");
    if (!up.prepared()) return db_fail(db_, path_, "renew workload");
    up.blob(1, chain);
    up.int64(2, renewed_at);
    up.text(3, container_id);
    up.text(4, ifname);
    if (up.step() != SQLITE_DONE)
      return db_fail(db_, path_, "renew workload " + container_id + "/" + ifname);
    return sqlite3_changes(db_) > 0;
  });
}

Result<std::size_t> StateStore::delete_workloads(
    const std::vector<std::pair<std::string, std::string>>& attachments) {
  return in_transaction(db_, path_, [&]() -> Result<std::size_t> {
    Stmt del(db_, "DELETE FROM workloads WHERE container_id = ? AND ifname = ?");
    if (!del.prepared()) return db_fail(db_, path_, "remove workload");
    std::size_t n = 0;
    for (const auto& [id, ifname] : attachments) {
      del.text(1, id);
      del.text(2, ifname);
      if (del.step() != SQLITE_DONE) return db_fail(db_, path_, "remove workload " + id);
      n += std::size_t(sqlite3_changes(db_));
      del.clear();
    }
    return n;
  });
}

Result<std::optional<std::string>> StateStore::get_meta(const std::string& key) const {
  Stmt q(db_, "SELECT value FROM meta WHERE key = ?");
  if (!q.prepared()) return db_fail(db_, path_, "read " + key);
  q.text(1, key);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(q.column_text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return db_fail(db_, path_, "read " + key);
}

Result<void> StateStore::put_kv(const std::string& ns, const std::string& key,
                                const std::string& value) {
  Stmt q(db_, "INSERT OR REPLACE INTO kv (ns, key, value) VALUES (?, ?, ?)");
  if (!q.prepared()) return db_fail(db_, path_, "write " + ns + "/" + key);
  q.text(1, ns);
  q.text(2, key);
  q.blob(3, ByteSpan(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
  if (q.step() != SQLITE_DONE) return db_fail(db_, path_, "write " + ns + "/" + key);
  return {};
}

Result<std::optional<std::string>> StateStore::get_kv(const std::string& ns,
                                                      const std::string& key) const {
  Stmt q(db_, "SELECT value FROM kv WHERE ns = ? AND key = ?");
  if (!q.prepared()) return db_fail(db_, path_, "read " + ns + "/" + key);
  q.text(1, ns);
  q.text(2, key);
  const int rc = q.step();
  if (rc == SQLITE_ROW) {
    const Bytes v = q.column_blob(0);
    return std::optional<std::string>(std::string(v.begin(), v.end()));
  }
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return db_fail(db_, path_, "read " + ns + "/" + key);
}

Result<std::vector<std::pair<std::string, std::string>>> StateStore::list_kv(
    const std::string& ns) const {
  Stmt q(db_, "SELECT key, value FROM kv WHERE ns = ? ORDER BY key");
  if (!q.prepared()) return db_fail(db_, path_, "list " + ns);
  q.text(1, ns);
  std::vector<std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    const Bytes v = q.column_blob(1);
    out.emplace_back(std::string(q.column_text(0)), std::string(v.begin(), v.end()));
  }
  if (rc != SQLITE_DONE) return db_fail(db_, path_, "list " + ns);
  return out;
}

Result<bool> StateStore::del_kv(const std::string& ns, const std::string& key) {
  Stmt q(db_, "DELETE FROM kv WHERE ns = ? AND key = ?");
  if (!q.prepared()) return db_fail(db_, path_, "delete " + ns + "/" + key);
  q.text(1, ns);
  q.text(2, key);
  if (q.step() != SQLITE_DONE) return db_fail(db_, path_, "delete " + ns + "/" + key);
  return sqlite3_changes(db_) > 0;
}

}  // namespace keymesh::node
