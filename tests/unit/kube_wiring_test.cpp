// keymeshd's `kubernetes:` wiring that runs in-process: the config key's defaults and its
// errors, and the policy selectors that pick pods by namespace, service account, SPIFFE ID and
// labels (docs/kubernetes.md).
#define BOOST_TEST_MODULE kube_wiring
#include <boost/test/unit_test.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "daemon/kube_config.h"
#include "kube/identity.h"
#include "policy/loader.h"

using namespace keymesh;
using namespace keymesh::daemon;

namespace {

struct Files {
  std::filesystem::path dir;
  Files() {
    char tmpl[] = "/tmp/km-kube-wiring-XXXXXX";
    dir = ::mkdtemp(tmpl);
    std::ofstream(dir / "token") << "t0k3n\n";
    std::ofstream(dir / "ca.crt") << "-----BEGIN CERTIFICATE-----\n";
  }
  ~Files() { std::filesystem::remove_all(dir); }
};

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

Result<std::optional<KubernetesConfig>> parse(const std::string& yaml, const EnvLookup& env,
                                              bool node_ca = true) {
  return parse_kubernetes(YAML::Load(yaml), "", node_ca, env);
}

std::string files_yaml(const Files& f) {
  return "  token_file: " + (f.dir / "token").string() + "\n  ca_file: " + (f.dir / "ca.crt").string() + "\n";
}

void expect_error(const Result<std::optional<KubernetesConfig>>& r, const std::string& part) {
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find(part) != std::string::npos, r.error().message);
}

}  // namespace

BOOST_AUTO_TEST_CASE(absent_is_off) {
  auto r = parse("listen_port: 1\n", env_of({}));
  BOOST_REQUIRE(r);
  BOOST_TEST(!r->has_value());
}

BOOST_AUTO_TEST_CASE(in_cluster_defaults_come_from_the_environment) {
  Files f;
  auto r = parse("kubernetes:\n" + files_yaml(f),
                 env_of({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"},
                         {"NODE_NAME", "node-1"}}));
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  const KubernetesConfig& k = **r;
  BOOST_TEST(k.api_server == "https://10.96.0.1:443");
  BOOST_TEST(k.node_name == "node-1");
  BOOST_TEST(k.trust_domain == "cluster.local");
  BOOST_TEST(k.name_prefix.empty());  // the host name at start
  auto v6 = parse("kubernetes:\n" + files_yaml(f),
                  env_of({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"NODE_NAME", "n"}}));
  BOOST_REQUIRE(v6);
  BOOST_TEST((*v6)->api_server == "https://[fd00::1]:443");
  // The service-account files where the kubelet mounts them, unless told otherwise.
  KubernetesConfig defaults;
  BOOST_TEST(defaults.token_file == "/var/run/secrets/kubernetes.io/serviceaccount/token");
  BOOST_TEST(defaults.ca_file == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
}

BOOST_AUTO_TEST_CASE(explicit_values_win) {
  Files f;
  auto r = parse("kubernetes:\n  api_server: https://198.18.0.1:6443/\n  node_name: km-node-1\n"
                 "  trust_domain: prod.example\n  name_prefix: host-a\n" + files_yaml(f),
                 env_of({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"NODE_NAME", "other"}}));
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  BOOST_TEST((*r)->api_server == "https://198.18.0.1:6443");
  BOOST_TEST((*r)->node_name == "km-node-1");
  BOOST_TEST((*r)->trust_domain == "prod.example");
  BOOST_TEST((*r)->name_prefix == "host-a");
}

BOOST_AUTO_TEST_CASE(errors_name_the_key_and_the_fix) {
  Files f;
  const auto env = env_of({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"NODE_NAME", "node-1"}});
  expect_error(parse("kubernetes:\n" + files_yaml(f), env_of({{"NODE_NAME", "n"}})),
               "kubernetes.api_server: not set, and KUBERNETES_SERVICE_HOST is not in the environment");
  expect_error(parse("kubernetes:\n" + files_yaml(f), env_of({{"KUBERNETES_SERVICE_HOST", "h"}})),
               "kubernetes.node_name: not set, and NODE_NAME is not in the environment");
  expect_error(parse("kubernetes:\n  api_server: http://10.0.0.1:8080\n" + files_yaml(f), env),
               "kubernetes.api_server: \"http://10.0.0.1:8080\" is not an https:// URL");
  expect_error(parse("kubernetes:\n  trust_domain: Cluster.Local\n" + files_yaml(f), env),
               "kubernetes.trust_domain: \"Cluster.Local\": only lower-case letters");
  expect_error(parse("kubernetes:\n  node_name: Node_1\n" + files_yaml(f), env),
               "kubernetes.node_name: \"Node_1\" is not a node name");
  expect_error(parse("kubernetes:\n  token_file: /nonexistent/token\n", env),
               "kubernetes.token_file: \"/nonexistent/token\" cannot be read (the pod's service-account token");
  expect_error(parse("kubernetes:\n  tokenfile: x\n", env), "tokenfile");
  expect_error(parse("kubernetes:\n" + files_yaml(f), env, false), "kubernetes: needs node_ca");
  expect_error(parse("kubernetes:\n", env), "kubernetes: expected a map");
  expect_error(parse("kubernetes:\n  name_prefix: a/b\n" + files_yaml(f), env),
               "kubernetes.name_prefix: \"a/b\" must be");
}

