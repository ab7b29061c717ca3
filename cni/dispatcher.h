// The plugin's entry point without process globals: environment lookup, stdin text and
// stdout are passed in, so unit tests run every command in-process. main.cpp feeds it the
// real ones and catches exceptions.
#pragma once

#include <chrono>
#include <ostream>
#include <string>
#include <string_view>

#include "cni/environment.h"

namespace keymesh::cni {

struct RunOptions {
  std::string hostname;                                // ${HOSTNAME}
  std::chrono::milliseconds daemon_timeout{10'000};
};

// Validates the environment and stdin, runs the command, writes its output (result JSON for
// ADD, version info for VERSION, nothing for DEL/CHECK/GC/STATUS, the CNI error JSON on
// failure) and a newline to `out`. Returns the exit status: 0 on success, 1 on failure.
// KEYMESH_CNI_FAIL_AT (test hook, commands.h) is read through `lookup` too.
int run(const EnvLookup& lookup, std::string_view input, std::ostream& out,
        const RunOptions& options);

}  // namespace keymesh::cni
