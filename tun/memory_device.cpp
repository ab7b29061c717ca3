#include "tun/memory_device.h"

#include <cerrno>
#include <cstring>
#include <utility>

namespace keymesh::tun {

MemoryDevice::MemoryDevice(std::string name, int mtu, std::size_t capacity)
    : name_(std::move(name)), mtu_(mtu), capacity_(capacity) {}

long MemoryDevice::read(std::span<std::uint8_t> buf) noexcept {
  std::lock_guard lock(mu_);
  if (inbound_.empty()) return 0;
  Packet p = std::move(inbound_.front());
  inbound_.pop_front();
  // Same contract as LinuxTun: an oversized packet is consumed and reported.
  if (p.size() > buf.size()) return -EMSGSIZE;
  std::memcpy(buf.data(), p.data(), p.size());
  return long(p.size());
}

bool MemoryDevice::write(std::span<const std::uint8_t> packet) noexcept {
  std::lock_guard lock(mu_);
  if (outbound_.size() + held_.size() >= capacity_) {
    ++dropped_write_;
    return false;
  }
  (hold_ ? held_ : outbound_).emplace_back(packet.begin(), packet.end());
  return true;
}

void MemoryDevice::flush() noexcept {
  std::lock_guard lock(mu_);
  for (auto& p : held_) outbound_.push_back(std::move(p));
  held_.clear();
}

void MemoryDevice::hold_writes_until_flush(bool hold) {
  std::lock_guard lock(mu_);
  hold_ = hold;
}

bool MemoryDevice::inject(std::span<const std::uint8_t> packet) {
  std::lock_guard lock(mu_);
  if (inbound_.size() >= capacity_) {
    ++dropped_inject_;
    return false;
  }
  inbound_.emplace_back(packet.begin(), packet.end());
  return true;
}

std::size_t MemoryDevice::pending() const {
  std::lock_guard lock(mu_);
  return inbound_.size();
}

std::vector<MemoryDevice::Packet> MemoryDevice::written() const {
  std::lock_guard lock(mu_);
  return {outbound_.begin(), outbound_.end()};
}

std::vector<MemoryDevice::Packet> MemoryDevice::take_written() {
  std::lock_guard lock(mu_);
  std::vector<Packet> out(std::make_move_iterator(outbound_.begin()),
                          std::make_move_iterator(outbound_.end()));
  outbound_.clear();
  return out;
}

std::size_t MemoryDevice::written_count() const {
  std::lock_guard lock(mu_);
  return outbound_.size();
}

std::uint64_t MemoryDevice::dropped_inject() const {
  std::lock_guard lock(mu_);
  return dropped_inject_;
}

std::uint64_t MemoryDevice::dropped_write() const {
  std::lock_guard lock(mu_);
  return dropped_write_;
}

}  // namespace keymesh::tun
