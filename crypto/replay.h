// Anti-replay sliding window (RFC 6479 style bitmap, as WireGuard). One per receiving key.
// Not thread-safe: the receive path owning the keypair uses it.
//
// Two steps so that a forged packet can never advance the window: check() before the AEAD
// open (cheap reject of duplicates and too-old counters), commit() after a successful open.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/constants.h"

namespace keymesh::crypto {

class ReplayWindow {
 public:
  // False when counter was already committed, is older than the window, or is at or beyond
  // kRejectAfterMessages.
  bool check(std::uint64_t counter) const noexcept;
  // Marks counter as seen. Returns false (and changes nothing) if check() would fail.
  bool commit(std::uint64_t counter) noexcept;
  void reset() noexcept;

 private:
  static constexpr std::size_t kBlockBits = 64;
  static constexpr std::size_t kBlocks = (kReplayWindowBits + kBlockBits) / kBlockBits;  // 128
  std::uint64_t top_ = 0;     // highest counter committed + 1 (0: nothing yet)
  std::array<std::uint64_t, kBlocks> bitmap_{};
};

}  // namespace keymesh::crypto
