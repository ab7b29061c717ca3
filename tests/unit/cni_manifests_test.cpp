// deploy/kubernetes/: every manifest parses, the expected objects are there with consistent
// names (ServiceAccount <-> binding <-> DaemonSet, volumes <-> mounts <-> ConfigMap keys),
// the DaemonSet runs keymeshd with host networking and installs the CNI plugin, the conflist
// in the ConfigMap is JSON that keymesh-cni itself accepts (as libcni would hand it over),
// the plugin and keymeshd agree on the control socket, and the policy loads.
#define BOOST_TEST_MODULE cni_manifests
#include <yaml-cpp/yaml.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cni/config.h"
#include "cni/version.h"
#include "policy/loader.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const fs::path kDir = fs::path(KEYMESH_SOURCE_DIR) / "deploy/kubernetes";
const std::string kNamespace = "keymesh-system";

struct Manifests {
  std::map<std::pair<std::string, std::string>, YAML::Node> objects;  // (kind, name)
  Manifests() {
    for (const auto& entry : fs::directory_iterator(kDir)) {
      if (entry.path().extension() != ".yaml") continue;
      BOOST_TEST_CONTEXT(entry.path().filename()) {
        std::vector<YAML::Node> docs;
        BOOST_REQUIRE_NO_THROW(docs = YAML::LoadAllFromFile(entry.path().string()));
        for (const auto& doc : docs) {
          if (!doc || doc.IsNull()) continue;
          BOOST_REQUIRE(doc["apiVersion"] && doc["kind"] && doc["metadata"]["name"]);
          const auto key = std::make_pair(doc["kind"].as<std::string>(),
                                          doc["metadata"]["name"].as<std::string>());
          BOOST_TEST(!objects.contains(key), key.first << "/" << key.second << " defined twice");
          objects[key] = doc;
        }
      }
    }
  }
  YAML::Node get(const std::string& kind, const std::string& name) const {
    const auto it = objects.find({kind, name});
    BOOST_REQUIRE_MESSAGE(it != objects.end(), "no " + kind + "/" + name);
    return it->second;
  }
};

YAML::Node named(const YAML::Node& list, const std::string& name) {
  for (const auto& item : list)
    if (item["name"].as<std::string>() == name) return YAML::Node(item);
  BOOST_FAIL("no entry named " + name);
  return {};
}

std::string config_data(const Manifests& m, const std::string& key) {
  const YAML::Node data = m.get("ConfigMap", "keymesh-config")["data"];
  BOOST_REQUIRE_MESSAGE(data[key], "ConfigMap keymesh-config has no " + key);
  return data[key].as<std::string>();
}

}  // namespace

BOOST_AUTO_TEST_CASE(expected_objects_in_the_keymesh_namespace) {
  const Manifests m;
  const std::set<std::pair<std::string, std::string>> expected = {
      {"Namespace", "keymesh-system"},       {"ServiceAccount", "keymesh"},
      {"ClusterRole", "keymesh"},            {"ClusterRoleBinding", "keymesh"},
      {"ConfigMap", "keymesh-config"},       {"ConfigMap", "keymesh-trust"},
      {"DaemonSet", "keymesh"}};
  for (const auto& key : expected) BOOST_TEST(m.objects.contains(key), key.first << "/" << key.second);
  BOOST_TEST(m.objects.size() == expected.size());
  for (const auto& [key, doc] : m.objects) {
    const bool cluster_scoped = key.first == "Namespace" || key.first.starts_with("Cluster");
    BOOST_TEST_CONTEXT(key.first << "/" << key.second) {
      if (cluster_scoped) BOOST_TEST(!doc["metadata"]["namespace"]);
      else BOOST_TEST(doc["metadata"]["namespace"].as<std::string>() == kNamespace);
    }
  }
}

