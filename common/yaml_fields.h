// Reading YAML files whose every mistake is reported with the key path and the problem, the
// convention the daemon config and the policy loader share: `peers[1].endpoint: expected a
// string, got a list`, `unknown key "listen_prot" (did you mean listen_port?)`.
// Control path only; nothing here throws (callers catch YAML::Exception around parsing).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keymesh::yaml {

using Keys = std::span<const std::string_view>;

// A user-written value for an error message: quoted, escaped, cut after 64 characters.
// Never call it on key material.
std::string quote(std::string_view s);
// "a list", "a map", "nothing" or the quoted scalar.
std::string describe(const YAML::Node& n);
// Key paths: at("peers[1]", "is empty"), child("interface", "mtu"), item("allowed_ips", 0).
std::string at(const std::string& path, std::string_view problem);
std::string child(const std::string& path, std::string_view key);
std::string item(const std::string& path, std::size_t i);
// "a, b or c"
std::string one_of(Keys names);

// Every key of the map is one of `allowed` and appears once; close misspellings get a
// suggestion. A null node (`interface:` with nothing after it) counts as an empty map.
Result<void> check_map(const YAML::Node& n, const std::string& path, Keys allowed);
// The value under `key`, or an undefined node. Only for nodes that passed check_map.
YAML::Node field(const YAML::Node& map, std::string_view key);
Result<std::string> get_string(const YAML::Node& n, const std::string& path);
// A decimal integer within [lo, hi].
Result<std::int64_t> get_int(const YAML::Node& n, const std::string& path, std::int64_t lo,
                             std::int64_t hi);
// Documents in `text`, counting no further than two (YAML::LoadAll would build every one;
// short junk inputs can hold thousands of empty documents). Without a `---` or `...` in the
// text there can be no second document: the answer is 1 without scanning (also for an empty
// text), so callers asking "more than one?" pay a second scan only when one is possible.
std::size_t count_documents(const std::string& text);

// Calls fn(element, element_path) -> Result<void> for each element of a list, stopping at
// the first error. A null node is an empty list; a scalar gets a hint to write a list.
template <class Fn>
Result<void> for_each_item(const YAML::Node& n, const std::string& path, Fn&& fn) {
  if (n.IsNull()) return {};
  if (n.IsScalar())
    return fail(at(path, "expected a list, got " + describe(n) + " (write it as [" +
                             n.Scalar().substr(0, 64) + "])"));
  if (!n.IsSequence()) return fail(at(path, "expected a list, got " + describe(n)));
  std::size_t i = 0;
  for (auto it = n.begin(); it != n.end(); ++it, ++i) {
    Result<void> r = fn(*it, item(path, i));
    if (!r) return r;
  }
  return {};
}

}  // namespace keymesh::yaml
