#include "node/ipam.h"

#include <sys/socket.h>

namespace keymesh::node {

namespace {

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

}  // namespace

Ipam::Ipam(const IpPrefix& pool) : pool_(pool.network()) {
  base_ = load_be32(pool_.address.bytes.data());
  const std::uint64_t size = std::uint64_t(1) << (32 - std::min<unsigned>(pool_.length, 32));
  if (pool_.address.family == AF_INET && size >= 4) {
    first_ = 2;  // offset 0: network, 1: the node
    last_ = std::uint32_t(size - 2);  // size - 1: broadcast
  } else {
    first_ = 1;  // empty range
    last_ = 0;
  }
  cursor_ = first_ - 1;
}

std::size_t Ipam::capacity() const noexcept {
  return last_ >= first_ ? std::size_t(last_ - first_) + 1 : 0;
}

std::optional<std::uint32_t> Ipam::offset_of(const IpAddress& a) const noexcept {
  if (!pool_.contains(a)) return std::nullopt;
  return load_be32(a.bytes.data()) - base_;
}

IpAddress Ipam::address_at(std::uint32_t offset) const noexcept {
  const std::uint32_t v = base_ + offset;
  const std::uint8_t b[4] = {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8),
                             std::uint8_t(v)};
  return IpAddress::v4(b);
}

bool Ipam::in_use(const IpAddress& a) const noexcept {
  const auto o = offset_of(a);
  return o && used_.contains(*o);
}

IpAddress Ipam::node_address() const noexcept { return address_at(1); }

Result<IpAddress> Ipam::pick(const std::optional<IpAddress>& wanted) const {
  if (wanted) {
    const auto o = offset_of(*wanted);
    const std::string a = wanted->to_string();
    if (!o) return fail("address " + a + " is outside the node range " + pool_.to_string());
    if (*o == 1) return fail("address " + a + " is reserved for the node itself");
    if (*o < first_ || *o > last_)
      return fail("address " + a + " is the network or broadcast address of " +
                  pool_.to_string());
    if (used_.contains(*o)) return fail("address " + a + " is already in use");
    return *wanted;
  }
  if (used_.size() >= capacity()) return fail("no free address in " + pool_.to_string());
  // The first gap at or after `from`, or nothing when [from, last_] is full.
  const auto gap_from = [&](std::uint32_t from) -> std::optional<std::uint32_t> {
    for (auto it = used_.lower_bound(from); it != used_.end() && *it == from; ++it) ++from;
    return from <= last_ ? std::optional(from) : std::nullopt;
  };
  const std::uint32_t start = cursor_ < last_ ? cursor_ + 1 : first_;
  if (auto o = gap_from(start)) return address_at(*o);
  if (auto o = gap_from(first_)) return address_at(*o);
  return fail("no free address in " + pool_.to_string());  // unreachable while used_ < capacity
}

void Ipam::take(const IpAddress& a, bool advance) {
  const auto o = offset_of(a);
  if (!o || *o < first_ || *o > last_) return;
  used_.insert(*o);
  if (advance) cursor_ = *o;
}

void Ipam::release(const IpAddress& a) noexcept {
  if (const auto o = offset_of(a)) used_.erase(*o);
}

IpAddress Ipam::cursor() const noexcept { return address_at(cursor_); }

void Ipam::set_cursor(const IpAddress& a) noexcept {
  if (const auto o = offset_of(a); o && *o + 1 >= first_ && *o <= last_) cursor_ = *o;
}

}  // namespace keymesh::node
