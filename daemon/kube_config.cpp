#include "daemon/kube_config.h"

#include <unistd.h>

#include <array>

#include "common/yaml_fields.h"
#include "kube/identity.h"

namespace keymesh::daemon {

namespace {

using namespace keymesh::yaml;

constexpr std::array<std::string_view, 7> kKeys = {"api_server",   "token_file",  "ca_file",
                                                   "node_name",    "trust_domain", "name_prefix",
                                                   "network_policy"};

bool dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  return s.front() != '-' && s.front() != '.' && s.back() != '-' && s.back() != '.';
}

Result<std::string> readable_file(const YAML::Node& n, const std::string& key, std::string value,
                                  std::string_view base_dir, const char* hint) {
  if (n.IsDefined() && !n.IsNull()) {
    auto s = get_string(n, key);
    if (!s) return s;
    if (s->empty()) return fail(at(key, "is empty"));
    value = *s;
    if (value.front() != '/' && !base_dir.empty())
      value = std::string(base_dir) + (base_dir.back() == '/' ? "" : "/") + value;
  }
  if (::access(value.c_str(), R_OK) != 0)
    return fail(at(key, quote(value) + " cannot be read (" + hint + ")"));
  return value;
}

}  // namespace

Result<std::optional<KubernetesConfig>> parse_kubernetes(const YAML::Node& root,
                                                         std::string_view base_dir,
                                                         bool has_node_ca,
                                                         const EnvLookup& env) {
  const auto n = field(root, "kubernetes");
  if (!n.IsDefined()) return std::nullopt;
  if (n.IsNull() || !n.IsMap())
    return fail("kubernetes: expected a map (kubernetes: {} for the in-cluster defaults), got " +
                describe(n));
  if (auto r = check_map(n, "kubernetes", kKeys); !r) return std::unexpected(r.error());
  if (!has_node_ca)
    return fail("kubernetes: needs node_ca (pod identities are minted by this node's CA)");
  KubernetesConfig k;
  const auto env_value = [&](const char* name) {
    const char* v = env ? env(name) : nullptr;
    return std::string(v != nullptr ? v : "");
  };

  if (auto s = field(n, "api_server"); s.IsDefined() && !s.IsNull()) {
    auto v = get_string(s, "kubernetes.api_server");
    if (!v) return std::unexpected(v.error());
    k.api_server = *v;
  } else {
    const std::string host = env_value("KUBERNETES_SERVICE_HOST");
    const std::string port = env_value("KUBERNETES_SERVICE_PORT");
    if (host.empty())
      return fail("kubernetes.api_server: not set, and KUBERNETES_SERVICE_HOST is not in the "
                  "environment (keymeshd is not running in a pod: set api_server)");
    k.api_server = "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                   ":" + (port.empty() ? "443" : port);
  }
  if (!k.api_server.starts_with("https://") || k.api_server.size() <= 8 ||
      k.api_server.find_first_of(" \t\r\n") != std::string::npos)
    return fail("kubernetes.api_server: " + quote(k.api_server) +
                " is not an https:// URL (the service-account token must not travel in clear)");
  while (k.api_server.ends_with('/')) k.api_server.pop_back();

  auto token = readable_file(field(n, "token_file"), "kubernetes.token_file", k.token_file,
                             base_dir, "the pod's service-account token: is "
                             "automountServiceAccountToken off?");
  if (!token) return std::unexpected(token.error());
  k.token_file = *token;
  auto ca = readable_file(field(n, "ca_file"), "kubernetes.ca_file", k.ca_file, base_dir,
                          "the API server's CA");
  if (!ca) return std::unexpected(ca.error());
  k.ca_file = *ca;

  if (auto s = field(n, "node_name"); s.IsDefined() && !s.IsNull()) {
    auto v = get_string(s, "kubernetes.node_name");
    if (!v) return std::unexpected(v.error());
    k.node_name = *v;
  } else {
    k.node_name = env_value("NODE_NAME");
    if (k.node_name.empty())
      return fail("kubernetes.node_name: not set, and NODE_NAME is not in the environment (set "
                  "it from the downward API: env NODE_NAME, fieldRef spec.nodeName)");
  }
  if (!dns_subdomain(k.node_name))
    return fail("kubernetes.node_name: " + quote(k.node_name) +
                " is not a node name (lower-case letters, digits, '-' and '.', at most 253)");

  if (auto s = field(n, "trust_domain"); s.IsDefined() && !s.IsNull()) {
    auto v = get_string(s, "kubernetes.trust_domain");
    if (!v) return std::unexpected(v.error());
    k.trust_domain = *v;
  }
  if (auto id = kube::spiffe_id(k.trust_domain, kube::Pod{}); !id)
    return fail("kubernetes.trust_domain: " + quote(k.trust_domain) + ": " +
                id.error().substr(id.error().find(':') + 2));

  if (auto s = field(n, "name_prefix"); s.IsDefined() && !s.IsNull()) {
    auto v = get_string(s, "kubernetes.name_prefix");
    if (!v) return std::unexpected(v.error());
    if (v->empty() || v->size() > 128 || v->find_first_of(" \t\r\n/") != std::string::npos)
      return fail("kubernetes.name_prefix: " + quote(*v) +
                  " must be 1-128 characters without spaces or '/'");
    k.name_prefix = *v;
  }
  if (auto s = field(n, "network_policy"); s.IsDefined() && !s.IsNull()) {
    if (!s.IsScalar() || (s.Scalar() != "true" && s.Scalar() != "false"))
      return fail(at("kubernetes.network_policy", "expected true or false, got " + describe(s)));
    k.network_policy = s.Scalar() == "true";
  }
  return k;
}

}  // namespace keymesh::daemon
