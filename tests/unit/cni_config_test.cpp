// keymesh-cni's input side: the CNI_* environment (code 4 naming the variable), CNI_ARGS,
// the stdin config (6 for undecodable JSON, 1 for versions, 7 naming the field), podman's and
// containerd's exact payloads (tests/fuzz/corpus/cni), and identity templates.
#define BOOST_TEST_MODULE cni_config
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "cni/config.h"
#include "cni/environment.h"
#include "cni/identity.h"

using namespace keymesh::cni;

namespace {

using Vars = std::map<std::string, std::string>;

EnvLookup lookup_in(const Vars& vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Vars add_env() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "6a093169c6f417919140d933cb09158e67273d3968a32447f7ab354d8ce746d7"},
          {"CNI_NETNS", "/run/netns/netns-c8307674"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAME=probe2;MAC=02:42:c6:12:0b:32;IP=198.18.11.50"},
          {"CNI_PATH", "/usr/local/lib/cni:/usr/lib/cni"}};
}

// The error of parse_environment for `vars` (the test fails if it succeeds).
CniError env_error(const Vars& vars) {
  auto env = parse_environment(lookup_in(vars));
  BOOST_REQUIRE(!env);
  return env.error();
}

CniError conf_error(const std::string& text, Command command = Command::kAdd) {
  auto conf = parse_netconf(text, command);
  BOOST_REQUIRE_MESSAGE(!conf, "accepted: " + text);
  return conf.error();
}

