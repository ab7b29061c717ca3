// NetworkPolicy as keymesh enforces it, end to end in memory: upstream-shaped objects parsed by
// kube/ (as a v1.20 API server sends them), pods turned into certificate identities by
// kube::identity_for, and the per-pair decision of the policy the tunnel enforces (keymesh's
// rule "pods" granting everything, intersected with the NetworkPolicies). The pods are those of
// the upstream e2e matrix: namespaces x, y, z with pods a, b, c.
#define BOOST_TEST_MODULE kube_network_policy
#include <boost/test/unit_test.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>

#include "kube/identity.h"
#include "kube/objects.h"
#include "kube/reflector.h"
#include "policy/evaluator.h"
#include "policy/loader.h"

using namespace keymesh;
using keymesh::policy::Proto;

namespace {

const WallTime kNow{std::chrono::seconds(1'800'000'000)};

// x/a is 100.64.0.11, x/b .12, ... z/c .33; every pod declares the four serve-* ports.
policy::Subject pod(const std::string& ns, const std::string& name) {
  kube::Pod p;
  p.namespace_name = ns;
  p.name = name;
  p.service_account = "default";
  p.labels = {{"pod", name}};
  p.named_ports = {{"serve-80-tcp", "tcp", 80}, {"serve-81-tcp", "tcp", 81},
                   {"serve-80-udp", "udp", 80}, {"serve-81-udp", "udp", 81}};
  kube::Namespace n;
  n.name = ns;
  n.labels = {{"ns", ns}};
  auto id = kube::identity_for(p, &n, "cluster.local", "node-1");
  BOOST_REQUIRE_MESSAGE(id, (id ? "" : id.error()));
  policy::Subject s;
  s.name = id->name;
  s.kind = "workload";
  s.groups = id->groups;
  s.labels = id->labels;
  const int host = 10 * (ns[0] - 'x' + 1) + (name[0] - 'a' + 1);
  s.networks = {*IpPrefix::parse("100.64.0." + std::to_string(host) + "/32")};
  return s;
}

policy::NetworkPolicy parse(const std::string& ns, const std::string& name, const std::string& spec) {
  const std::string line = R"({"type":"ADDED","object":{"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1",)"
                           R"("metadata":{"name":")" + name + R"(","namespace":")" + ns +
                           R"(","resourceVersion":"7"},"spec":)" + spec + "}}";
  auto ev = kube::parse_watch_event(line, kube::Kind::kNetworkPolicy);
  BOOST_REQUIRE_MESSAGE(ev, (ev ? "" : ev.error()));
  return ev->network_policy;
}

struct World {
  policy::Policy policy;
  explicit World(std::vector<policy::NetworkPolicy> nps, bool listed = true) {
    auto base = policy::parse_policy(
        "rules:\n  - name: pods\n    from: { groups: [k8s] }\n    to: { groups: [k8s] }\n    allow: [any]\n");
    BOOST_REQUIRE(base);
    policy = base->with_network_policies(
        std::make_shared<const policy::NetworkPolicies>(std::move(nps), listed));
  }
  bool allows(const std::string& from, const std::string& to, Proto proto, std::uint16_t port) const {
    const auto f = pod(from.substr(0, 1), from.substr(2));
    const auto t = pod(to.substr(0, 1), to.substr(2));
    return policy.compile_pair(f, t).allows(proto, port, kNow);
  }
  // Every ordered pair of the nine pods on tcp/80: the cells that pass, as "x/a>y/b".
  std::set<std::string> reachable(Proto proto = Proto::kTcp, std::uint16_t port = 80) const {
    std::set<std::string> out;
    for (const char* f : kPods)
      for (const char* t : kPods)
        if (allows(f, t, proto, port)) out.insert(std::string(f) + ">" + t);
    return out;
  }
  static constexpr const char* kPods[] = {"x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"};
};

