// Fuzzes keymesh-cni's input parsers with arbitrary stdin text: the network config for every
// command, and, with the input's first line, CNI_ARGS and an identity template expanded
// against the parsed CNI_ARGS. Errors must say something; nothing may crash or throw.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cni/config.h"
#include "cni/environment.h"
#include "cni/identity.h"
#include "cni/result.h"

using namespace keymesh::cni;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // parse_netconf starts with parse_json for every command: text it refuses (not JSON, too
  // deep: most mutations) fails all five the same way, so that one parse covers them (a
  // json::accept() after the first refusal made this two parses per input).
  const auto doc = parse_json(text, "stdin");
  if (!doc) {
    if (doc.error().msg.empty()) __builtin_trap();
    return 0;
  }
  for (const Command c : {Command::kAdd, Command::kDel, Command::kCheck, Command::kGc, Command::kStatus}) {
    auto conf = parse_netconf(text, c);
    if (!conf) {
      if (conf.error().msg.empty()) __builtin_trap();
      continue;
    }
    // What ADD and CHECK do with a config that parsed.
    Environment env;
    env.container_id = "fuzz";
    env.ifname = "eth0";
    auto id = workload_identity(env, *conf, "node");
    if (!id && id.error().msg.empty()) __builtin_trap();
    if (conf->prev_result) {
      auto found = find_attachment(*conf->prev_result, "/run/netns/x", "eth0");
      if (!found && found.error().msg.empty()) __builtin_trap();
      (void)dump_json(result_document(conf->cni_version, AttachResult{}, conf->prev_result));
    }
  }
  const std::string_view line = text.substr(0, text.find('\n'));
  auto args = parse_cni_args(line);
  if (args) {
    Environment env;
    env.args = *args;
    NetConf conf;
    TemplateVars vars = template_vars(env, conf, "node");
    if (template_problem(line).empty()) (void)expand_template(line, vars, "identity");
  } else if (args.error().empty()) {
    __builtin_trap();
  }
  return 0;
}
