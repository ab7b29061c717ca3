// Helpers shared by the identity commands (ca_commands.cpp, cert_commands.cpp): durations,
// times, and how a certificate is shown to a person or as JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "identity/certificate.h"

namespace keymesh::tools {

// "8760h", "30m", "90s", "7d", "1h30m" -> seconds (> 0).
Result<std::int64_t> parse_duration(std::string_view text);
// 93784 -> "1d 2h 3m 4s" (zero parts left out).
std::string format_duration(std::int64_t seconds);
// Unix seconds ("1700000000") or UTC RFC 3339 ("2025-01-02T03:04:05Z").
Result<std::int64_t> parse_time(std::string_view text);
std::int64_t now_unix();

// The human view of `keymesh cert show`; `now` for "expires in".
std::string show_certificate(const identity::Certificate& cert, std::int64_t now);
// One JSON object with the same facts.
std::string certificate_json(const identity::Certificate& cert, std::int64_t now);

}  // namespace keymesh::tools