BOOST_AUTO_TEST_CASE(rbac_binds_the_daemonsets_service_account) {
  const Manifests m;
  const YAML::Node binding = m.get("ClusterRoleBinding", "keymesh");
  BOOST_TEST(binding["roleRef"]["kind"].as<std::string>() == "ClusterRole");
  BOOST_TEST(binding["roleRef"]["name"].as<std::string>() == "keymesh");
  const YAML::Node subject = binding["subjects"][0];
  BOOST_TEST(subject["kind"].as<std::string>() == "ServiceAccount");
  BOOST_TEST(subject["name"].as<std::string>() == "keymesh");
  BOOST_TEST(subject["namespace"].as<std::string>() == kNamespace);
  // Read-only.
  for (const auto& rule : m.get("ClusterRole", "keymesh")["rules"])
    for (const auto& verb : rule["verbs"])
      BOOST_TEST((verb.as<std::string>() == "get" || verb.as<std::string>() == "list" ||
                  verb.as<std::string>() == "watch"));
  const YAML::Node pod = m.get("DaemonSet", "keymesh")["spec"]["template"]["spec"];
  BOOST_TEST(pod["serviceAccountName"].as<std::string>() == "keymesh");
  // Least privilege for `kubernetes:`: pods (get at ADD, list/watch of its node's),
  // namespaces and NetworkPolicies (list/watch), nothing else.
  std::map<std::string, std::set<std::string>> granted;
  for (const auto& rule : m.get("ClusterRole", "keymesh")["rules"])
    for (const auto& resource : rule["resources"])
      for (const auto& verb : rule["verbs"])
        granted[resource.as<std::string>()].insert(verb.as<std::string>());
  BOOST_TEST(granted.size() == 3u);
  BOOST_TEST((granted["pods"] == std::set<std::string>{"get", "list", "watch"}));
  BOOST_TEST((granted["namespaces"] == std::set<std::string>{"list", "watch"}));
  BOOST_TEST((granted["networkpolicies"] == std::set<std::string>{"list", "watch"}));
}

