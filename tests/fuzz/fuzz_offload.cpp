// Fuzzes tun/offload.h (and tun/icmp_too_big.h on the same frames) with what the kernel (splitter) and a peer (coalescer) control.
//   data[0] even: data[1] picks the output buffer size, the rest is a frame (virtio header +
//                 packet) for the Splitter.
//   data[0] odd:  data[1] picks the coalescer's packet size; the rest is packets, each a
//                 2-byte big-endian length and that many bytes. Every merged output is then
//                 split again and must give back as many segments as it merged.
// Buffers are exact-size heap copies so that a sanitizer sees any overrun.
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "tun/icmp_too_big.h"
#include "tun/offload.h"

namespace off = keymesh::tun::offload;

namespace {

std::size_t split_all(std::span<const std::uint8_t> frame, std::size_t out_size) {
  off::Splitter splitter;
  const std::vector<std::uint8_t> copy(frame.begin(), frame.end());
  if (splitter.start(copy) != off::SplitStatus::Ok) {
    if (!splitter.done()) __builtin_trap();
    return 0;
  }
  std::vector<std::uint8_t> out(out_size);
  std::size_t count = 0;
  while (!splitter.done()) {
    const long n = splitter.next(out);
    if (n == 0 || n > long(out.size())) __builtin_trap();
    // Each segment carries at least one payload byte, unless it is the only one.
    if (++count > copy.size() + 1) __builtin_trap();
  }
  return count;
}

void coalesce(std::span<const std::uint8_t> data, std::size_t slot) {
  off::Coalescer coalescer(16, slot);
  std::size_t added = 0;
  while (data.size() >= 2) {
    const std::size_t len = std::min<std::size_t>((data[0] << 8 | data[1]) % 2048, data.size() - 2);
    const std::vector<std::uint8_t> packet(data.begin() + 2, data.begin() + 2 + long(len));
    data = data.subspan(2 + len);
    if (coalescer.add(packet)) ++added;
  }
  std::size_t merged = 0;
  for (const off::Output& out : coalescer.coalesce()) {
    std::vector<std::uint8_t> frame(out.header.begin(), out.header.end());
    for (auto piece : out.pieces) frame.insert(frame.end(), piece.begin(), piece.end());
    if (frame.size() != off::kVirtioHeaderSize + out.size || out.size > off::kMaxPacketSize)
      __builtin_trap();
    merged += out.merged;
    if (out.merged > 1 && split_all(frame, off::kMaxPacketSize) != out.merged) __builtin_trap();
  }
  if (merged != added) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::span<const std::uint8_t> rest(data + 2, size - 2);
  if (data[0] % 2 == 0) {
    split_all(rest, 1 + std::size_t(data[1]) * 8);
    // The inside packet that did not fit: any answer stays within its buffer and the limit.
    std::vector<std::uint8_t> answer(keymesh::tun::kMaxTooBigAnswer);
    const std::size_t n = keymesh::tun::build_too_big(rest, 512 + std::uint32_t(data[1]) * 8, answer);
    if (n > answer.size() || (n != 0 && n < 28)) __builtin_trap();
  } else {
    coalesce(rest, 1 + std::size_t(data[1]) * 8);
  }
  return 0;
}
