// UDP segmentation offload (GSO, UDP_SEGMENT) and receive coalescing (GRO, UDP_GRO): the
// pure arithmetic of both, kept apart from the socket so that it can be tested alone.
//
// Send: a run of datagrams to one destination, all of one size except a shorter (or equal)
// last one, leaves as one sendmsg whose iovecs the kernel cuts every `gso_size` bytes
// (UDP_SEGMENT control message). A run is at most kMaxGsoSegments datagrams and
// kMaxGsoBytes of payload (one IP packet's worth before the kernel cuts it).
//
// Receive: with UDP_GRO on, one recvmsg may return several datagrams of one sender glued
// together, with their size in a UDP_GRO control message; every `gso_size` bytes starts
// the next one, the last may be shorter.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace keymesh::udp {

inline constexpr std::size_t kMaxGsoSegments = 64;  // UDP_MAX_SEGMENTS of older kernels
inline constexpr std::size_t kMaxGsoBytes = 65535 - 40 - 8;  // IPv6 + UDP headers

// How many datagrams, from `first` on, can leave as one GSO send: sizes[first] sets the
// segment size, each following datagram must have that size and the same destination
// (same_destination(first, j)), except that the run may end with one shorter datagram.
// Always at least 1 when first < sizes.size(); 1 means "send it alone".
template <class SameDestination>
std::size_t gso_run_length(std::span<const std::size_t> sizes, std::size_t first,
                           SameDestination&& same_destination,
                           std::size_t max_segments = kMaxGsoSegments,
                           std::size_t max_bytes = kMaxGsoBytes) noexcept {
  if (first >= sizes.size()) return 0;
  const std::size_t segment = sizes[first];
  if (segment == 0) return 1;
  std::size_t count = 1, bytes = segment;
  for (std::size_t j = first + 1; j < sizes.size() && count < max_segments; ++j) {
    if (sizes[j] > segment || sizes[j] == 0 || bytes + sizes[j] > max_bytes) break;
    if (!same_destination(first, j)) break;
    ++count;
    bytes += sizes[j];
    if (sizes[j] < segment) break;  // a shorter datagram can only be the last
  }
  return count;
}

// The datagrams inside one coalesced receive of `total` bytes cut every `gso_size`
// bytes (gso_size 0: not coalesced, one datagram).
inline std::size_t gro_segment_count(std::size_t total, std::size_t gso_size) noexcept {
  if (total == 0) return 0;
  if (gso_size == 0 || gso_size >= total) return 1;
  return (total + gso_size - 1) / gso_size;
}

// Bytes [offset, offset + size) of segment `index` in such a receive.
struct Segment {
  std::size_t offset = 0;
  std::size_t size = 0;
};
inline Segment gro_segment(std::size_t total, std::size_t gso_size, std::size_t index) noexcept {
  if (gso_size == 0) return index == 0 ? Segment{0, total} : Segment{total, 0};
  const std::size_t offset = std::min(total, index * gso_size);
  return {offset, std::min(gso_size, total - offset)};
}

}  // namespace keymesh::udp
