#include "net/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace keymesh::net {

Result<Netns> Netns::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open " + path + ": " + std::strerror(errno));
  Netns ns(fd, path);
  // NS_GET_NSTYPE tells a namespace file from any other file (Linux 4.11+).
  const int type = ::ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) return fail(path + " is not a namespace file: " + std::strerror(errno));
  if (type != CLONE_NEWNET) return fail(path + " is not a network namespace");
  return ns;
}

Result<Netns> Netns::current() { return open("/proc/thread-self/ns/net"); }

bool Netns::same_as(const Netns& other) const {
  struct stat a {}, b {};
  if (::fstat(fd_, &a) != 0 || ::fstat(other.fd_, &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

Netns::Netns(Netns&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) ::close(fd_);
}

Result<NetnsScope> NetnsScope::enter(const Netns& target) {
  auto original = Netns::current();
  if (!original) return std::unexpected(original.error());
  if (::setns(target.fd(), CLONE_NEWNET) != 0)
    return fail("cannot enter network namespace " + target.path() + ": " + std::strerror(errno));
  return NetnsScope(std::move(*original));
}

NetnsScope::NetnsScope(NetnsScope&& other) noexcept
    : original_(std::move(other.original_)), active_(std::exchange(other.active_, false)) {}

NetnsScope::~NetnsScope() {
  if (!active_) return;
  if (::setns(original_.fd(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "keymesh: cannot return to the original network namespace: %s\n",
                 std::strerror(errno));
    std::abort();
  }
}

}  // namespace keymesh::net
