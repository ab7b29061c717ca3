#include "node/release_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "common/files.h"

namespace keymesh::node {
namespace {

constexpr std::string_view kMagic = "keymesh-release 1";
constexpr std::string_view kSuffix = ".release";

bool printable_word(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::ranges::all_of(s, [](char c) { return c > ' ' && c < 0x7f; });
}

// The next "key value" line of `text`, advancing it; empty key when the text is malformed.
std::pair<std::string_view, std::string_view> next_line(std::string_view& text) {
  const auto nl = text.find('\n');
  if (nl == std::string_view::npos) return {};
  std::string_view line = text.substr(0, nl);
  text.remove_prefix(nl + 1);
  const auto sp = line.find(' ');
  if (sp == std::string_view::npos) return {};
  return {line.substr(0, sp), line.substr(sp + 1)};
}

Result<void> write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(errno_text(errno));
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

std::size_t count_records(const std::string& dir) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (std::string_view(e->d_name).ends_with(kSuffix)) ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace

std::string ReleaseQueue::file_name(std::string_view container_id, std::string_view ifname) {
  std::string key(container_id);
  key.push_back('\0');
  key.append(ifname);
  unsigned char hash[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  char hex[2 * sizeof hash + 1];
  sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
  return std::string(hex) + std::string(kSuffix);
}

std::string ReleaseQueue::encode(const Release& r) {
  return std::string(kMagic) + "\ncontainer_id " + r.container_id + "\nifname " + r.ifname +
         "\nfront_door " + r.front_door + "\nqueued_at " + std::to_string(r.queued_at) + "\n";
}

Result<Release> ReleaseQueue::decode(std::string_view text) {
  const auto nl = text.find('\n');
  if (nl == std::string_view::npos || text.substr(0, nl) != kMagic)
    return fail("not a keymesh release record");
  text.remove_prefix(nl + 1);
  Release r;
  const auto [k1, id] = next_line(text);
  const auto [k2, ifname] = next_line(text);
  const auto [k3, door] = next_line(text);
  const auto [k4, when] = next_line(text);
  if (k1 != "container_id" || k2 != "ifname" || k3 != "front_door" || k4 != "queued_at" ||
      !text.empty())
    return fail("release record: fields missing or out of order");
  if (!printable_word(id, 1024)) return fail("release record: bad container_id");
  if (!printable_word(ifname, 15) || ifname.find('/') != std::string_view::npos)
    return fail("release record: bad ifname");
  if (!printable_word(door, 64)) return fail("release record: bad front_door");
  // Plain decimal digits without leading zeros: one text for one value (encode gives it back).
  const bool digits = std::ranges::all_of(when, [](char c) { return c >= '0' && c <= '9'; });
  const auto [end, ec] = std::from_chars(when.data(), when.data() + when.size(), r.queued_at);
  if (!digits || (when.size() > 1 && when.front() == '0') || ec != std::errc{} ||
      end != when.data() + when.size())
    return fail("release record: bad queued_at");
  r.container_id = id;
  r.ifname = ifname;
  r.front_door = door;
  return r;
}

Result<void> ReleaseQueue::push(const Release& release) const {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    return fail("release queue " + dir_ + ": " + errno_text(errno));
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail("release queue " + dir_ + ": not a directory");
  const std::string name = file_name(release.container_id, release.ifname);
  const std::string path = dir_ + "/" + name;
  if (::access(path.c_str(), F_OK) != 0 && count_records(dir_) >= kMaxQueuedReleases)
    return fail("release queue " + dir_ + " is full (" + std::to_string(kMaxQueuedReleases) +
                " releases waiting for keymeshd)");
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail("release queue " + tmp + ": " + errno_text(errno));
  auto written = write_all(fd, encode(release));
  if (written && ::fsync(fd) != 0) written = fail(errno_text(errno));
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = written ? errno_text(errno) : written.error().message;
    ::unlink(tmp.c_str());
    return fail("release queue " + path + ": " + why);
  }
  if (const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

PendingReleases ReleaseQueue::pending() const {
  PendingReleases out;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return out;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n(e->d_name);
    if (n.ends_with(kSuffix) && names.size() < kMaxQueuedReleases) names.emplace_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    const std::string path = dir_ + "/" + n;
    auto text = read_small_file(path, kMaxReleaseFileBytes, /*require_private=*/false);
    auto release = text ? decode(*text) : std::unexpected(text.error());
    if (release && file_name(release->container_id, release->ifname) == n) {
      out.releases.push_back(std::move(*release));
    } else {
      ::unlink(path.c_str());
      ++out.malformed;
    }
  }
  std::ranges::sort(out.releases, {}, &Release::queued_at);
  return out;
}

void ReleaseQueue::remove(const Release& release) const {
  ::unlink((dir_ + "/" + file_name(release.container_id, release.ifname)).c_str());
}

}  // namespace keymesh::node
