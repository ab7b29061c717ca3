#include "crypto/replay.h"

namespace keymesh::crypto {

// Counter n lives at bit n % 64 of block (n / 64) % kBlocks. The window accepts counters up
// to kReplayWindowBits behind the highest one committed; the ring holds 64 bits more than
// that, so an accepted counter's block can never be shared with a newer one's.

bool ReplayWindow::check(std::uint64_t counter) const noexcept {
  if (counter >= kRejectAfterMessages) return false;
  if (counter >= top_) return true;  // newer than anything seen (or nothing seen yet)
  // top_ - 1 is the highest committed; cannot overflow because counter < kRejectAfterMessages.
  if (counter + kReplayWindowBits + 1 < top_) return false;  // fell out of the window
  const std::uint64_t block = bitmap_[(counter / kBlockBits) % kBlocks];
  return (block & (std::uint64_t(1) << (counter % kBlockBits))) == 0;
}

bool ReplayWindow::commit(std::uint64_t counter) noexcept {
  if (!check(counter)) return false;
  if (counter >= top_) {
    if (top_ != 0) {
      // Blocks between the old top and the new one hold counters from a whole ring ago.
      const std::uint64_t old_block = (top_ - 1) / kBlockBits;
      const std::uint64_t new_block = counter / kBlockBits;
      std::uint64_t span = new_block - old_block;
      if (span > kBlocks) span = kBlocks;
      for (std::uint64_t i = 1; i <= span; ++i) bitmap_[(old_block + i) % kBlocks] = 0;
    }
    top_ = counter + 1;
  }
  bitmap_[(counter / kBlockBits) % kBlocks] |= std::uint64_t(1) << (counter % kBlockBits);
  return true;
}

void ReplayWindow::reset() noexcept {
  top_ = 0;
  bitmap_.fill(0);
}

}  // namespace keymesh::crypto
