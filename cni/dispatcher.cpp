#include "cni/dispatcher.h"

#include <nlohmann/json.hpp>

#include "cni/commands.h"
#include "cni/config.h"
#include "cni/version.h"
#include "common/log.h"

namespace keymesh::cni {

namespace {

// The version to put in an error: the config's when we could read one we support.
std::string error_version(std::string_view input) {
  auto doc = parse_json(input, "stdin");
  if (doc && doc->is_object()) {
    const auto it = doc->find("cniVersion");
    if (it != doc->end() && it->is_string() && version_supported(it->get<std::string>()))
      return it->get<std::string>();
  }
  return std::string(kLatestVersion);
}

std::string version_info() {
  nlohmann::ordered_json doc;
  doc["cniVersion"] = kLatestVersion;
  doc["supportedVersions"] = kSupportedVersions;
  return doc.dump();
}

}  // namespace

int run(const EnvLookup& lookup, std::string_view input, std::ostream& out,
        const RunOptions& options) {
  const auto failed = [&](std::string_view version, const CniError& e) {
    spdlog::error("{} (code {})", e.msg, static_cast<int>(e.code));
    out << error_json(version, e) << "\n";
    return 1;
  };

  auto env = parse_environment(lookup);
  if (!env) return failed(error_version(input), env.error());

  // VERSION answers whatever stdin holds: the runtime picks a version from the list.
  if (env->command == Command::kVersion) {
    out << version_info() << "\n";
    return 0;
  }

  auto conf = parse_netconf(input, env->command);
  if (!conf) return failed(error_version(input), conf.error());
  spdlog::set_level(spdlog::level::from_str(conf->log_level));

  Context ctx{std::move(*env), std::move(*conf), options.hostname, options.daemon_timeout,
              lookup("KEYMESH_CNI_FAIL_AT").value_or("")};
  const std::string version = ctx.conf.cni_version;
  switch (ctx.env.command) {
    case Command::kAdd: {
      auto result = cmd_add(ctx);
      if (!result) return failed(version, result.error());
      out << *result << "\n";
      return 0;
    }
    case Command::kDel:
      if (auto r = cmd_del(ctx); !r) return failed(version, r.error());
      return 0;
    case Command::kCheck:
      if (auto r = cmd_check(ctx); !r) return failed(version, r.error());
      return 0;
    case Command::kGc:
      if (auto r = cmd_gc(ctx); !r) return failed(version, r.error());
      return 0;
    case Command::kStatus:
      if (auto r = cmd_status(ctx); !r) return failed(version, r.error());
      return 0;
    case Command::kVersion:
      break;  // handled above
  }
  return 0;
}

}  // namespace keymesh::cni