// ---- policy selectors over what a pod's certificate says (kube::identity_for) ----

namespace {
policy::Subject pod_subject(const std::string& ns, const std::string& name, const std::string& sa,
                            kube::Labels labels, kube::Labels ns_labels = {}) {
  kube::Pod pod;
  pod.namespace_name = ns;
  pod.name = name;
  pod.service_account = sa;
  pod.labels = std::move(labels);
  kube::Namespace n;
  n.name = ns;
  n.labels = std::move(ns_labels);
  auto id = kube::identity_for(pod, &n, "cluster.local", "host-a");
  BOOST_REQUIRE(id);
  policy::Subject s;
  s.name = id->name;
  s.kind = "workload";
  s.groups = id->groups;
  s.labels = id->labels;
  return s;
}

bool selects(const std::string& selector_yaml, const policy::Subject& s) {
  auto p = policy::parse_policy("rules:\n  - name: r\n    from: " + selector_yaml +
                                "\n    to: {}\n    allow: [any]\n");
  BOOST_REQUIRE_MESSAGE(p, (p ? "" : p.error().message));
  return p->rules().front().from.matches(s);
}
}  // namespace

BOOST_AUTO_TEST_CASE(policy_selects_pods_by_namespace_service_account_spiffe_and_labels) {
  const auto web = pod_subject("shop", "web-1", "frontend", {{"app", "web"}}, {{"team", "retail"}});
  const auto pay = pod_subject("shop", "pay-1", "payments", {{"app", "pay"}});
  const auto other = pod_subject("dev", "web-2", "payments", {{"app", "web"}});
  BOOST_TEST(selects("{ namespace: shop }", web));
  BOOST_TEST(!selects("{ namespace: shop }", other));
  BOOST_TEST(selects("{ serviceAccount: payments }", pay));
  BOOST_TEST(selects("{ serviceAccount: payments }", other));  // any namespace
  BOOST_TEST(selects("{ serviceAccount: shop/payments }", pay));
  BOOST_TEST(!selects("{ serviceAccount: shop/payments }", other));
  BOOST_TEST(selects("{ spiffe: \"spiffe://cluster.local/ns/shop/sa/payments\" }", pay));
  BOOST_TEST(!selects("{ spiffe: \"spiffe://cluster.local/ns/shop/sa/payments\" }", web));
  BOOST_TEST(selects("{ spiffe: \"spiffe://cluster.local/ns/shop/*\" }", web));
  BOOST_TEST(!selects("{ spiffe: \"spiffe://cluster.local/ns/shop/*\" }", other));
  BOOST_TEST(selects("{ labels: { app: web } }", web));
  BOOST_TEST(selects("{ labels: { app: web } }", other));
  BOOST_TEST(selects("{ namespace: shop, labels: { app: web } }", web));
  BOOST_TEST(!selects("{ namespace: shop, labels: { app: web } }", other));
  BOOST_TEST(selects("{ labels: { \"k8s:ns:team\": retail } }", web));
  BOOST_TEST(!selects("{ labels: { \"k8s:ns:team\": retail } }", pay));
  BOOST_TEST(selects("{ groups: [sa-shop.payments] }", pay));
  // A raw or conflist-named identity has none of these labels: never selected by them.
  policy::Subject plain;
  plain.name = "host-a/shop.web-1";
  plain.labels = {{"k8s.namespace", "shop"}, {"k8s.pod", "web-1"}};
  BOOST_TEST(!selects("{ namespace: shop }", plain));
  BOOST_TEST(!selects("{ spiffe: \"spiffe://*\" }", plain));
}

BOOST_AUTO_TEST_CASE(policy_selector_errors) {
  const auto error_of = [](const std::string& sel) {
    auto p = policy::parse_policy("rules:\n  - name: r\n    from: " + sel + "\n    to: {}\n    allow: [any]\n");
    BOOST_REQUIRE(!p);
    return p.error().message;
  };
  BOOST_TEST(error_of("{ spiffe: \"cluster.local/ns/x\" }").find("is not a SPIFFE ID") != std::string::npos);
  BOOST_TEST(error_of("{ serviceAccount: \"a/b/c\" }").find("is not NAME or NAMESPACE/NAME") != std::string::npos);
  BOOST_TEST(error_of("{ namespace: shop, labels: { \"k8s:namespace\": dev } }").find("contradicts") !=
             std::string::npos);
  BOOST_TEST(error_of("{ namespace: shop, serviceAccount: dev/sa }").find("contradicts") != std::string::npos);
}