std::string corpus(const std::string& name) {
  std::ifstream in(std::string(KEYMESH_SOURCE_DIR) + "/tests/fuzz/corpus/cni/" + name);
  BOOST_REQUIRE_MESSAGE(in, "missing corpus file " + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kMinimal = R"({"cniVersion":"1.1.0","name":"km","type":"keymesh"})";

}  // namespace

// ---------------------------------------------------------------- environment

BOOST_AUTO_TEST_CASE(podman_add_environment) {
  auto env = parse_environment(lookup_in(add_env()));
  BOOST_REQUIRE(env);
  BOOST_TEST(int(env->command) == int(Command::kAdd));
  BOOST_TEST(env->ifname == "eth0");
  BOOST_TEST(env->netns == "/run/netns/netns-c8307674");
  BOOST_TEST(env->args.at("K8S_POD_NAME") == "probe2");
  BOOST_TEST(env->args.at("IP") == "198.18.11.50");
  BOOST_TEST(env->args.at("MAC") == "02:42:c6:12:0b:32");  // '=' only splits once; ':' kept
}

BOOST_AUTO_TEST_CASE(every_command_name) {
  for (const auto& [name, cmd] : std::map<std::string, Command>{{"ADD", Command::kAdd},
                                                                {"DEL", Command::kDel},
                                                                {"CHECK", Command::kCheck},
                                                                {"GC", Command::kGc},
                                                                {"STATUS", Command::kStatus},
                                                                {"VERSION", Command::kVersion}}) {
    Vars v = add_env();
    v["CNI_COMMAND"] = name;
    auto env = parse_environment(lookup_in(v));
    BOOST_REQUIRE(env);
    BOOST_TEST(int(env->command) == int(cmd));
    BOOST_TEST(command_name(cmd) == name);
  }
}

BOOST_AUTO_TEST_CASE(environment_errors_are_code_4_and_name_the_variable) {
  const std::map<std::string, std::pair<Vars, std::string>> cases = {
      {"no command", {{}, "CNI_COMMAND: not set"}},
      {"unknown command", {{{"CNI_COMMAND", "add"}}, "CNI_COMMAND: unknown command \"add\""}},
      {"no container id", {{{"CNI_COMMAND", "ADD"}}, "CNI_CONTAINERID: required for ADD but not set"}},
  };
  for (const auto& [what, c] : cases) {
    BOOST_TEST_CONTEXT(what) {
      const CniError e = env_error(c.first);
      BOOST_TEST(int(e.code) == 4);
      BOOST_TEST(e.msg.starts_with(c.second), e.msg);
    }
  }
  struct Change {
    std::string var, value, msg_start;
  };
  for (const auto& [var, value, msg] : std::vector<Change>{
           {"CNI_CONTAINERID", "", "CNI_CONTAINERID: required for ADD but empty"},
           {"CNI_CONTAINERID", "-abc", "CNI_CONTAINERID: must start with a letter or digit"},
           {"CNI_CONTAINERID", "abc def", "CNI_CONTAINERID: may hold only"},
           {"CNI_IFNAME", "", "CNI_IFNAME: required for ADD but empty"},
           {"CNI_IFNAME", "a-very-long-name0", "CNI_IFNAME: must be 1-15 characters, got 17"},
           {"CNI_IFNAME", "eth/0", "CNI_IFNAME: must not contain"},
           {"CNI_IFNAME", "eth 0", "CNI_IFNAME: must not contain"},
           {"CNI_IFNAME", "..", "CNI_IFNAME: must not be"},
           {"CNI_NETNS", "", "CNI_NETNS: required for ADD but empty"},
           {"CNI_NETNS", "run/netns/x", "CNI_NETNS: must be an absolute path"},
           {"CNI_ARGS", "K8S_POD_NAME=a;oops", "CNI_ARGS: segment \"oops\" is not KEY=VALUE"},
           {"CNI_ARGS", "=x", "CNI_ARGS: segment \"=x\" has an empty key"},
       }) {
    BOOST_TEST_CONTEXT(var << "=" << value) {
      Vars v = add_env();
      v[var] = value;
      const CniError e = env_error(v);
      BOOST_TEST(int(e.code) == 4);
      BOOST_TEST(e.msg.starts_with(msg), e.msg);
    }
  }
}

BOOST_AUTO_TEST_CASE(del_tolerates_an_empty_or_missing_netns) {
  // containerd's second DEL (RemovePodSandbox) sends CNI_NETNS="".
  Vars v = add_env();
  v["CNI_COMMAND"] = "DEL";
  v["CNI_NETNS"] = "";
  auto env = parse_environment(lookup_in(v));
  BOOST_REQUIRE(env);
  BOOST_TEST(env->netns.empty());
  v.erase("CNI_NETNS");
  BOOST_TEST(parse_environment(lookup_in(v)).has_value());
  // CHECK needs it.
  v["CNI_COMMAND"] = "CHECK";
  BOOST_TEST(env_error(v).msg.starts_with("CNI_NETNS: required for CHECK"));
}

BOOST_AUTO_TEST_CASE(gc_status_version_need_only_the_command) {
  for (const char* cmd : {"GC", "STATUS", "VERSION"}) {
    auto env = parse_environment(lookup_in({{"CNI_COMMAND", cmd}}));
    BOOST_TEST(env.has_value(), cmd);
  }
}

BOOST_AUTO_TEST_CASE(cni_args_parsing) {
  // containerd's order varies between calls; empty segments and '=' in values are fine.
  auto a = parse_cni_args(
      "K8S_POD_UID=uid-pod1;IgnoreUnknown=1;K8S_POD_NAMESPACE=default;;K8S_POD_NAME=pod1;"
      "K8S_POD_INFRA_CONTAINER_ID=abc;X=a=b;EMPTY=");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->size() == 7u);
  BOOST_TEST(a->at("K8S_POD_NAMESPACE") == "default");
  BOOST_TEST(a->at("X") == "a=b");
  BOOST_TEST(a->at("EMPTY") == "");
  BOOST_TEST(parse_cni_args("").value().empty());
  BOOST_TEST(parse_cni_args("A=1;A=2").value().at("A") == "2");
  BOOST_TEST(!parse_cni_args("A"));
}

// ---------------------------------------------------------------- config

BOOST_AUTO_TEST_CASE(podman_payload_parses) {
  auto conf = parse_netconf(corpus("podman-add.json"), Command::kAdd);
  BOOST_REQUIRE_MESSAGE(conf, (conf ? std::string() : conf.error().msg));
  BOOST_TEST(conf->cni_version == "1.0.0");
  BOOST_TEST(conf->name == "ovlprobe");
  BOOST_TEST(conf->socket == "/run/keymesh/keymesh.sock");  // the default
  BOOST_REQUIRE(conf->port_mappings.size() == 1u);
  BOOST_TEST(conf->port_mappings[0].host_port == 18080);
  BOOST_TEST(conf->port_mappings[0].container_port == 8080);
  BOOST_TEST(conf->port_mappings[0].protocol == "tcp");
  BOOST_TEST(conf->port_mappings[0].host_ip == "127.0.0.1");
  BOOST_TEST(!conf->prev_result.has_value());
}

