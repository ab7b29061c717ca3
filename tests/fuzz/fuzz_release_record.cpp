// Fuzzes the CNI deletion queue's record parser (node/release_queue.h): keymeshd reads these
// files at start, and a crash mid-write or a stranger's file must not stop it. A record that
// parses must encode back to the same text (one text, one meaning).
#include <cstdint>
#include <string_view>

#include "node/release_queue.h"

using keymesh::node::ReleaseQueue;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto release = ReleaseQueue::decode(text);
  if (!release) {
    if (release.error().message.empty()) __builtin_trap();
    return 0;
  }
  if (ReleaseQueue::encode(*release) != text) __builtin_trap();
  return 0;
}
