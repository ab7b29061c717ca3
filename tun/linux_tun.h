// LinuxTun: a tun::Device on /dev/net/tun (IFF_TUN | IFF_NO_PI: bare IP packets).
//
// open() creates the interface (or attaches to an existing one of the same kind), sets its
// MTU and, unless told otherwise, brings it up; addresses and routes are the caller's
// (netlink.h). The fd is non-blocking: read() returns 0 when nothing is queued, so the
// owner polls fd() for readability. The interface is not persistent: it disappears when
// its last queue is closed (destructor).
//
// Multi-queue: with LinuxTunOptions::multi_queue the interface is created with
// IFF_MULTI_QUEUE, and open_queue() attaches one more queue (its own fd, its own LinuxTun)
// for one more worker thread. The kernel spreads flows across queues.
//
// Threading: each LinuxTun (queue) is used by the one thread that owns it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "tun/device.h"

namespace keymesh::tun {

struct LinuxTunOptions {
  bool multi_queue = false;  // IFF_MULTI_QUEUE; needed before open_queue() can be used
  bool bring_up = true;      // set the link up after the MTU
};

class LinuxTun final : public Device {
 public:
  // `name` may be empty: the kernel picks "tunN" and name() reports it.
  static Result<std::unique_ptr<LinuxTun>> open(std::string_view name, int mtu,
                                                const LinuxTunOptions& options = {});
  // One more queue of this (multi-queue) interface.
  Result<std::unique_ptr<LinuxTun>> open_queue() const;

  ~LinuxTun() override;
  LinuxTun(const LinuxTun&) = delete;
  LinuxTun& operator=(const LinuxTun&) = delete;

  int fd() const noexcept override { return fd_; }
  long read(std::span<std::uint8_t> buf) noexcept override;
  bool write(std::span<const std::uint8_t> packet) noexcept override;
  const std::string& name() const noexcept override { return name_; }
  int mtu() const noexcept override { return mtu_; }

 private:
  LinuxTun(int fd, std::string name, int mtu, bool multi_queue)
      : fd_(fd), name_(std::move(name)), mtu_(mtu), multi_queue_(multi_queue) {}

  int fd_;
  std::string name_;
  int mtu_;
  bool multi_queue_;
};

}  // namespace keymesh::tun
