#include "cni/config.h"

#include <algorithm>
#include <cctype>

#include "cni/identity.h"
#include "cni/version.h"
#include "common/json.h"

namespace keymesh::cni {

namespace {

using nlohmann::json;

std::unexpected<CniError> bad_field(std::string_view field, std::string_view problem) {
  return cni_fail(Code::kInvalidConfig, std::string(field) + ": " + std::string(problem));
}

std::string type_name(const json& v) { return v.is_null() ? "null" : std::string(v.type_name()); }

CniResult<std::optional<std::string>> optional_string(const json& obj, std::string_view key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return bad_field(key, "must be a string, got " + type_name(*it));
  return std::optional<std::string>(it->get<std::string>());
}

CniResult<std::string> required_string(const json& obj, std::string_view key) {
  auto v = optional_string(obj, key);
  if (!v) return std::unexpected(v.error());
  if (!*v || (*v)->empty()) return bad_field(key, "required");
  return **v;
}

// An integer in [lo, hi]; JSON floats such as 1500.0 are refused like strings.
CniResult<int> integer_in(const json& v, std::string_view field, long lo, long hi) {
  const std::string want = "must be an integer " + std::to_string(lo) + "-" + std::to_string(hi);
  if (!v.is_number_integer()) return bad_field(field, want + ", got " + type_name(v));
  long n;
  if (v.is_number_unsigned()) {
    const auto u = v.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(hi)) return bad_field(field, want + ", got " + std::to_string(u));
    n = long(u);
  } else {
    n = v.get<long>();
  }
  if (n < lo || n > hi) return bad_field(field, want + ", got " + std::to_string(n));
  return int(n);
}

// A CNI network name: like a container ID (alphanumeric first, then [A-Za-z0-9_.-]).
bool valid_network_name(std::string_view name) { return container_id_problem(name).empty(); }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// containerd sends {"HostPort":..}, podman {"hostPort":..}: keys match case-insensitively,
// as Go's encoding/json does.
const json* find_ci(const json& obj, std::string_view key) {
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (iequals(it.key(), key)) return &it.value();
  return nullptr;
}

CniResult<std::vector<PortMapping>> parse_port_mappings(const json& runtime_config) {
  std::vector<PortMapping> out;
  const json* list = find_ci(runtime_config, "portMappings");
  if (list == nullptr || list->is_null()) return out;
  const std::string base = "runtimeConfig.portMappings";
  if (!list->is_array()) return bad_field(base, "must be a list, got " + type_name(*list));
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    const std::string at = base + "[" + std::to_string(i) + "]";
    if (!entry.is_object()) return bad_field(at, "must be an object, got " + type_name(entry));
    PortMapping pm;
    for (const auto& [key, target] :
         {std::pair<std::string_view, int*>{"hostPort", &pm.host_port},
          std::pair<std::string_view, int*>{"containerPort", &pm.container_port}}) {
      const json* v = find_ci(entry, key);
      if (v == nullptr) return bad_field(at + "." + std::string(key), "required");
      auto n = integer_in(*v, at + "." + std::string(key), 1, 65535);
      if (!n) return std::unexpected(n.error());
      *target = *n;
    }
    if (const json* v = find_ci(entry, "protocol"); v != nullptr && !v->is_null()) {
      if (!v->is_string()) return bad_field(at + ".protocol", "must be a string");
      std::string p = v->get<std::string>();
      std::transform(p.begin(), p.end(), p.begin(),
                     [](unsigned char c) { return char(std::tolower(c)); });
      if (!p.empty()) {
        if (p != "tcp" && p != "udp" && p != "sctp")
          return bad_field(at + ".protocol", "must be tcp, udp or sctp");
        pm.protocol = p;
      }
    }
    if (const json* v = find_ci(entry, "hostIP"); v != nullptr && !v->is_null()) {
      if (!v->is_string()) return bad_field(at + ".hostIP", "must be a string");
      pm.host_ip = v->get<std::string>();
    }
    out.push_back(std::move(pm));
  }
  return out;
}

CniResult<std::vector<Attachment>> parse_valid_attachments(const json& conf) {
  // libcni 1.2 sends the list under both names (a naming slip in an earlier draft).
  std::string key = "cni.dev/valid-attachments";
  auto it = conf.find(key);
  if (it == conf.end()) {
    key = "cni.dev/attachments";
    it = conf.find(key);
  }
  // GC without the list must not be read as "nothing is valid": that would delete every
  // attachment on the node.
  if (it == conf.end() || it->is_null()) return bad_field("cni.dev/valid-attachments", "required for GC");
  if (!it->is_array()) return bad_field(key, "must be a list, got " + type_name(*it));
  std::vector<Attachment> out;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& entry = (*it)[i];
    const std::string at = key + "[" + std::to_string(i) + "]";
    if (!entry.is_object()) return bad_field(at, "must be an object, got " + type_name(entry));
    auto id = required_string(entry, "containerID");
    if (!id) return bad_field(at + ".containerID", "required string");
    auto ifname = required_string(entry, "ifname");
    if (!ifname) return bad_field(at + ".ifname", "required string");
    out.push_back({std::move(*id), std::move(*ifname)});
  }
  return out;
}

CniResult<void> check_version(const json& conf) {
  const auto it = conf.find("cniVersion");
  if (it == conf.end() || !it->is_string())
    return cni_fail(Code::kIncompatibleVersion, "incompatible CNI version: cniVersion is missing",
                    "keymesh-cni supports 1.0.0 and 1.1.0");
  const std::string v = it->get<std::string>();
  if (!version_supported(v))
    return cni_fail(Code::kIncompatibleVersion,
                    "incompatible CNI version: \"" + v.substr(0, 32) + "\" is not supported",
                    "keymesh-cni supports 1.0.0 and 1.1.0");
  return {};
}

}  // namespace

