#include "proto/framing.h"

#include <algorithm>

namespace keymesh::proto {

namespace {
constexpr std::size_t kHeaderSize = 4;
}  // namespace

std::string frame(const std::string& payload) {
  // Callers keep payloads under kMaxFrameSize; a larger one would be refused by the peer's
  // FrameReader, which is where the limit is enforced.
  const auto n = static_cast<std::uint32_t>(payload.size());
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out += payload;
  return out;
}

void FrameReader::feed(std::span<const std::uint8_t> bytes) {
  // Once broken, the stream position is unknown; keeping bytes would only waste memory.
  if (broken_) return;
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

FrameReader::Status FrameReader::next(std::string* out) {
  if (broken_) return Status::TooLarge;
  if (buffer_.size() < kHeaderSize) return Status::NeedMore;
  const std::uint32_t n = std::uint32_t(buffer_[0]) << 24 | std::uint32_t(buffer_[1]) << 16 |
                          std::uint32_t(buffer_[2]) << 8 | std::uint32_t(buffer_[3]);
  if (n > kMaxFrameSize) {
    // Decided on the header alone, so a hostile length never makes us buffer a megabyte.
    broken_ = true;
    buffer_.clear();
    buffer_.shrink_to_fit();
    return Status::TooLarge;
  }
  if (buffer_.size() - kHeaderSize < n) return Status::NeedMore;
  const auto begin = buffer_.begin() + kHeaderSize;
  out->assign(begin, begin + n);
  buffer_.erase(buffer_.begin(), begin + n);
  return Status::Frame;
}

}  // namespace keymesh::proto
