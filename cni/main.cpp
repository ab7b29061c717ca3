// keymesh-cni: the CNI plugin (installed as "keymesh" in the runtime's CNI bin dir, since a
// conflist names plugins by "type"). Everything happens in dispatcher.cpp; this is the one
// place exceptions are caught (docs/style.md habit 7), where they become a CNI error.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "cni/config.h"
#include "cni/dispatcher.h"
#include "cni/error.h"
#include "cni/version.h"
#include "common/log.h"

namespace {

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

}  // namespace

int main() {
  using namespace keymesh::cni;
  try {
    keymesh::setup_logging("warn");
    std::string input;
    char chunk[65536];
    // Runtimes always send stdin (possibly empty for VERSION); cap what we read.
    while (std::cin.read(chunk, sizeof chunk) || std::cin.gcount() > 0) {
      input.append(chunk, std::size_t(std::cin.gcount()));
      if (input.size() > kMaxStdinBytes) break;
    }
    if (std::cin.bad()) {
      std::cout << error_json(kLatestVersion, {Code::kIoFailure, "cannot read stdin", {}}) << "\n";
      return 1;
    }
    const EnvLookup lookup = [](std::string_view name) -> std::optional<std::string> {
      const char* v = std::getenv(std::string(name).c_str());
      if (v == nullptr) return std::nullopt;
      return std::string(v);
    };
    RunOptions options;
    options.hostname = hostname();
    const int rc = run(lookup, input, std::cout, options);
    std::cout.flush();
    return rc;
  } catch (const std::exception& e) {
    std::cout << error_json(kLatestVersion,
                            {Code::kNetworkSetupFailed, std::string("internal error: ") + e.what(), {}})
              << "\n";
    return 1;
  }
}
