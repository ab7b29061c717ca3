#include "plumbing/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keymesh::plumbing {

namespace {

std::string path_of(std::string_view key) { return "/proc/sys/" + std::string(key); }

bool safe_key(std::string_view key) {
  return !key.empty() && key.front() != '/' && key.find("..") == std::string_view::npos;
}

}  // namespace

Result<void> write_sysctl(std::string_view key, std::string_view value) {
  if (!safe_key(key)) return fail("sysctl " + std::string(key) + ": bad key");
  const std::string path = path_of(key);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail("sysctl " + std::string(key) + "=" + std::string(value) + ": " + std::strerror(errno));
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n != ssize_t(value.size()))
    return fail("sysctl " + std::string(key) + "=" + std::string(value) + ": " +
                (n < 0 ? std::strerror(err) : "short write"));
  return {};
}

Result<std::string> read_sysctl(std::string_view key) {
  if (!safe_key(key)) return fail("sysctl " + std::string(key) + ": bad key");
  const std::string path = path_of(key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("sysctl " + std::string(key) + ": " + std::strerror(errno));
  char buf[256];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) return fail("sysctl " + std::string(key) + ": " + std::strerror(err));
  std::string out(buf, std::size_t(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace keymesh::plumbing