std::set<std::string> all_but(const std::function<bool(const std::string&, const std::string&)>& blocked) {
  std::set<std::string> out;
  for (const char* f : World::kPods)
    for (const char* t : World::kPods)
      if (!blocked(f, t)) out.insert(std::string(f) + ">" + t);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(no_policy_isolates_nothing_and_an_unlisted_set_holds_pod_traffic) {
  BOOST_TEST(World({}).reachable().size() == 81u);
  World unlisted({}, false);
  BOOST_TEST(unlisted.reachable().empty());
  const auto d = unlisted.policy.check(pod("x", "a"), pod("y", "b"), Proto::kTcp, 80, kNow);
  BOOST_TEST(!d.allow);
  BOOST_TEST(d.reason.find("not listed from the API server yet") != std::string::npos, d.reason);
  // A subject that is not a pod (a node, a user) is never isolated by NetworkPolicy.
  policy::Subject node{.name = "node-2/node", .kind = "node", .groups = {"k8s"}};
  BOOST_TEST(unlisted.policy.compile_pair(node, node).allows(Proto::kTcp, 80, kNow));
}

BOOST_AUTO_TEST_CASE(default_deny_ingress_isolates_the_namespace_for_ingress_only) {
  World w({parse("x", "deny", R"({"podSelector":{},"policyTypes":["Ingress"]})")});
  BOOST_TEST(w.reachable() == all_but([](auto&, auto& t) { return t[0] == 'x'; }));
  const auto d = w.policy.check(pod("y", "b"), pod("x", "a"), Proto::kTcp, 80, kNow);
  BOOST_TEST(!d.allow);
  BOOST_TEST(d.reason == "rule pods grants tcp/80 from node-1/y.b to node-1/x.a, but NetworkPolicy "
                         "x/deny isolates node-1/x.a for ingress and none allows tcp/80 from node-1/y.b",
             d.reason);
}

BOOST_AUTO_TEST_CASE(default_deny_egress_isolates_the_namespace_for_egress_only) {
  World w({parse("y", "deny", R"({"podSelector":{},"policyTypes":["Egress"]})")});
  BOOST_TEST(w.reachable() == all_but([](auto& f, auto&) { return f[0] == 'y'; }));
}

BOOST_AUTO_TEST_CASE(peers_by_namespace_by_pod_and_by_both) {
  const std::string deny = R"({"podSelector":{},"policyTypes":["Ingress"]})";
  auto allow_a = [](const std::string& from) {
    return R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[)" + from + "]}]}";
  };
  auto into_x = [](auto& t) { return t[0] == 'x'; };
  {  // namespaceSelector alone: every pod of y
    World w({parse("x", "deny", deny), parse("x", "a-from-y", allow_a(R"({"namespaceSelector":{"matchLabels":{"ns":"y"}}})"))});
    BOOST_TEST(w.reachable() == all_but([&](auto& f, auto& t) { return into_x(t) && !(t == "x/a" && f[0] == 'y'); }));
  }
  {  // podSelector alone: pods of the policy's own namespace only (not y/b)
    World w({parse("x", "deny", deny), parse("x", "a-from-b", allow_a(R"({"podSelector":{"matchLabels":{"pod":"b"}}})"))});
    BOOST_TEST(w.reachable() == all_but([&](auto& f, auto& t) { return into_x(t) && !(t == "x/a" && f == "x/b"); }));
  }
  {  // both in one peer: pods c of namespace y
    World w({parse("x", "deny", deny),
             parse("x", "a-from-yc", allow_a(R"({"namespaceSelector":{"matchLabels":{"ns":"y"}},"podSelector":{"matchLabels":{"pod":"c"}}})"))});
    BOOST_TEST(w.reachable() == all_but([&](auto& f, auto& t) { return into_x(t) && !(t == "x/a" && f == "y/c"); }));
  }
  {  // the two as separate peers: either
    World w({parse("x", "deny", deny),
             parse("x", "a-from-y-or-c", allow_a(R"({"namespaceSelector":{"matchLabels":{"ns":"y"}}},{"podSelector":{"matchLabels":{"pod":"c"}}})"))});
    BOOST_TEST(w.reachable() == all_but([&](auto& f, auto& t) {
                 return into_x(t) && !(t == "x/a" && (f[0] == 'y' || f == "x/c"));
               }));
  }
  {  // expressions, and the namespace's name label that newer Kubernetes sets
    World w({parse("x", "deny", deny),
             parse("x", "a-expr", allow_a(R"({"namespaceSelector":{"matchExpressions":[{"key":"kubernetes.io/metadata.name","operator":"NotIn","values":["x","y"]}]},"podSelector":{"matchExpressions":[{"key":"pod","operator":"In","values":["a","b"]}]}})"))});
    BOOST_TEST(w.reachable() == all_but([&](auto& f, auto& t) {
                 return into_x(t) && !(t == "x/a" && (f == "z/a" || f == "z/b"));
               }));
  }
}

