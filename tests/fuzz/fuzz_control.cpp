// Fuzzes what keymeshd does with bytes from the control socket: FrameReader with the input
// split at a point taken from the input, then Request parsing of every frame, and a
// serialize/parse round trip of what parsed.
#include <cstdint>
#include <span>
#include <string>

#include "control.pb.h"
#include "proto/framing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  keymesh::proto::FrameReader reader;
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  const std::span<const std::uint8_t> all(data, size);
  std::string payload;
  for (auto part : {all.first(split), all.subspan(split)}) {
    reader.feed(part);
    for (;;) {
      const auto status = reader.next(&payload);
      if (status == keymesh::proto::FrameReader::Status::TooLarge) return 0;
      if (status == keymesh::proto::FrameReader::Status::NeedMore) break;
      if (payload.size() > keymesh::proto::kMaxFrameSize) __builtin_trap();
      keymesh::proto::Request request;
      if (!request.ParseFromString(payload)) continue;
      std::string again;
      if (!request.SerializeToString(&again)) __builtin_trap();
      keymesh::proto::Request reparsed;
      if (!reparsed.ParseFromString(again)) __builtin_trap();
      if (reparsed.kind_case() != request.kind_case()) __builtin_trap();
    }
  }
  return 0;
}
