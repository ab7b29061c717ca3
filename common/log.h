// Logging setup. Everything logs through spdlog's default logger to stderr.
// Never pass key material or raw packets to a log call.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace keymesh {

// level: trace|debug|info|warn|error. Unknown names fall back to info.
void setup_logging(std::string_view level);

}  // namespace keymesh
