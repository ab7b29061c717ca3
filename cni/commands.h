// The CNI commands, one file each (add.cpp, del.cpp, check.cpp, gc.cpp, status.cpp). Each
// gets the validated environment and config and returns what the dispatcher prints.
#pragma once

#include <chrono>
#include <string>

#include "cni/config.h"
#include "cni/environment.h"
#include "cni/error.h"

namespace keymesh::cni {

struct Context {
  Environment env;
  NetConf conf;
  std::string hostname;  // for ${HOSTNAME}
  std::chrono::milliseconds daemon_timeout{10'000};
  // Test hook (KEYMESH_CNI_FAIL_AT): ADD fails right after this step, to show that what it
  // did is undone. Steps: daemon, veth, container, host, result.
  std::string fail_at;
};

// The result JSON to print.
CniResult<std::string> cmd_add(const Context& ctx);
// Idempotent: removes the host veth (and with it the container end), its rule, and tells
// keymeshd. Code 11 only when keymeshd could not be told (local plumbing is gone by then).
CniResult<void> cmd_del(const Context& ctx);
CniResult<void> cmd_check(const Context& ctx);
CniResult<void> cmd_gc(const Context& ctx);
// Code 50 when keymeshd is unreachable, not ready, or its TUN is missing.
CniResult<void> cmd_status(const Context& ctx);

}  // namespace keymesh::cni
