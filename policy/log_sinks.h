// Where audit and flow lines go besides a file: syslog(3) (journald reads /dev/log too), and
// a sink that writes each line to several sinks ("audit_log" and "audit_syslog" together).
// docs/operations.md describes the choices.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "policy/audit.h"

namespace keymesh::policy {

// One syslog(3) message per line (without its newline), identity "keymeshd", facility
// LOG_DAEMON, priority LOG_INFO. openlog() is process-wide: make at most one.
class SyslogAuditSink final : public AuditSink {
 public:
  SyslogAuditSink();
  ~SyslogAuditSink() override;
  SyslogAuditSink(const SyslogAuditSink&) = delete;
  SyslogAuditSink& operator=(const SyslogAuditSink&) = delete;
  void write(std::string_view line) override;
};

// The daemon's sinks: an optional file (with rotation, FileAuditSink) and optional syslog.
class LogSinks final : public AuditSink {
 public:
  LogSinks(std::unique_ptr<FileAuditSink> file, std::unique_ptr<SyslogAuditSink> syslog)
      : file_(std::move(file)), syslog_(std::move(syslog)) {}
  void write(std::string_view line) override {
    if (file_) file_->write(line);
    if (syslog_) syslog_->write(line);
  }
  // SIGHUP: reopen the file (after logrotate moved it).
  Result<void> reopen() { return file_ ? file_->reopen() : Result<void>{}; }
  // From a ~1 s timer: follow a moved, deleted or truncated file.
  void follow() noexcept {
    if (file_) file_->follow();
  }
  const FileAuditSink* file() const noexcept { return file_.get(); }

 private:
  std::unique_ptr<FileAuditSink> file_;
  std::unique_ptr<SyslogAuditSink> syslog_;
};

}  // namespace keymesh::policy
