// The network configuration keymesh-cni reads from stdin (one plugin entry of a conflist, as
// the runtime sends it: with "cniVersion", "name", "runtimeConfig", "prevResult" filled in).
// Keys keymesh-cni does not know are ignored, as CNI requires (runtimes add their own).
// docs/cni.md documents every key.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cni/environment.h"
#include "cni/error.h"
#include "node/release_queue.h"

namespace keymesh::cni {

inline constexpr std::string_view kDefaultSocket = "/run/keymesh/keymesh.sock";
inline constexpr std::size_t kMaxStdinBytes = 1u << 20;
inline constexpr int kMaxJsonDepth = 64;

struct PortMapping {
  int host_port = 0;
  int container_port = 0;
  std::string protocol = "tcp";  // lower case: tcp, udp, sctp
  std::string host_ip;           // "" when not given
};

struct Attachment {  // one entry of "cni.dev/valid-attachments" (GC)
  std::string container_id;
  std::string ifname;
  bool operator<(const Attachment& o) const {
    return container_id != o.container_id ? container_id < o.container_id : ifname < o.ifname;
  }
};

struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  std::string socket{kDefaultSocket};
  // Where DEL queues a release keymeshd could not take (keymeshd's `cni_release_dir`).
  std::string release_dir{node::kDefaultReleaseDir};
  std::optional<std::string> identity;          // template (identity.h); unset: the default
  std::vector<std::string> groups;              // templates
  std::map<std::string, std::string> labels;    // values are templates
  std::optional<int> mtu;                       // overrides the daemon's MTU
  std::string log_level = "warn";
  std::optional<nlohmann::json> prev_result;    // an object, unchecked here (see result.h)
  nlohmann::json dns;                           // passed through to the result (null: none)
  std::vector<PortMapping> port_mappings;       // runtimeConfig.portMappings
  std::vector<Attachment> valid_attachments;    // GC only
};

// Parses stdin for `command` (VERSION reads no config). Errors: 6 when the
// text is not JSON (or nests deeper than kMaxJsonDepth), 1 for an unsupported cniVersion,
// 7 for a bad field, with msg "FIELD: problem" (e.g. "runtimeConfig.portMappings[0].hostPort:
// must be an integer 1-65535").
CniResult<NetConf> parse_netconf(std::string_view text, Command command);

// Parses JSON text with a nesting limit and without exceptions; 6 on failure.
CniResult<nlohmann::json> parse_json(std::string_view text, std::string_view what);

}  // namespace keymesh::cni
