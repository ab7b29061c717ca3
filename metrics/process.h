// The standard process_* metrics Prometheus client libraries export, read from /proc/self:
// resident memory, open descriptors (and their limit), CPU seconds, start time.
//
// parse_* take the files' text so tests can feed known answers; read_process_stats() reads
// the real files (control path; a missing file leaves that field unset).
#pragma once

#include <optional>
#include <string_view>

#include "metrics/exposition.h"

namespace keymesh::metrics {

struct ProcessStats {
  std::optional<double> cpu_seconds;          // user + system
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> start_time_seconds;   // since the Unix epoch
  std::optional<double> open_fds;
  std::optional<double> max_fds;
};

// /proc/self/stat: utime, stime (fields 14, 15, clock ticks), starttime (22, ticks since
// boot), vsize (23, bytes), rss (24, pages). The command name (field 2) may hold spaces and
// parentheses: fields are counted from its last ')'.
struct StatFields {
  double utime_ticks = 0, stime_ticks = 0, start_ticks = 0, vsize_bytes = 0, rss_pages = 0;
};
std::optional<StatFields> parse_proc_stat(std::string_view text) noexcept;
// /proc/stat's `btime` line: boot time, seconds since the epoch.
std::optional<double> parse_boot_time(std::string_view text) noexcept;
// /proc/self/limits' "Max open files" soft limit.
std::optional<double> parse_max_open_files(std::string_view text) noexcept;

ProcessStats read_process_stats();
void write_process_metrics(Writer& out, const ProcessStats& stats);

}  // namespace keymesh::metrics
