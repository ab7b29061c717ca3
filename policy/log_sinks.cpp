#include "policy/log_sinks.h"

#include <syslog.h>

#include <string>

namespace keymesh::policy {

SyslogAuditSink::SyslogAuditSink() { ::openlog("keymeshd", LOG_PID | LOG_NDELAY, LOG_DAEMON); }

SyslogAuditSink::~SyslogAuditSink() { ::closelog(); }

void SyslogAuditSink::write(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  // "%.*s": the line is data, never a format string.
  ::syslog(LOG_INFO, "%.*s", int(line.size()), line.data());
}

}  // namespace keymesh::policy