BOOST_AUTO_TEST_CASE(config_names_pods_from_the_api_server_on_this_node) {
  const Manifests m;
  const YAML::Node config = YAML::Load(config_data(m, "config.yaml"));
  BOOST_TEST(config["kubernetes"].IsMap());
  BOOST_TEST(config["kubernetes"]["trust_domain"].as<std::string>() == "cluster.local");
  // node_name defaults to $NODE_NAME: keymeshd's container sets it from spec.nodeName.
  const YAML::Node pod = m.get("DaemonSet", "keymesh")["spec"]["template"]["spec"];
  bool node_name = false;
  for (const auto& env : named(pod["containers"], "keymeshd")["env"])
    node_name |= env["name"].as<std::string>() == "NODE_NAME" &&
                 env["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "spec.nodeName";
  BOOST_TEST(node_name);
}

BOOST_AUTO_TEST_CASE(daemonset_runs_keymeshd_on_the_host_network) {
  const Manifests m;
  const YAML::Node ds = m.get("DaemonSet", "keymesh");
  const YAML::Node spec = ds["spec"];
  for (const auto& l : spec["selector"]["matchLabels"])
    BOOST_TEST(spec["template"]["metadata"]["labels"][l.first.as<std::string>()].as<std::string>() ==
               l.second.as<std::string>());
  const YAML::Node pod = spec["template"]["spec"];
  BOOST_TEST(pod["hostNetwork"].as<bool>());
  const YAML::Node daemon = named(pod["containers"], "keymeshd");
  BOOST_TEST(daemon["securityContext"]["privileged"].as<bool>());
  BOOST_TEST(daemon["command"][0].as<std::string>() == "/usr/local/bin/keymeshd");

  // Every mount names a declared volume; ConfigMap subPaths are keys of the ConfigMap.
  std::map<std::string, YAML::Node> volumes;
  for (const auto& v : pod["volumes"]) volumes[v["name"].as<std::string>()] = YAML::Node(v);
  std::vector<YAML::Node> containers;
  for (const auto& c : pod["containers"]) containers.push_back(YAML::Node(c));
  for (const auto& c : pod["initContainers"]) containers.push_back(YAML::Node(c));
  for (const auto& c : containers) {
    for (const auto& mount : c["volumeMounts"]) {
      const std::string name = mount["name"].as<std::string>();
      BOOST_REQUIRE_MESSAGE(volumes.contains(name), c["name"].as<std::string>() + " mounts unknown volume " + name);
      if (volumes[name]["configMap"] && mount["subPath"])
        (void)config_data(m, mount["subPath"].as<std::string>());
    }
  }
  BOOST_TEST(volumes["config"]["configMap"]["name"].as<std::string>() == "keymesh-config");
  // keymeshd's --config is config.yaml of the mounted ConfigMap.
  std::string config_dir;
  for (const auto& mount : daemon["volumeMounts"])
    if (mount["name"].as<std::string>() == "config" && !mount["subPath"])
      config_dir = mount["mountPath"].as<std::string>();
  BOOST_TEST(daemon["command"][1].as<std::string>() == "--config");
  BOOST_TEST(daemon["command"][2].as<std::string>() == config_dir + "/config.yaml");
  (void)config_data(m, "config.yaml");
  // No node CA Secret shared by every node: only the public root comes from the cluster.
  for (const auto& [name, v] : volumes) BOOST_TEST(!v["secret"], name << " is a Secret volume");
  BOOST_TEST(volumes["trust"]["configMap"]["name"].as<std::string>() == "keymesh-trust");
  std::set<std::string> host_paths;
  for (const auto& [name, v] : volumes)
    if (v["hostPath"]) host_paths.insert(v["hostPath"]["path"].as<std::string>());
  for (const char* p : {"/opt/cni/bin", "/etc/cni/net.d", "/run/keymesh", "/var/lib/keymesh", "/dev/net/tun"})
    BOOST_TEST(host_paths.contains(p), p);

  // The init container installs the plugin under its conflist type name, and the conflist.
  const std::string install = named(pod["initContainers"], "install-cni")["command"][2].as<std::string>();
  BOOST_TEST(install.find("/host/opt/cni/bin/keymesh\n") != std::string::npos, install);
  BOOST_TEST(install.find("/host/etc/cni/net.d/10-keymesh.conflist\n") != std::string::npos, install);
}

BOOST_AUTO_TEST_CASE(conflist_is_valid_and_accepted_by_the_plugin) {
  const Manifests m;
  const json conflist = json::parse(config_data(m, "10-keymesh.conflist"), nullptr, false);
  BOOST_REQUIRE(!conflist.is_discarded());
  BOOST_TEST(conflist["name"] == "keymesh");
  BOOST_TEST(keymesh::cni::version_supported(conflist["cniVersion"].get<std::string>()));
  // CNI 1.1 runtimes pick the highest of "cniVersions" they know (and then send GC and STATUS).
  for (const auto& v : conflist["cniVersions"]) BOOST_TEST(keymesh::cni::version_supported(v.get<std::string>()));
  BOOST_REQUIRE(conflist["plugins"].is_array());
  json plugin = conflist["plugins"][0];
  BOOST_TEST(plugin["type"] == "keymesh");
  // libcni hands each plugin its entry plus the list's name and version.
  plugin["name"] = conflist["name"];
  plugin["cniVersion"] = conflist["cniVersion"];
  auto parsed = keymesh::cni::parse_netconf(plugin.dump(), keymesh::cni::Command::kAdd);
  BOOST_REQUIRE_MESSAGE(parsed, (parsed ? std::string() : parsed.error().msg));
  // The plugin dials the socket keymeshd listens on.
  const YAML::Node config = YAML::Load(config_data(m, "config.yaml"));
  const std::string daemon_socket =
      config["control_socket"] ? config["control_socket"].as<std::string>() : "/run/keymesh/keymesh.sock";
  BOOST_TEST(parsed->socket == daemon_socket);
  // ... and that socket's directory is the host path the DaemonSet shares.
  BOOST_TEST(daemon_socket.starts_with("/run/keymesh/"));
  // portmap follows keymesh in the chain.
  BOOST_TEST(conflist["plugins"][1]["type"] == "portmap");
}

BOOST_AUTO_TEST_CASE(policy_loads) {
  const Manifests m;
  auto policy = keymesh::policy::parse_policy(config_data(m, "policy.yaml"));
  BOOST_TEST(policy.has_value(), (policy ? "" : policy.error().message));
}

BOOST_AUTO_TEST_CASE(config_names_the_trust_root_and_this_nodes_own_node_ca) {
  const Manifests m;
  const YAML::Node config = YAML::Load(config_data(m, "config.yaml"));
  BOOST_TEST(config["trust"]["roots"][0].as<std::string>() == "/etc/keymesh/trust/root.crt");
  BOOST_TEST(m.get("ConfigMap", "keymesh-trust")["data"]["root.crt"].IsDefined());
  // The node CA lives on the node's own state volume, where the node-ca init container makes it.
  BOOST_TEST(config["node_ca"]["key"].as<std::string>().starts_with("/var/lib/keymesh/"));
  BOOST_TEST(config["node_ca"]["certificate"].as<std::string>().starts_with("/var/lib/keymesh/"));
  BOOST_TEST(config["policy"].as<std::string>() == "/etc/keymesh/config/policy.yaml");
  const YAML::Node pod = m.get("DaemonSet", "keymesh")["spec"]["template"]["spec"];
  const std::string boot = named(pod["initContainers"], "node-ca")["command"][2].as<std::string>();
  BOOST_TEST(boot.find("keymesh ca init") != std::string::npos, boot);
  BOOST_TEST(boot.find("keymesh cert verify") != std::string::npos, boot);
}
