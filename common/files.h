// Reading small files that may hold secrets (key files, certificates, CA keys).
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace keymesh {

// The text of errno `err` ("No such file or directory").
std::string errno_text(int err);

// Reads a regular file of at most `max_bytes` whole. Never opens anything else (a FIFO or a
// device could block or have effects). With `require_private`, refuses a file with any
// group or other permission bit, naming its mode: keys on disk are 0600. The text may be
// secret: callers wipe it (sodium_memzero) once they have decoded it. Errors start with
// the path and never quote the contents.
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes,
                                    bool require_private);

}  // namespace keymesh
