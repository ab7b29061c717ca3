// Identity templates: how the CNI plugin and the Docker driver build a workload's certificate
// name (and groups and label values) from what the runtime tells them.
//
// Syntax: literal text with
//   ${NAME}            the variable's value; an error if it is unset or empty
//   ${NAME:-fallback}  the value, or the literal fallback when unset or empty
//   $$                 a literal '$'
// NAME is [A-Za-z_][A-Za-z0-9_]*. Which variables exist is up to the caller.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keymesh {

using TemplateVars = std::map<std::string, std::string, std::less<>>;

// "" when `text` is a well-formed template, else what is wrong with it.
std::string template_problem(std::string_view text);

// Expands `text`. An unset variable fails with "${NAME} is not set" followed by
// `unset_note` (say where variables come from: " (not in CNI_ARGS or empty)").
Result<std::string> expand_template(std::string_view text, const TemplateVars& vars,
                                    std::string_view unset_note = " (unset or empty)");

// "" when `name` can be an identity name (1-253 bytes, no whitespace or control
// characters), else the problem ("must expand to 1-253 bytes, got 0").
std::string identity_name_problem(std::string_view name);

}  // namespace keymesh
