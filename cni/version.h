// CNI specification versions keymesh-cni speaks. 1.0.0 and 1.1.0 differ, for this plugin,
// only in the result: 1.1.0 adds "mtu" to interfaces. (0.x results carry "version" on each
// IP and the runtimes we target send 1.0.0 configs, so 0.x is not offered.)
#pragma once

#include <array>
#include <string_view>

namespace keymesh::cni {

inline constexpr std::string_view kLatestVersion = "1.1.0";
inline constexpr std::array<std::string_view, 2> kSupportedVersions = {"1.0.0", "1.1.0"};

inline bool version_supported(std::string_view v) {
  for (const auto s : kSupportedVersions)
    if (s == v) return true;
  return false;
}

// Whether results of version `v` carry interface MTUs (1.1.0 and later).
inline bool version_has_interface_mtu(std::string_view v) { return v == "1.1.0"; }

}  // namespace keymesh::cni
