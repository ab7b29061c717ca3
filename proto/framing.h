// Length-prefixed framing for the control socket: 4-byte big-endian length, then the bytes
// of one serialized Protobuf message. Incremental: feed bytes as they arrive.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace keymesh::proto {

inline constexpr std::uint32_t kMaxFrameSize = 1u << 20;

// Frame `payload` (a serialized message) for sending.
std::string frame(const std::string& payload);

class FrameReader {
 public:
  enum class Status { NeedMore, Frame, TooLarge };
  // Appends bytes; call next() until it returns NeedMore.
  void feed(std::span<const std::uint8_t> bytes);
  // Frame: *out holds one payload. TooLarge: the stream is unusable (close the connection).
  Status next(std::string* out);

 private:
  std::vector<std::uint8_t> buffer_;
  bool broken_ = false;
};

}  // namespace keymesh::proto
