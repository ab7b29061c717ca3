#include "cni/identity.h"

#include <cctype>

namespace keymesh::cni {

namespace {

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// One pass over the template. With `vars` null it only checks the syntax; otherwise it also
// expands into *out. Returns "" or the problem.
std::string walk(std::string_view text, const TemplateVars* vars, std::string* out) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '$') {
      if (out) *out += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      if (out) *out += '$';
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{')
      return "a '$' must start ${NAME} (or be written $$), at offset " + std::to_string(i);
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) return "unterminated ${ at offset " + std::to_string(i);
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string_view fallback;
    bool has_fallback = false;
    if (const auto sep = inner.find(":-"); sep != std::string_view::npos) {
      fallback = inner.substr(sep + 2);
      inner = inner.substr(0, sep);
      has_fallback = true;
    }
    if (inner.empty() || !name_start(inner[0]))
      return "bad variable name \"" + std::string(inner.substr(0, 40)) + "\" at offset " +
             std::to_string(i);
    for (const char n : inner)
      if (!name_char(n))
        return "bad variable name \"" + std::string(inner.substr(0, 40)) + "\" at offset " +
               std::to_string(i);
    if (vars != nullptr) {
      const auto it = vars->find(inner);
      if (it != vars->end() && !it->second.empty()) {
        *out += it->second;
      } else if (has_fallback) {
        *out += fallback;
      } else {
        return "${" + std::string(inner) + "} is not set (not in CNI_ARGS or empty)";
      }
    }
    i = close;
  }
  return {};
}

std::string name_problem(std::string_view name) {
  if (name.empty() || name.size() > 253)
    return "must expand to 1-253 bytes, got " + std::to_string(name.size());
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "must not contain whitespace or control characters";
  }
  return {};
}

}  // namespace

std::string template_problem(std::string_view text) { return walk(text, nullptr, nullptr); }

CniResult<std::string> expand_template(std::string_view text, const TemplateVars& vars,
                                       std::string_view field) {
  std::string out;
  if (auto problem = walk(text, &vars, &out); !problem.empty())
    return cni_fail(Code::kInvalidConfig, std::string(field) + ": " + problem);
  return out;
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
  if (auto problem = name_problem(*name); !problem.empty())
    return cni_fail(Code::kInvalidConfig, "identity: " + problem, "expanded from \"" + tmpl + "\"");
  id.name = std::move(*name);
  for (std::size_t i = 0; i < conf.groups.size(); ++i) {
    const std::string field = "groups[" + std::to_string(i) + "]";
    auto g = expand_template(conf.groups[i], vars, field);
    if (!g) return std::unexpected(g.error());
    if (auto problem = name_problem(*g); !problem.empty())
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