BOOST_AUTO_TEST_CASE(containerd_capitalised_port_mappings_parse) {
  auto conf = parse_netconf(corpus("containerd-add.json"), Command::kAdd);
  BOOST_REQUIRE_MESSAGE(conf, (conf ? std::string() : conf.error().msg));
  BOOST_REQUIRE(conf->port_mappings.size() == 1u);
  BOOST_TEST(conf->port_mappings[0].host_port == 18082);
  BOOST_TEST(conf->port_mappings[0].container_port == 8080);
  BOOST_TEST(conf->port_mappings[0].host_ip == "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(containerd_second_del_has_a_null_prev_result) {
  auto conf = parse_netconf(corpus("containerd-del2.json"), Command::kDel);
  BOOST_REQUIRE_MESSAGE(conf, (conf ? std::string() : conf.error().msg));
  BOOST_TEST(!conf->prev_result.has_value());
}

BOOST_AUTO_TEST_CASE(all_keys) {
  auto conf = parse_netconf(R"({"cniVersion":"1.1.0","name":"km","type":"keymesh",
      "socket":"/run/km/ctl.sock","identity":"${K8S_POD_NAMESPACE}.${K8S_POD_NAME}",
      "groups":["web","ns-${K8S_POD_NAMESPACE}"],"labels":{"app":"web","ns":"${K8S_POD_NAMESPACE}"},
      "mtu":1380,"logLevel":"debug","dns":{"nameservers":["100.64.0.10"]},
      "prevResult":{"cniVersion":"1.1.0","interfaces":[],"ips":[]},
      "capabilities":{"portMappings":true},"somethingElse":[1,2,3]})",
                            Command::kAdd);
  BOOST_REQUIRE_MESSAGE(conf, (conf ? std::string() : conf.error().msg));
  BOOST_TEST(conf->socket == "/run/km/ctl.sock");
  BOOST_TEST(*conf->identity == "${K8S_POD_NAMESPACE}.${K8S_POD_NAME}");
  BOOST_TEST(conf->groups.size() == 2u);
  BOOST_TEST(conf->labels.at("ns") == "${K8S_POD_NAMESPACE}");
  BOOST_TEST(*conf->mtu == 1380);
  BOOST_TEST(conf->log_level == "debug");
  BOOST_TEST(conf->dns["nameservers"][0] == "100.64.0.10");
  BOOST_TEST(conf->prev_result.has_value());
}

BOOST_AUTO_TEST_CASE(undecodable_stdin_is_code_6) {
  for (const std::string text : {"", "{", "not json", "{\"a\":1}x", "\xff\xfe", "[1,2"}) {
    BOOST_TEST_CONTEXT(text) { BOOST_TEST(int(conf_error(text).code) == 6); }
  }
  BOOST_TEST(conf_error("[]").msg == "stdin: not a JSON object");
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const CniError e = conf_error(deep);
  BOOST_TEST(int(e.code) == 6);
  BOOST_TEST(e.msg == "stdin: JSON nested deeper than 64 levels");
  BOOST_TEST(int(conf_error(std::string(kMaxStdinBytes + 1, ' ')).code) == 6);
}

BOOST_AUTO_TEST_CASE(unsupported_versions_are_code_1) {
  for (const std::string v : {"0.4.0", "0.3.1", "2.0.0", "1.0"}) {
    const CniError e = conf_error(R"({"cniVersion":")" + v + R"(","name":"km","type":"keymesh"})");
    BOOST_TEST(int(e.code) == 1);
    BOOST_TEST(e.msg.find(v) != std::string::npos, e.msg);
  }
  BOOST_TEST(int(conf_error(R"({"name":"km","type":"keymesh"})").code) == 1);
  BOOST_TEST(parse_netconf(R"({"cniVersion":"1.0.0","name":"km","type":"keymesh"})", Command::kAdd).has_value());
}

