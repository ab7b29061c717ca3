// Audit trail: one JSON line per decision that opens, refuses or closes a path, per denied
// packet (rate limited), per rejected handshake or certificate, and per policy reload.
//
//   {"time":"2026-03-29T08:00:00.000Z","event":"path_opened",
//    "local":{"name":"web-1","fingerprint":"ab12","groups":["web"]},
//    "remote":{"name":"db-1","fingerprint":"cd34","groups":["db"]},
//    "rule":"web-to-db","reason":"rule web-to-db grants tcp/5432 from web-1 to db-1"}
//
// (one line in the file). Every event has every key: "local"/"remote"/"rule" are null when
// they do not apply; packet_denied lines also carry "count", the number of denied packets the
// line stands for. docs/policy.md documents the format.
#pragma once

#include "common/json.h"

#include <cstdint>
#include <map>
#include <memory>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace keymesh::policy {

enum class AuditEventType : std::uint8_t {
  kPathOpened,
  kPathRefused,
  kPathClosed,
  kPacketDenied,
  kHandshakeRejected,
  kCertificateRejected,
  kPolicyReloaded,
  kSiteFailover,  // traffic for a site network moved to another gateway (remote: the new one)
};
std::string_view audit_event_name(AuditEventType t) noexcept;

struct AuditParty {
  std::string name;
  std::string fingerprint;
  std::vector<std::string> groups;
  // A person (kind user, docs/access.md): written as "kind":"user","subject":"..." after the
  // groups; "" for every other party, whose lines keep their keys.
  std::string subject;
};

struct AuditEvent {
  WallTime time;
  AuditEventType event = AuditEventType::kPathRefused;
  std::optional<AuditParty> local;
  std::optional<AuditParty> remote;
  std::string rule;    // "" -> null
  std::string reason;
  std::uint64_t count = 1;  // packet_denied: how many denied packets this event stands for
};

// The JSON line for `e`, with its trailing newline.
std::string format_audit_line(const AuditEvent& e);
// Audit lines escape every string with common/json.h.
using keymesh::json_string;

// Where lines go. write() gets one complete line; implementations write it at once.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void write(std::string_view line) = 0;
};

// Appends to a file opened with O_APPEND and O_NOFOLLOW (a symbolic link at the path is
// refused with an error saying so; one write(2) per line, so lines from several
// processes do not interleave), or writes to stdout when opened with path "-".
// Rotation (docs/operations.md): reopen() opens the path afresh (SIGHUP after `mv`); follow()
// (from a ~1 s timer) reopens when the path names another file or none, and counts a file
// that shrank (logrotate's copytruncate), whose next line O_APPEND puts at the new end. The
// descriptor number never changes (dup2), so a write racing a reopen lands in one of the two.
class FileAuditSink final : public AuditSink {
 public:
  static Result<std::unique_ptr<FileAuditSink>> open(const std::string& path);
  ~FileAuditSink() override;
  FileAuditSink(const FileAuditSink&) = delete;
  FileAuditSink& operator=(const FileAuditSink&) = delete;
  void write(std::string_view line) override;
  std::uint64_t write_errors() const noexcept { return write_errors_; }
  Result<void> reopen();
  void follow() noexcept;
  std::uint64_t reopens() const noexcept { return reopens_; }
  std::uint64_t truncations() const noexcept { return truncations_; }

 private:
  FileAuditSink(int fd, bool owned, std::string path) : fd_(fd), owned_(owned), path_(std::move(path)) {}
  int fd_;
  bool owned_;
  std::string path_;
  std::uint64_t write_errors_ = 0;
  std::uint64_t reopens_ = 0, truncations_ = 0;
  long long last_size_ = 0;  // at the last follow()
};

// Keeps lines in memory (tests, `keymesh audit tail`).
class MemoryAuditSink final : public AuditSink {
 public:
  void write(std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

// Formats events and applies the packet_denied rate limit: per (local, remote) pair, the
// first denied packet is written at once with count 1; later ones within a second of the
// last line are counted, and the next line (at the first denied packet a second or more
// after the last line, or at flush()) carries their count. So a flood gives one line per
// second per pair, and every denied packet is counted in exactly one line.
// Thread-safe (one mutex; events are control-path rare except packet_denied, which takes
// the lock only to count).
class AuditLog {
 public:
  explicit AuditLog(AuditSink& sink, std::chrono::milliseconds interval = std::chrono::seconds(1))
      : sink_(sink), interval_(interval) {}

  void record(const AuditEvent& e);
  // Writes the counts still pending whose second has passed; call from a ~1 s timer.
  // Also forgets quiet pairs so memory stays bounded.
  void flush(WallTime now);

 private:
  struct Pending {
    WallTime last_line;
    std::uint64_t count = 0;
    AuditEvent last;  // the latest denied packet's event, reported with the count
  };
  void packet_denied(const AuditEvent& e);

  AuditSink& sink_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Pending> pending_;  // guarded by mutex_
};

}  // namespace keymesh::policy
