// The CNI_* environment a runtime sets for each call, validated for the command at hand.
// Which variables each command needs follows the CNI 1.1 specification; CNI_PATH is not
// required because keymesh-cni never executes another plugin.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "cni/error.h"

namespace keymesh::cni {

enum class Command { kAdd, kDel, kCheck, kGc, kStatus, kVersion };

std::string_view command_name(Command command);

// CNI_ARGS: "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;IgnoreUnknown=1". Every key is kept
// (keymesh-cni uses some and ignores the rest, so IgnoreUnknown makes no difference).
// Empty segments (";;") are skipped; a segment without '=' or with an empty key is an
// error that quotes the segment. A key given twice keeps its last value.
std::expected<std::map<std::string, std::string>, std::string> parse_cni_args(std::string_view text);

struct Environment {
  Command command = Command::kVersion;
  std::string container_id;  // ADD, DEL, CHECK
  std::string netns;         // ADD, CHECK (required); DEL (may be empty: netns already gone)
  std::string ifname;        // ADD, DEL, CHECK
  std::map<std::string, std::string> args;  // CNI_ARGS
  std::string path;          // CNI_PATH as given (unused)
};

// Looks one variable up; std::nullopt when unset. Production passes getenv, tests a map.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Errors are code 4 (kInvalidEnvironment) and their msg starts with the variable's name,
// e.g. "CNI_IFNAME: must be 1-15 characters, got 17".
CniResult<Environment> parse_environment(const EnvLookup& lookup);

// The rules the specification gives for container IDs and interface names; "" when valid,
// else the reason.
std::string container_id_problem(std::string_view id);
std::string ifname_problem(std::string_view name);

}  // namespace keymesh::cni
