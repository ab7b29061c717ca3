// Per-interface kernel settings under /proc/sys, in the calling thread's network namespace
// (a /proc/sys/net file acts on the namespace of whoever opens it).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace keymesh::plumbing {

// key: "net/ipv4/conf/km1234/rp_filter". The error names the key and the reason.
Result<void> write_sysctl(std::string_view key, std::string_view value);
// The value without its trailing newline.
Result<std::string> read_sysctl(std::string_view key);

}  // namespace keymesh::plumbing
