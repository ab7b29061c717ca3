// Fuzzes parse_config with arbitrary text; the loader must return an error or a config, never
// crash or throw. The base directory holds a valid 0600 key "a.key" (made once per process),
// so inputs that name it, as the seeds do, get past private_key_file to every section behind
// it (peers with groups and labels, masquerade, ...).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/config.h"

namespace {
std::string g_dir;  // removed at exit

void remove_base_dir() {
  if (g_dir.empty()) return;
  unlink((g_dir + "/a.key").c_str());
  rmdir(g_dir.c_str());
}

std::string make_base_dir() {
  char tmpl[] = "/tmp/keymesh-fuzz-config-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return "/nonexistent/keymesh-fuzz";
  const std::string dir = tmpl;
  g_dir = dir;
  std::atexit(remove_base_dir);
  const std::string key = dir + "/a.key";
  if (FILE* f = std::fopen(key.c_str(), "w")) {
    std::fputs("0EAbFOw0CcZT2ry9kc0IzB2xO2A1tBZDm7Wrwkzm8lE=\n", f);  // a test key
    std::fclose(f);
    chmod(key.c_str(), 0600);
  }
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string base_dir = make_base_dir();
  auto config = keymesh::daemon::parse_config(
      std::string_view(reinterpret_cast<const char*>(data), size), base_dir);
  if (!config && config.error().message.empty()) __builtin_trap();  // errors must say something
  return 0;
}