BOOST_AUTO_TEST_CASE(bad_fields_are_code_7_and_named) {
  const auto with = [](const std::string& members) {
    return R"({"cniVersion":"1.1.0","name":"km","type":"keymesh",)" + members + "}";
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"cniVersion":"1.1.0","type":"keymesh"})", "name: required"},
      {R"({"cniVersion":"1.1.0","name":"-x","type":"keymesh"})", "name: must start"},
      {R"({"cniVersion":"1.1.0","name":"km"})", "type: required"},
      {R"({"cniVersion":"1.1.0","name":5,"type":"keymesh"})", "name: must be a string, got number"},
      {with(R"("socket":"relative.sock")"), "socket: must be an absolute path"},
      {with(R"("socket":7)"), "socket: must be a string"},
      {with(R"("identity":"${K8S_POD_NAME")"), "identity: unterminated ${"},
      {with(R"("identity":"a$b")"), "identity: a '$' must start ${NAME}"},
      {with(R"("identity":"${1abc}")"), "identity: bad variable name"},
      {with(R"("groups":"web")"), "groups: must be a list of strings"},
      {with(R"("groups":["web",3])"), "groups[1]: must be a string"},
      {with(R"("groups":[""])"), "groups[0]: must not be empty"},
      {with(R"("labels":["a"])"), "labels: must be an object of strings"},
      {with(R"("labels":{"app":1})"), "labels.app: must be a string"},
      {with(R"("mtu":100)"), "mtu: must be an integer 576-9000, got 100"},
      {with(R"("mtu":1500.5)"), "mtu: must be an integer 576-9000, got number"},
      {with(R"("mtu":"1500")"), "mtu: must be an integer 576-9000, got string"},
      {with(R"("mtu":18446744073709551615)"), "mtu: must be an integer 576-9000"},
      {with(R"("logLevel":"loud")"), "logLevel: must be trace, debug, info, warn or error"},
      {with(R"("prevResult":[])"), "prevResult: must be an object, got array"},
      {with(R"("dns":"8.8.8.8")"), "dns: must be an object, got string"},
      {with(R"("runtimeConfig":3)"), "runtimeConfig: must be an object"},
      {with(R"("runtimeConfig":{"portMappings":{}})"), "runtimeConfig.portMappings: must be a list"},
      {with(R"("runtimeConfig":{"portMappings":[{"hostPort":80}]})"),
       "runtimeConfig.portMappings[0].containerPort: required"},
      {with(R"("runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]})"),
       "runtimeConfig.portMappings[0].hostPort: must be an integer 1-65535, got 0"},
      {with(R"("runtimeConfig":{"PORTMAPPINGS":[{"HOSTPORT":80,"containerport":70000}]})"),
       "runtimeConfig.portMappings[0].containerPort: must be an integer 1-65535, got 70000"},
      {with(R"("runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"icmp"}]})"),
       "runtimeConfig.portMappings[0].protocol: must be tcp, udp or sctp"},
  };
  for (const auto& [text, msg] : cases) {
    BOOST_TEST_CONTEXT(text) {
      const CniError e = conf_error(text);
      BOOST_TEST(int(e.code) == 7);
      BOOST_TEST(e.msg.starts_with(msg), e.msg);
    }
  }
}

BOOST_AUTO_TEST_CASE(gc_needs_the_valid_attachments) {
  auto conf = parse_netconf(corpus("gc.json"), Command::kGc);
  BOOST_REQUIRE_MESSAGE(conf, (conf ? std::string() : conf.error().msg));
  BOOST_REQUIRE(conf->valid_attachments.size() == 2u);
  BOOST_TEST(conf->valid_attachments[1].ifname == "net1");
  // libcni's alternative key is accepted too.
  auto alt = parse_netconf(
      R"({"cniVersion":"1.1.0","name":"km","type":"keymesh","cni.dev/attachments":[]})", Command::kGc);
  BOOST_REQUIRE(alt);
  BOOST_TEST(alt->valid_attachments.empty());
  // Missing must not mean "keep nothing".
  const CniError e = conf_error(kMinimal, Command::kGc);
  BOOST_TEST(int(e.code) == 7);
  BOOST_TEST(e.msg == "cni.dev/valid-attachments: required for GC");
  BOOST_TEST(conf_error(R"({"cniVersion":"1.1.0","name":"km","type":"keymesh",
      "cni.dev/valid-attachments":[{"containerID":"a"}]})", Command::kGc)
                 .msg.starts_with("cni.dev/valid-attachments[0].ifname: required"));
}

// ---------------------------------------------------------------- identity templates

