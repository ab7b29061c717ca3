// MemoryDevice: a tun::Device with no kernel behind it, for tests.
//
// inject() plays the kernel sending a packet into the tunnel (the daemon will read() it);
// written()/take_written() show what the daemon wrote back towards the kernel. Both
// directions are bounded like a real queue: inject() refuses and write() fails when full.
// hold_writes_until_flush(true) makes write() buffer until flush(), as LinuxTun with offloads
// does (its coalescer), so a test catches a path that writes without flushing.
// Packets are copied in and out; this is test plumbing, not a packet path.
//
// Threading: guarded by one mutex, so a test thread may inject and inspect while a daemon
// thread reads and writes. fd() is -1: callers poll pending() instead of the fd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "tun/device.h"

namespace keymesh::tun {

class MemoryDevice final : public Device {
 public:
  using Packet = std::vector<std::uint8_t>;

  explicit MemoryDevice(std::string name = "km0", int mtu = 1420, std::size_t capacity = 1024);

  int fd() const noexcept override { return -1; }
  long read(std::span<std::uint8_t> buf) noexcept override;
  bool write(std::span<const std::uint8_t> packet) noexcept override;
  void flush() noexcept override;
  const std::string& name() const noexcept override { return name_; }
  int mtu() const noexcept override { return mtu_; }

  // Queues a packet for read(). False (and nothing queued) when the inbound queue is full.
  bool inject(std::span<const std::uint8_t> packet);
  std::size_t pending() const;  // injected, not yet read
  void hold_writes_until_flush(bool hold);

  std::vector<Packet> written() const;  // a copy of what the daemon wrote, oldest first
  std::vector<Packet> take_written();   // the same, and clears it
  std::size_t written_count() const;

  std::uint64_t dropped_inject() const;  // inject() refusals
  std::uint64_t dropped_write() const;   // write() failures (queue full)

 private:
  const std::string name_;
  const int mtu_;
  const std::size_t capacity_;

  mutable std::mutex mu_;
  std::deque<Packet> inbound_;   // guarded by mu_
  std::deque<Packet> outbound_;  // guarded by mu_
  std::deque<Packet> held_;      // guarded by mu_: written, not yet flushed
  bool hold_ = false;            // guarded by mu_
  std::uint64_t dropped_inject_ = 0;  // guarded by mu_
  std::uint64_t dropped_write_ = 0;   // guarded by mu_
};

}  // namespace keymesh::tun
