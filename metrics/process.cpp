#include "metrics/process.h"

#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace keymesh::metrics {

namespace {

std::optional<double> number(std::string_view s) noexcept {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  return v;
}

std::string slurp(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::optional<StatFields> parse_proc_stat(std::string_view text) noexcept {
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  // After ')' comes field 3 (state). Field k is token k - 3.
  std::optional<double> fields[25];
  std::size_t k = 3;
  while (!rest.empty() && k <= 24) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = std::min(rest.find_first_of(" \n"), rest.size());
    fields[k] = number(rest.substr(0, end));
    rest.remove_prefix(end);
    ++k;
  }
  for (std::size_t f : {14, 15, 22, 23, 24})
    if (!fields[f]) return std::nullopt;
  return StatFields{*fields[14], *fields[15], *fields[22], *fields[23], *fields[24]};
}

std::optional<double> parse_boot_time(std::string_view text) noexcept {
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    if (line.starts_with("btime ")) return number(line.substr(6));
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<double> parse_max_open_files(std::string_view text) noexcept {
  const auto at = text.find("Max open files");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + 14);
  const auto start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) return std::nullopt;
  rest.remove_prefix(start);
  if (rest.starts_with("unlimited")) return std::nullopt;
  return number(rest.substr(0, rest.find(' ')));
}

ProcessStats read_process_stats() {
  ProcessStats s;
  const double ticks = double(::sysconf(_SC_CLK_TCK));
  const double page = double(::sysconf(_SC_PAGESIZE));
  if (auto f = parse_proc_stat(slurp("/proc/self/stat")); f && ticks > 0) {
    s.cpu_seconds = (f->utime_ticks + f->stime_ticks) / ticks;
    s.resident_bytes = f->rss_pages * page;
    s.virtual_bytes = f->vsize_bytes;
    if (auto boot = parse_boot_time(slurp("/proc/stat")))
      s.start_time_seconds = *boot + f->start_ticks / ticks;
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++fds;
  // The iterator's own descriptor is counted too; leave it out.
  if (!ec && fds > 0) s.open_fds = double(fds - 1);
  s.max_fds = parse_max_open_files(slurp("/proc/self/limits"));
  return s;
}

void write_process_metrics(Writer& out, const ProcessStats& s) {
  auto one = [&](std::string_view name, Type type, std::string_view help,
                 const std::optional<double>& v) {
    if (!v) return;
    out.family(name, type, help);
    out.sample(*v);
  };
  one("process_cpu_seconds_total", Type::kCounter, "Total user and system CPU time spent in seconds.",
      s.cpu_seconds);
  one("process_resident_memory_bytes", Type::kGauge, "Resident memory size in bytes.",
      s.resident_bytes);
  one("process_virtual_memory_bytes", Type::kGauge, "Virtual memory size in bytes.",
      s.virtual_bytes);
  one("process_start_time_seconds", Type::kGauge,
      "Start time of the process since unix epoch in seconds.", s.start_time_seconds);
  one("process_open_fds", Type::kGauge, "Number of open file descriptors.", s.open_fds);
  one("process_max_fds", Type::kGauge, "Maximum number of open file descriptors.", s.max_fds);
}

}  // namespace keymesh::metrics
