#include "cni/identity.h"

#include "common/template.h"

namespace keymesh::cni {

std::string template_problem(std::string_view text) { return keymesh::template_problem(text); }

CniResult<std::string> expand_template(std::string_view text, const TemplateVars& vars,
                                       std::string_view field) {
  auto out = keymesh::expand_template(text, vars, " (not in CNI_ARGS or empty)");
  if (!out) return cni_fail(Code::kInvalidConfig, std::string(field) + ": " + out.error().message);
  return std::move(*out);
}

TemplateVars template_vars(const Environment& env, const NetConf& conf, std::string_view hostname) {
  TemplateVars vars;
  for (const auto& [k, v] : env.args) vars[k] = v;
  vars["CONTAINER_ID"] = env.container_id;
  vars["CONTAINER_ID_SHORT"] = env.container_id.substr(0, 12);
  vars["IFNAME"] = env.ifname;
  vars["NETWORK"] = conf.name;
  vars["HOSTNAME"] = std::string(hostname);
  return vars;
}

CniResult<WorkloadIdentity> workload_identity(const Environment& env, const NetConf& conf,
                                              std::string_view hostname) {
  const TemplateVars vars = template_vars(env, conf, hostname);
  std::string tmpl;
  if (conf.identity) {
    tmpl = *conf.identity;
  } else {
    const auto has = [&](const char* k) {
      const auto it = env.args.find(k);
      return it != env.args.end() && !it->second.empty();
    };
    if (has("K8S_POD_NAMESPACE") && has("K8S_POD_NAME")) tmpl = "${K8S_POD_NAMESPACE}.${K8S_POD_NAME}";
    else if (has("K8S_POD_NAME")) tmpl = "${K8S_POD_NAME}";
    else tmpl = "ctr-${CONTAINER_ID_SHORT}";
  }
  WorkloadIdentity id;
  auto name = expand_template(tmpl, vars, "identity");
  if (!name) return std::unexpected(name.error());
  if (auto problem = identity_name_problem(*name); !problem.empty())
    return cni_fail(Code::kInvalidConfig, "identity: " + problem, "expanded from \"" + tmpl + "\"");
  id.name = std::move(*name);
  for (std::size_t i = 0; i < conf.groups.size(); ++i) {
    const std::string field = "groups[" + std::to_string(i) + "]";
    auto g = expand_template(conf.groups[i], vars, field);
    if (!g) return std::unexpected(g.error());
    if (auto problem = identity_name_problem(*g); !problem.empty())
      return cni_fail(Code::kInvalidConfig, field + ": " + problem);
    id.groups.push_back(std::move(*g));
  }
  for (const auto& [k, v] : conf.labels) {
    auto value = expand_template(v, vars, "labels." + k);
    if (!value) return std::unexpected(value.error());
    id.labels[k] = std::move(*value);
  }
  return id;
}

}  // namespace keymesh::cni