BOOST_AUTO_TEST_CASE(template_expansion) {
  const TemplateVars vars{{"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "web-1"}, {"EMPTY", ""}};
  const auto expand = [&](const std::string& t) { return expand_template(t, vars, "identity"); };
  BOOST_TEST(expand("${K8S_POD_NAMESPACE}.${K8S_POD_NAME}").value() == "default.web-1");
  BOOST_TEST(expand("plain").value() == "plain");
  BOOST_TEST(expand("cost$$").value() == "cost$");
  BOOST_TEST(expand("${MISSING:-dflt}/${K8S_POD_NAME}").value() == "dflt/web-1");
  BOOST_TEST(expand("${EMPTY:-x}").value() == "x");
  BOOST_TEST(expand("${K8S_POD_NAME:-x}").value() == "web-1");
  BOOST_TEST(expand("${MISSING:-}a").value() == "a");
  const auto missing = expand("${MISSING}");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(int(missing.error().code) == 7);
  BOOST_TEST(missing.error().msg == "identity: ${MISSING} is not set (not in CNI_ARGS or empty)");
  BOOST_TEST(!expand("${EMPTY}"));
  BOOST_TEST(template_problem("${A}${B:-c}$$") == "");
  BOOST_TEST(template_problem("$") != "");
  BOOST_TEST(template_problem("${}") != "");
  BOOST_TEST(template_problem("${A B}") != "");
}

BOOST_AUTO_TEST_CASE(default_identity_follows_what_the_runtime_sends) {
  NetConf conf;
  conf.name = "km";
  Environment env;
  env.container_id = "6a093169c6f417919140d933cb09158e";
  env.ifname = "eth0";
  // Kubernetes (containerd): namespace and name.
  env.args = {{"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", "pod1"}, {"IgnoreUnknown", "1"}};
  BOOST_TEST(workload_identity(env, conf, "node-a").value().name == "default.pod1");
  // podman: only the name.
  env.args = {{"K8S_POD_NAME", "probe2"}};
  BOOST_TEST(workload_identity(env, conf, "node-a").value().name == "probe2");
  // Nothing: the container ID.
  env.args = {};
  BOOST_TEST(workload_identity(env, conf, "node-a").value().name == "ctr-6a093169c6f4");
}

BOOST_AUTO_TEST_CASE(configured_identity_groups_and_labels) {
  NetConf conf;
  conf.name = "km";
  conf.identity = "${HOSTNAME}/${K8S_POD_NAMESPACE}.${K8S_POD_NAME}";
  conf.groups = {"web", "ns-${K8S_POD_NAMESPACE}"};
  conf.labels = {{"network", "${NETWORK}"}, {"ifname", "${IFNAME}"}, {"id", "${CONTAINER_ID}"}};
  Environment env;
  env.container_id = "abc";
  env.ifname = "net1";
  env.args = {{"K8S_POD_NAMESPACE", "prod"}, {"K8S_POD_NAME", "db"}};
  auto id = workload_identity(env, conf, "node-a");
  BOOST_REQUIRE(id);
  BOOST_TEST(id->name == "node-a/prod.db");
  BOOST_TEST(id->groups == (std::vector<std::string>{"web", "ns-prod"}), boost::test_tools::per_element());
  BOOST_TEST(id->labels.at("network") == "km");
  BOOST_TEST(id->labels.at("ifname") == "net1");
  BOOST_TEST(id->labels.at("id") == "abc");

  conf.identity = "${K8S_POD_UID}";
  auto e = workload_identity(env, conf, "node-a");
  BOOST_REQUIRE(!e);
  BOOST_TEST(int(e.error().code) == 7);
  BOOST_TEST(e.error().msg.starts_with("identity: ${K8S_POD_UID} is not set"));

  conf.identity = "${K8S_POD_NAME:-}";
  env.args = {};
  e = workload_identity(env, conf, "node-a");
  BOOST_REQUIRE(!e);
  BOOST_TEST(e.error().msg == "identity: must expand to 1-253 bytes, got 0");

  conf.identity = "a b";
  BOOST_TEST(workload_identity(env, conf, "n").error().msg ==
             "identity: must not contain whitespace or control characters");

  conf.identity = "x";
  conf.groups = {"${NOPE}"};
  BOOST_TEST(workload_identity(env, conf, "n").error().msg.starts_with("groups[0]: ${NOPE} is not set"));
}
