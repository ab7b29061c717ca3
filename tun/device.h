// tun::Device: the inside edge (IP packets to and from the kernel). One per host (km0).
// Implementations: LinuxTun (linux_tun.h) and MemoryDevice (memory_device.h) for tests.
// Threading: a device is used by the thread that owns its queue; not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace keymesh::tun {

class Device {
 public:
  virtual ~Device() = default;

  // A pollable file descriptor, or -1 when the device is not backed by one (memory).
  virtual int fd() const noexcept = 0;
  // Reads one packet into `buf`. Returns its size, 0 when nothing is ready (would block),
  // or -errno on a real error. A packet larger than `buf` is dropped and reported as -EMSGSIZE.
  virtual long read(std::span<std::uint8_t> buf) noexcept = 0;
  // Writes one IP packet to the kernel. False if the kernel did not take it (queue full,
  // interface down): the caller counts the drop.
  virtual bool write(std::span<const std::uint8_t> packet) noexcept = 0;
  // Writes what write() buffered; the tunnel calls it at the end of each batch. Devices that
  // write at once (the default) have nothing to do. A buffering device may return true from
  // write() for a packet the kernel later refuses; it counts those itself.
  virtual void flush() noexcept {}
  // Packets a buffering device accepted but the kernel refused at flush().
  virtual std::uint64_t write_failures() const noexcept { return 0; }

  virtual const std::string& name() const noexcept = 0;
  virtual int mtu() const noexcept = 0;
};

}  // namespace keymesh::tun
