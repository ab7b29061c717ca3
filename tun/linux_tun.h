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
// Offload mode (LinuxTunOptions::offload): the interface is created with IFF_VNET_HDR and
// TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), so the kernel hands over TCP
// super-packets of up to 64 KiB and trusts what keymesh writes with a virtio header
// (tun/offload.h). The Device contract stays one plain IP packet per read()/write():
//  - read() reads one frame into an internal buffer and returns its segments one per call,
//    each with complete checksums, before it reads the next frame.
//  - write() copies the packet into a batch (64 packets of up to mtu bytes; larger ones are
//    written on their own) and returns true; flush() coalesces TCP segments of one flow
//    into super-packets and writes the batch. The owner must call flush() after each batch.
//  - fd() is then an epoll fd over the TUN fd and an eventfd that is readable while
//    segments of a super-packet are still waiting, so a reader that stops early (budget)
//    and polls fd() is woken up for the rest.
// If the kernel refuses either ioctl, open() logs a warning and uses plain mode;
// offload() tells which mode is in effect. All buffers are allocated in open().
//
// Threading: each LinuxTun (queue) is used by the one thread that owns it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "tun/device.h"
#include "tun/offload.h"

namespace keymesh::tun {

struct LinuxTunOptions {
  bool multi_queue = false;  // IFF_MULTI_QUEUE; needed before open_queue() can be used
  bool bring_up = true;      // set the link up after the MTU
  bool offload = false;      // IFF_VNET_HDR + TSO/checksum offloads (see above); best effort
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

  int fd() const noexcept override { return offload_ ? poll_fd_ : fd_; }
  long read(std::span<std::uint8_t> buf) noexcept override;
  bool write(std::span<const std::uint8_t> packet) noexcept override;
  void flush() noexcept override;
  const std::string& name() const noexcept override { return name_; }
  int mtu() const noexcept override { return mtu_; }

  bool offload() const noexcept { return offload_; }
  // Offload mode: writes the kernel refused at flush(), and frames read() could not use.
  std::uint64_t write_failures() const noexcept override { return write_failures_; }
  std::uint64_t bad_frames() const noexcept { return bad_frames_; }

 private:
  LinuxTun(int fd, std::string name, int mtu, bool multi_queue)
      : fd_(fd), name_(std::move(name)), mtu_(mtu), multi_queue_(multi_queue) {}
  Result<void> enable_offload_buffers();
  long read_offload(std::span<std::uint8_t> buf) noexcept;
  bool write_frame(std::span<const std::uint8_t> header,
                   std::span<const std::span<const std::uint8_t>> pieces) noexcept;
  void set_pending(bool pending) noexcept;

  int fd_;
  std::string name_;
  int mtu_;
  bool multi_queue_;
  bool offload_ = false;
  // Offload mode only.
  int poll_fd_ = -1;   // epoll over fd_ and wake_fd_
  int wake_fd_ = -1;   // eventfd: readable while splitter_ has segments left
  bool wake_armed_ = false;
  std::vector<std::uint8_t> frame_;  // one frame as read from the kernel
  offload::Splitter splitter_;
  std::unique_ptr<offload::Coalescer> coalescer_;
  std::uint64_t write_failures_ = 0;
  std::uint64_t bad_frames_ = 0;
};

}  // namespace keymesh::tun