BOOST_AUTO_TEST_CASE(an_ip_block_matches_the_peers_addresses_minus_its_exceptions) {
  World w({parse("x", "a-from-block", R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[)"
                                      R"({"ipBlock":{"cidr":"100.64.0.0/27","except":["100.64.0.22/32"]}}]}]})")});
  // .0/27 (.0-.31) holds x (.11-.13), y (.21-.23) and z/a (.31), not z/b and z/c; y/b (.22)
  // is excepted.
  BOOST_TEST(w.reachable() == all_but([](auto& f, auto& t) {
               return t == "x/a" && (f == "z/b" || f == "z/c" || f == "y/b");
             }));
}

BOOST_AUTO_TEST_CASE(ports_by_number_range_and_name_resolve_on_the_destination) {
  World named({parse("x", "named", R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"ports":[{"port":"serve-81-tcp"}]}]})")});
  BOOST_TEST(!named.allows("y/b", "x/a", Proto::kTcp, 80));
  BOOST_TEST(named.allows("y/b", "x/a", Proto::kTcp, 81));
  BOOST_TEST(!named.allows("y/b", "x/a", Proto::kUdp, 81));  // the name is a TCP port
  BOOST_TEST(!named.allows("y/b", "x/a", Proto::kIcmp, 0));  // ports given: nothing else
  World udp({parse("x", "named", R"({"podSelector":{},"ingress":[{"ports":[{"protocol":"UDP","port":"serve-80-udp"}]}]})")});
  BOOST_TEST(udp.allows("y/b", "x/a", Proto::kUdp, 80));
  BOOST_TEST(!udp.allows("y/b", "x/a", Proto::kUdp, 81));
  BOOST_TEST(!udp.allows("y/b", "x/a", Proto::kTcp, 80));
  World range({parse("x", "range", R"({"podSelector":{},"ingress":[{"ports":[{"port":80,"endPort":81}]}]})")});
  BOOST_TEST(range.allows("z/c", "x/b", Proto::kTcp, 80));
  BOOST_TEST(range.allows("z/c", "x/b", Proto::kTcp, 81));
  BOOST_TEST(!range.allows("z/c", "x/b", Proto::kTcp, 82));
  BOOST_TEST(!range.allows("z/c", "x/b", Proto::kUdp, 80));
  World sctp({parse("x", "sctp", R"({"podSelector":{},"ingress":[{"ports":[{"protocol":"SCTP","port":80}]}]})")});
  BOOST_TEST(sctp.reachable(Proto::kOther, 0) == all_but([](auto&, auto& t) { return t[0] == 'x'; }));
  // Egress named ports also resolve on the destination: y/a may reach serve-81-tcp anywhere.
  World egress({parse("y", "out", R"({"podSelector":{"matchLabels":{"pod":"a"}},"policyTypes":["Egress"],"egress":[{"ports":[{"port":"serve-81-tcp"}]}]})")});
  BOOST_TEST(egress.allows("y/a", "z/c", Proto::kTcp, 81));
  BOOST_TEST(!egress.allows("y/a", "z/c", Proto::kTcp, 80));
  BOOST_TEST(egress.allows("y/b", "z/c", Proto::kTcp, 80));
}

BOOST_AUTO_TEST_CASE(egress_and_ingress_must_both_allow) {
  World w({parse("y", "out", R"({"podSelector":{},"policyTypes":["Egress"],"egress":[{"ports":[{"port":80},{"port":81}]}]})"),
           parse("x", "in", R"({"podSelector":{},"ingress":[{"ports":[{"port":81},{"port":82}]}]})")});
  BOOST_TEST(!w.allows("y/a", "x/a", Proto::kTcp, 80));
  BOOST_TEST(w.allows("y/a", "x/a", Proto::kTcp, 81));
  BOOST_TEST(!w.allows("y/a", "x/a", Proto::kTcp, 82));
  const auto d = w.policy.check(pod("y", "a"), pod("x", "a"), Proto::kTcp, 81, kNow);
  BOOST_TEST(d.allow);
  BOOST_TEST(d.reason.find("NetworkPolicy y/out allows tcp/81 out of node-1/y.a") != std::string::npos, d.reason);
  BOOST_TEST(d.reason.find("NetworkPolicy x/in allows tcp/81 into node-1/x.a") != std::string::npos, d.reason);
}

