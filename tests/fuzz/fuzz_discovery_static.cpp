// Fuzzes the static discovery file loader with arbitrary text: it must load or return an
// error that says something, never crash or throw. Certificate paths resolve to one fixed
// armored chain ("node.crt") or to a read error, so no real file is touched.
#include <cstdint>
#include <string>
#include <string_view>

#include "discovery/memory_directory.h"
#include "discovery/static_directory.h"

using namespace keymesh;
using namespace keymesh::discovery;

namespace {

// An armored chain (leaf + root) that fuzz_discovery_seeds wrote next to the seeds.
std::string fixed_chain() {
  static const std::string text = [] {
    auto r = read_certificate_file(KM_DISCOVERY_CORPUS "/node.crt");
    return r ? *r : std::string();
  }();
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const CertificateReader reader = [](const std::string& path) -> Result<std::string> {
    if (path == "node.crt") return fixed_chain();
    return fail(path + ": no such file");
  };
  auto records = parse_static_entries(text, "", reader);
  if (!records) {
    if (records.error().message.empty()) __builtin_trap();  // errors must say something
    return 0;
  }
  MemoryDirectory d;
  for (auto& r : *records)
    if (!d.publish(std::move(r))) __builtin_trap();  // the loader checks what publish checks
  return 0;
}
