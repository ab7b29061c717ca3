// keymesh audit tail: the last lines of keymeshd's audit trail (policy/audit.h, one JSON
// object per line), shown one event per line, optionally following the file as it grows,
// is truncated or is rotated.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tools/commands.h"

namespace keymesh::tools {

namespace {

constexpr const char* kDefaultAuditFile = "/var/log/keymesh/audit.jsonl";
constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr const char* kMalformedMarker = "[malformed] ";

struct TailOptions {
  std::string file = kDefaultAuditFile;
  bool follow = false;
  int lines = 20;
  bool json = false;
};

// A JSON value as one word: strings as they are, null/absent as "-", the rest dumped.
std::string word(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "-";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string party(const nlohmann::json& event, const char* key) {
  auto it = event.find(key);
  if (it == event.end() || it->is_null()) return "-";
  if (it->is_object()) return word(*it, "name");
  return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One audit line for a person:
//   2026-11-22T07:00:00.123Z path_refused web-1 -> db-1 rule=- reason=no rule grants ...
// A line that is not a JSON object is returned raw behind kMalformedMarker.
std::string format_line(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return kMalformedMarker + line;
  std::string out = word(j, "time") + " " + word(j, "event") + " " + party(j, "local") + " -> " +
                    party(j, "remote") + " rule=" + word(j, "rule");
  if (j.contains("count")) out += " count=" + word(j, "count");
  out += " reason=" + word(j, "reason");
  return out;
}

void print_line(std::string line, bool json) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return;
  std::cout << (json ? line : format_line(line)) << "\n";
}

// Reads everything from `fd` (from its current offset) into lines; a last line without its
// newline stays in `partial`. Returns false on a read error.
bool read_lines(int fd, std::string& partial, std::deque<std::string>& out,
                std::size_t keep_last, off_t& offset) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    offset += n;
    std::size_t start = 0;
    for (std::size_t i = 0; i < std::size_t(n); ++i) {
      if (buf[i] != '\n') continue;
      partial.append(buf + start, i - start);
      out.push_back(std::move(partial));
      partial.clear();
      if (out.size() > keep_last) out.pop_front();
      start = i + 1;
    }
    partial.append(buf + start, std::size_t(n) - start);
  }
}

struct OpenFile {
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t offset = 0;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

Result<void> open_file(const std::string& path, OpenFile& f) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return fail(path + ": " + std::strerror(e));
  }
  if (f.fd >= 0) ::close(f.fd);
  f.fd = fd;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.offset = 0;
  return {};
}

Result<void> audit_tail(const TailOptions& o) {
  if (o.lines < 0) return fail("-n must be 0 or more");
  OpenFile f;
  if (auto r = open_file(o.file, f); !r) return r;
  // The whole file is read once and only the last N lines kept; audit files are rotated, and
  // one pass keeps the partial-line and rotation handling in one place.
  std::deque<std::string> lines;
  std::string partial;
  if (!read_lines(f.fd, partial, lines, std::size_t(o.lines), f.offset))
    return fail(o.file + ": " + std::strerror(errno));
  if (!o.follow && !partial.empty()) {  // a last line without its newline is still a line
    lines.push_back(std::move(partial));
    if (lines.size() > std::size_t(o.lines)) lines.pop_front();
  }
  for (auto& line : lines) print_line(std::move(line), o.json);
  std::cout << std::flush;
  if (!o.follow) return {};

  // Follow: poll every kPollInterval. A file replaced at the path (rotation) is reopened from
  // its start after draining the old one; a file shorter than what was read (truncation) is
  // read again from its start. A missing path is waited for.
  for (;;) {
    std::this_thread::sleep_for(kPollInterval);
    std::deque<std::string> fresh;
    struct stat st {};
    const bool present = ::stat(o.file.c_str(), &st) == 0;
    const bool rotated = present && (st.st_dev != f.dev || st.st_ino != f.ino);
    struct stat own {};
    if (!rotated && ::fstat(f.fd, &own) == 0 && own.st_size < f.offset) {
      ::lseek(f.fd, 0, SEEK_SET);
      f.offset = 0;
      partial.clear();
    }
    read_lines(f.fd, partial, fresh, SIZE_MAX, f.offset);
    if (rotated) {
      if (!partial.empty()) fresh.push_back(std::move(partial));
      partial.clear();
      if (open_file(o.file, f)) read_lines(f.fd, partial, fresh, SIZE_MAX, f.offset);
    }
    for (auto& line : fresh) print_line(std::move(line), o.json);
    if (!fresh.empty()) std::cout << std::flush;
    if (!std::cout) return {};  // stdout closed (e.g. `| head`): stop quietly
  }
}

}  // namespace

void add_audit_commands(CLI::App& app, Outcome& outcome) {
  auto* audit = app.add_subcommand("audit", "Read keymeshd's audit trail");
  audit->require_subcommand(1);

  auto t = std::make_shared<TailOptions>();
  auto* tail = audit->add_subcommand("tail", "Print the last audit events, one per line");
  tail->add_option("--file", t->file, "Audit file (default /var/log/keymesh/audit.jsonl)");
  tail->add_flag("-f,--follow", t->follow, "Keep printing lines as they are appended");
  tail->add_option("-n", t->lines, "How many lines to print first (default 20)");
  tail->add_flag("--json", t->json, "Print the JSON lines as they are");
  tail->callback([t, &outcome] { outcome = audit_tail(*t); });
}

}  // namespace keymesh::tools