BOOST_AUTO_TEST_CASE(keymesh_rules_stay_the_ceiling) {
  // NetworkPolicy allows everything into x, but keymesh's own rules grant only tcp/80.
  auto base = policy::parse_policy(
      "rules:\n  - name: web\n    from: { groups: [k8s] }\n    to: { groups: [k8s] }\n    allow: [tcp/80]\n");
  BOOST_REQUIRE(base);
  auto p = base->with_network_policies(std::make_shared<const policy::NetworkPolicies>(
      std::vector{parse("x", "all", R"({"podSelector":{},"ingress":[{}]})")}, true));
  BOOST_TEST(p.compile_pair(pod("y", "a"), pod("x", "a")).allows(Proto::kTcp, 80, kNow));
  BOOST_TEST(!p.compile_pair(pod("y", "a"), pod("x", "a")).allows(Proto::kTcp, 81, kNow));
}

BOOST_AUTO_TEST_CASE(an_unreadable_policy_fails_closed_for_what_it_selects) {
  auto np = parse("x", "broken", R"({"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"podSelector":{"matchExpressions":[{"key":"pod","operator":"Near","values":["b"]}]}}]}]})");
  BOOST_TEST(np.invalid.find("unknown operator") != std::string::npos, np.invalid);
  World w({np});
  BOOST_TEST(w.reachable() == all_but([](auto& f, auto& t) { return f == "x/a" || t == "x/a"; }));
  auto no_selector = parse("z", "worse", R"({"podSelector":{"matchLabels":"nope"}})");
  BOOST_TEST(!no_selector.invalid.empty());
  BOOST_TEST(World({no_selector}).reachable() == all_but([](auto& f, auto& t) { return f[0] == 'z' || t[0] == 'z'; }));
}

BOOST_AUTO_TEST_CASE(policy_types_default_as_the_api_server_does) {
  auto in_only = parse("x", "p", R"({"podSelector":{}})");
  BOOST_TEST(in_only.ingress);
  BOOST_TEST(!in_only.egress);
  auto both = parse("x", "p", R"({"podSelector":{},"egress":[{}]})");
  BOOST_TEST(both.ingress);
  BOOST_TEST(both.egress);
}

BOOST_AUTO_TEST_CASE(the_reflector_keeps_network_policies_by_namespace_and_name) {
  kube::Reflector r(kube::Kind::kNetworkPolicy, "/apis/networking.k8s.io/v1/networkpolicies");
  auto listed = r.on_list(R"({"kind":"NetworkPolicyList","metadata":{"resourceVersion":"5"},"items":[)"
                          R"({"metadata":{"name":"deny","namespace":"x","resourceVersion":"4"},"spec":{"podSelector":{}}},)"
                          R"({"metadata":{"name":"nameless"},"spec":{}}]})");
  BOOST_REQUIRE(listed);
  BOOST_TEST(r.network_policies().size() == 1u);
  BOOST_TEST(r.network_policies().contains("x/deny"));
  auto del = r.on_event(R"({"type":"DELETED","object":{"kind":"NetworkPolicy","metadata":{"name":"deny","namespace":"x","resourceVersion":"6"},"spec":{}}})");
  BOOST_REQUIRE(del);
  BOOST_TEST(r.network_policies().empty());
  BOOST_TEST(r.resource_version() == "6");
}

BOOST_AUTO_TEST_CASE(named_container_ports_reach_the_certificate) {
  auto p = kube::parse_pod(R"({"metadata":{"name":"a","namespace":"x"},"spec":{"containers":[)"
                           R"({"name":"c","ports":[{"name":"http","containerPort":8080},{"containerPort":9000},)"
                           R"({"name":"dns","containerPort":53,"protocol":"UDP"}]}]}})");
  BOOST_REQUIRE_MESSAGE(p, (p ? "" : p.error()));
  auto id = kube::identity_for(*p, nullptr, "cluster.local", "n");
  BOOST_REQUIRE(id);
  BOOST_TEST(id->labels.at("k8s:port:http") == "tcp/8080");
  BOOST_TEST(id->labels.at("k8s:port:dns") == "udp/53");
  BOOST_TEST(!kube::parse_pod(R"({"metadata":{"name":"a","namespace":"x"},"spec":{"containers":[{"ports":[{"name":"Bad_Name","containerPort":1}]}]}})"));
}
