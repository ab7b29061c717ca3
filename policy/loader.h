// Policy files: YAML text to a compiled Policy (docs/policy.md describes every key).
//
// Loading validates everything up front. An error names the rule (by index and name), the
// key path and the problem, e.g.
//   rules[2] (web-to-db).allow[1]: "tcp/70000" port out of range
// Unknown keys are errors. Nothing here throws: yaml-cpp's exceptions become errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "policy/evaluator.h"

namespace keymesh::policy {

// Parses policy YAML text. No file access; time zones are looked up in the system tzdata.
Result<Policy> parse_policy(std::string_view yaml_text);

// Reads and parses `path`; errors are prefixed with the path.
Result<Policy> load_policy_file(const std::string& path);

// Hot reload (SIGHUP, file watch): parses `path` and, only if it is valid, replaces `current`
// with it. On error `current` is left as it was (the old policy stays in force) and the error
// is returned. On success returns the new policy (also now in `current`).
Result<std::shared_ptr<const Policy>> reload_policy_file(const std::string& path,
                                                         std::shared_ptr<const Policy>& current);

// One `allow` entry: "tcp/5432", "udp/53", "tcp/8000-8080", "tcp", "udp", "icmp", "any".
// The error text is the quoted entry and the problem ("\"tcp/70000\" port out of range").
// Also used by `keymesh policy check --port`.
Result<Service> parse_service(std::string_view text);

}  // namespace keymesh::policy