CniResult<json> parse_json(std::string_view text, std::string_view what) {
  if (text.size() > kMaxStdinBytes)
    return cni_fail(Code::kDecodeFailure, std::string(what) + ": larger than 1 MiB");
  if (json_nesting_depth(text) > kMaxJsonDepth)
    return cni_fail(Code::kDecodeFailure, std::string(what) + ": JSON nested deeper than " +
                                              std::to_string(kMaxJsonDepth) + " levels");
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return cni_fail(Code::kDecodeFailure, std::string(what) + ": not valid JSON");
  return doc;
}

CniResult<NetConf> parse_netconf(std::string_view text, Command command) {
  auto parsed = parse_json(text, "stdin");
  if (!parsed) return std::unexpected(parsed.error());
  const json& conf = *parsed;
  if (!conf.is_object()) return cni_fail(Code::kDecodeFailure, "stdin: not a JSON object");
  if (auto ok = check_version(conf); !ok) return std::unexpected(ok.error());

  NetConf nc;
  nc.cni_version = conf["cniVersion"].get<std::string>();
  auto name = required_string(conf, "name");
  if (!name) return std::unexpected(name.error());
  if (!valid_network_name(*name))
    return bad_field("name", "must start with a letter or digit and hold only letters, digits, "
                             "'_', '.' and '-'");
  nc.name = std::move(*name);
  auto type = required_string(conf, "type");
  if (!type) return std::unexpected(type.error());
  nc.type = std::move(*type);

  auto socket = optional_string(conf, "socket");
  if (!socket) return std::unexpected(socket.error());
  if (*socket) {
    if ((*socket)->empty() || (*socket)->front() != '/' || (*socket)->size() > 107)
      return bad_field("socket", "must be an absolute path of at most 107 bytes");
    nc.socket = **socket;
  }
  auto release_dir = optional_string(conf, "release_dir");
  if (!release_dir) return std::unexpected(release_dir.error());
  if (*release_dir) {
    if ((*release_dir)->empty() || (*release_dir)->front() != '/' || (*release_dir)->size() > 4000)
      return bad_field("release_dir", "must be an absolute path");
    nc.release_dir = **release_dir;
  }

  auto identity = optional_string(conf, "identity");
  if (!identity) return std::unexpected(identity.error());
  if (*identity) {
    if (auto problem = template_problem(**identity); !problem.empty())
      return bad_field("identity", problem);
    nc.identity = **identity;
  }

  if (const auto it = conf.find("groups"); it != conf.end() && !it->is_null()) {
    if (!it->is_array()) return bad_field("groups", "must be a list of strings");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string at = "groups[" + std::to_string(i) + "]";
      if (!(*it)[i].is_string()) return bad_field(at, "must be a string");
      std::string g = (*it)[i].get<std::string>();
      if (g.empty()) return bad_field(at, "must not be empty");
      if (auto problem = template_problem(g); !problem.empty()) return bad_field(at, problem);
      nc.groups.push_back(std::move(g));
    }
  }

  if (const auto it = conf.find("labels"); it != conf.end() && !it->is_null()) {
    if (!it->is_object()) return bad_field("labels", "must be an object of strings");
    for (auto l = it->begin(); l != it->end(); ++l) {
      const std::string at = "labels." + l.key();
      if (l.key().empty()) return bad_field("labels", "a label name must not be empty");
      if (!l.value().is_string()) return bad_field(at, "must be a string");
      std::string v = l.value().get<std::string>();
      if (auto problem = template_problem(v); !problem.empty()) return bad_field(at, problem);
      nc.labels[l.key()] = std::move(v);
    }
  }

  if (const auto it = conf.find("mtu"); it != conf.end() && !it->is_null()) {
    auto mtu = integer_in(*it, "mtu", 576, 9000);
    if (!mtu) return std::unexpected(mtu.error());
    nc.mtu = *mtu;
  }

  auto level = optional_string(conf, "logLevel");
  if (!level) return std::unexpected(level.error());
  if (*level) {
    const std::string& l = **level;
    if (l != "trace" && l != "debug" && l != "info" && l != "warn" && l != "error")
      return bad_field("logLevel", "must be trace, debug, info, warn or error");
    nc.log_level = l;
  }

  if (const auto it = conf.find("prevResult"); it != conf.end() && !it->is_null()) {
    if (!it->is_object()) return bad_field("prevResult", "must be an object, got " + type_name(*it));
    nc.prev_result = *it;
  }

  if (const auto it = conf.find("dns"); it != conf.end() && !it->is_null()) {
    if (!it->is_object()) return bad_field("dns", "must be an object, got " + type_name(*it));
    nc.dns = *it;
  }

  if (const auto it = conf.find("runtimeConfig"); it != conf.end() && !it->is_null()) {
    if (!it->is_object())
      return bad_field("runtimeConfig", "must be an object, got " + type_name(*it));
    auto mappings = parse_port_mappings(*it);
    if (!mappings) return std::unexpected(mappings.error());
    nc.port_mappings = std::move(*mappings);
  }

  if (command == Command::kGc) {
    auto attachments = parse_valid_attachments(conf);
    if (!attachments) return std::unexpected(attachments.error());
    nc.valid_attachments = std::move(*attachments);
  }
  return nc;
}

}  // namespace keymesh::cni
