// The config key `kubernetes:` (docs/config.md, docs/kubernetes.md): keymeshd names the pods it
// attaches by what the API server says about them. In-cluster defaults: the API server from
// KUBERNETES_SERVICE_HOST/PORT, the service account's token and CA where the kubelet mounts
// them, the node's name from $NODE_NAME (the DaemonSet sets it from the downward API).
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keymesh::daemon {

struct KubernetesConfig {
  std::string api_server;  // "https://10.96.0.1:443"
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string node_name;               // whose pods are watched (fieldSelector spec.nodeName)
  std::string trust_domain = "cluster.local";  // spiffe://<trust_domain>/ns/<ns>/sa/<sa>
  std::string name_prefix;             // "<prefix>/<ns>.<pod>"; "": the host name at start
  bool network_policy = true;          // enforce NetworkPolicy objects (docs/kubernetes.md)
};

// The environment, injectable for tests (production: getenv).
using EnvLookup = std::function<const char*(const char*)>;

// Reads `kubernetes:` of ROOT (absent: nullopt). Errors name the key. Needs node_ca (the
// identities are minted by it). Checks that the token and CA files are readable.
Result<std::optional<KubernetesConfig>> parse_kubernetes(const YAML::Node& root,
                                                         std::string_view base_dir,
                                                         bool has_node_ca,
                                                         const EnvLookup& env);

}  // namespace keymesh::daemon
