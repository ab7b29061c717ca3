// Fuzzes parse_config with arbitrary text. The base directory does not exist, so relative
// key files are never found; the loader must return an error or a config, never crash or throw.
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string base_dir = "/nonexistent/keymesh-fuzz";
  auto config = keymesh::daemon::parse_config(
      std::string_view(reinterpret_cast<const char*>(data), size), base_dir);
  if (!config && config.error().message.empty()) __builtin_trap();  // errors must say something
  return 0;
}
