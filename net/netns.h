// Network namespaces by path (CNI_NETNS, Docker's SandboxKey): open one, compare two, and
// enter one for a moment. Control path only.
#pragma once

#include <string>

#include "common/result.h"

namespace keymesh::net {

// An open network namespace file. Move-only; closes its descriptor.
class Netns {
 public:
  // Fails (naming the path) when it does not exist or is not a network namespace.
  static Result<Netns> open(const std::string& path);
  // The calling thread's current network namespace.
  static Result<Netns> current();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Whether both refer to the same namespace (same nsfs inode).
  bool same_as(const Netns& other) const;

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

 private:
  Netns(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Moves the calling thread into `target` for the scope's lifetime and back afterwards.
// If the way back fails the process aborts: carrying on in the wrong namespace could
// delete the host's interfaces. Use it only around calls that bind to the namespace at
// creation (socket(), opening /proc/sys files); do the work after the scope ends.
class NetnsScope {
 public:
  static Result<NetnsScope> enter(const Netns& target);
  NetnsScope(NetnsScope&& other) noexcept;
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;
  NetnsScope& operator=(NetnsScope&&) = delete;
  ~NetnsScope();

 private:
  explicit NetnsScope(Netns original) : original_(std::move(original)) {}
  Netns original_;
  bool active_ = true;
};

}  // namespace keymesh::net
