// Daemon: the composition root (docs/style.md habit 12). Builds, in order: TUN device and its
// addresses and routes, UDP socket, Tunnel, libuv event sources (device, socket, tick timer,
// signals), control server. Tears down in reverse. No globals.
#pragma once

#include <memory>

#include "common/result.h"
#include "daemon/config.h"

namespace keymesh::daemon {

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> create(Config config);
  ~Daemon();
  // Runs until SIGINT or SIGTERM. Returns the process exit code.
  int run();

  struct Impl;

 private:
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keymesh::daemon
