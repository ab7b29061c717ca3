#include "policy/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/json.h"
#include "policy/schedule.h"

namespace keymesh::policy {

std::string_view audit_event_name(AuditEventType t) noexcept {
  switch (t) {
    case AuditEventType::kPathOpened:
      return "path_opened";
    case AuditEventType::kPathRefused:
      return "path_refused";
    case AuditEventType::kPathClosed:
      return "path_closed";
    case AuditEventType::kPacketDenied:
      return "packet_denied";
    case AuditEventType::kHandshakeRejected:
      return "handshake_rejected";
    case AuditEventType::kCertificateRejected:
      return "certificate_rejected";
    case AuditEventType::kSiteFailover:
      return "site_failover";
    case AuditEventType::kPolicyReloaded:
      break;
  }
  return "policy_reloaded";
}

namespace {

void append_party(std::string& out, const std::optional<AuditParty>& p) {
  if (!p) {
    out += "null";
    return;
  }
  out += "{\"name\":" + json_string(p->name) + ",\"fingerprint\":" + json_string(p->fingerprint) +
         ",\"groups\":[";
  for (std::size_t i = 0; i < p->groups.size(); ++i) {
    if (i) out += ',';
    out += json_string(p->groups[i]);
  }
  out += "]";
  if (!p->subject.empty()) out += ",\"kind\":\"user\",\"subject\":" + json_string(p->subject);
  out += "}";
}

std::string party_key(const std::optional<AuditParty>& p) {
  if (!p) return {};
  return p->fingerprint.empty() ? "name:" + p->name : p->fingerprint;
}

}  // namespace

std::string format_audit_line(const AuditEvent& e) {
  std::string out = "{\"time\":\"" + format_rfc3339_ms(e.time) + "\",\"event\":\"" +
                    std::string(audit_event_name(e.event)) + "\",\"local\":";
  append_party(out, e.local);
  out += ",\"remote\":";
  append_party(out, e.remote);
  out += ",\"rule\":";
  out += e.rule.empty() ? std::string("null") : json_string(e.rule);
  out += ",\"reason\":" + json_string(e.reason);
  // Handshake and certificate rejections are aggregated per source (daemon/rejection_audit.h).
  if (e.event == AuditEventType::kPacketDenied || e.event == AuditEventType::kHandshakeRejected ||
      e.event == AuditEventType::kCertificateRejected || e.event == AuditEventType::kPathRefused)
    out += ",\"count\":" + std::to_string(e.count);
  out += "}\n";
  return out;
}

// ---- Sinks ----

Result<std::unique_ptr<FileAuditSink>> FileAuditSink::open(const std::string& path) {
  if (path == "-")
    return std::unique_ptr<FileAuditSink>(new FileAuditSink(STDOUT_FILENO, false, ""));
  // O_NOFOLLOW: keymeshd runs as root; a symbolic link planted at the audit path must not make
  // it append to (or create) a file of the planter's choice.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0 && errno == ELOOP)
    return fail("cannot open audit log " + path + ": it is a symbolic link (refused)");
  if (fd < 0) return fail("cannot open audit log " + path + ": " + std::strerror(errno));
  return std::unique_ptr<FileAuditSink>(new FileAuditSink(fd, true, path));
}

Result<void> FileAuditSink::reopen() {
  if (!owned_) return {};
  const int fd =
      ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0 && errno == ELOOP)
    return fail("cannot reopen audit log " + path_ + ": it is a symbolic link (refused)");
  if (fd < 0) return fail("cannot reopen audit log " + path_ + ": " + std::strerror(errno));
  // dup2 keeps fd_'s number (and its close-on-exec flag we set again below), so no write
  // ever sees a closed descriptor.
  const int rc = ::dup3(fd, fd_, O_CLOEXEC);
  const int saved = errno;
  ::close(fd);
  if (rc < 0) return fail("cannot reopen audit log " + path_ + ": " + std::strerror(saved));
  ++reopens_;
  last_size_ = 0;
  return {};
}

void FileAuditSink::follow() noexcept {
  if (!owned_) return;
  struct stat by_path{}, by_fd{};
  if (::fstat(fd_, &by_fd) != 0) return;
  if (::stat(path_.c_str(), &by_path) != 0 || by_path.st_ino != by_fd.st_ino ||
      by_path.st_dev != by_fd.st_dev) {
    try {
      (void)reopen();  // moved or deleted without a SIGHUP: start the file again
    } catch (...) {
    }
    return;
  }
  if (by_fd.st_size < last_size_) ++truncations_;  // copytruncate: O_APPEND follows the new end
  last_size_ = by_fd.st_size;
}

FileAuditSink::~FileAuditSink() {
  if (owned_) ::close(fd_);
}

void FileAuditSink::write(std::string_view line) {
  // One write per line: with O_APPEND the kernel places it at the end atomically. A short
  // write (disk full) is retried for the rest; an error is counted, not thrown: auditing
  // must not take the data plane down.
  while (!line.empty()) {
    const ssize_t n = ::write(fd_, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++write_errors_;
      return;
    }
    line.remove_prefix(std::size_t(n));
  }
}

// ---- AuditLog ----

void AuditLog::record(const AuditEvent& e) {
  if (e.event == AuditEventType::kPacketDenied) {
    packet_denied(e);
    return;
  }
  const std::string line = format_audit_line(e);
  std::lock_guard lock(mutex_);
  sink_.write(line);
}

void AuditLog::packet_denied(const AuditEvent& e) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = pending_.try_emplace({party_key(e.local), party_key(e.remote)});
  Pending& p = it->second;
  if (!fresh && e.time < p.last_line + interval_) {
    p.count += e.count;
    p.last = e;
    return;
  }
  AuditEvent line = e;
  line.count = p.count + e.count;
  p.count = 0;
  p.last_line = e.time;
  sink_.write(format_audit_line(line));
}

void AuditLog::flush(WallTime now) {
  std::lock_guard lock(mutex_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now < p.last_line + interval_) {
      ++it;
      continue;
    }
    if (p.count == 0) {  // quiet for a whole interval: forget the pair
      it = pending_.erase(it);
      continue;
    }
    AuditEvent line = p.last;
    line.time = now;
    line.count = p.count;
    p.count = 0;
    p.last_line = now;
    sink_.write(format_audit_line(line));
    ++it;
  }
}

}  // namespace keymesh::policy
