// Policy -> kernel grants for pod -> own-host traffic (daemon/edge_keeper.h): a rule whose
// `to` selects the node identity grants the pods its `from` selects, and only while in force.
#define BOOST_TEST_MODULE edge_host_grants
#include <netinet/in.h>

#include <boost/test/unit_test.hpp>

#include "daemon/edge_keeper.h"

using namespace keymesh;
using namespace keymesh::policy;

namespace {

Subject subject(std::string name, std::string kind, std::vector<std::string> groups) {
  Subject s;
  s.name = std::move(name);
  s.kind = std::move(kind);
  s.groups = std::move(groups);
  return s;
}

Rule rule(std::string name, Selector from, Selector to, std::vector<Service> allow) {
  Rule r;
  r.name = std::move(name);
  r.from = std::move(from);
  r.to = std::move(to);
  r.allow = std::move(allow);
  return r;
}

Selector groups(std::vector<std::string> g) {
  Selector s;
  s.groups = std::move(g);
  return s;
}
Selector kind(std::string k) {
  Selector s;
  s.kind = std::move(k);
  return s;
}

constexpr std::uint8_t bit(Proto p) { return std::uint8_t(1u << unsigned(p)); }

}  // namespace

BOOST_AUTO_TEST_CASE(rules_to_the_node_become_grants_for_the_selected_pods) {
  const Subject host = subject("node-7", "node", {"node"});
  const Subject web = subject("web-1", "workload", {"web"});
  const Subject db = subject("db-1", "workload", {"db"});
  const IpAddress web_ip = *IpAddress::parse("100.64.7.2"), db_ip = *IpAddress::parse("100.64.7.3");
  std::vector<Rule> rules = {
      rule("web-to-db", groups({"web"}), groups({"db"}), {{bit(Proto::kTcp), 5432, 5432}}),
      rule("web-to-node", groups({"web"}), kind("node"),
           {{bit(Proto::kTcp), 8080, 8080}, {bit(Proto::kIcmp), 0, 65535}}),
      rule("db-any-node", groups({"db"}), Selector{.name = "node-7"},
           {{std::uint8_t(bit(Proto::kTcp) | bit(Proto::kUdp) | bit(Proto::kIcmp) | bit(Proto::kOther)), 0, 65535}}),
      rule("to-other-node", {}, Selector{.name = "node-9"}, {{bit(Proto::kUdp), 53, 53}}),
  };
  const Policy policy(std::move(rules));
  const WallTime now{};
  auto grants = daemon::host_grants_from_policy(policy, host, {{web_ip, &web}, {db_ip, &db}}, now);
  const std::vector<plumbing::HostGrant> want = {
      {web_ip, false, IPPROTO_TCP, 8080, 8080},
      {web_ip, false, IPPROTO_ICMP, 0, 65535},
      {db_ip, true, 0, 0, 65535},
  };
  BOOST_CHECK(grants == want);
}

BOOST_AUTO_TEST_CASE(a_rule_outside_its_validity_grants_nothing) {
  const Subject host = subject("node-7", "node", {});
  const Subject web = subject("web-1", "workload", {"web"});
  Rule r = rule("later", groups({"web"}), kind("node"), {{bit(Proto::kTcp), 22, 22}});
  r.not_before = WallTime(std::chrono::hours(1000));
  const Policy policy({r});
  const IpAddress ip = *IpAddress::parse("100.64.7.2");
  BOOST_TEST(daemon::host_grants_from_policy(policy, host, {{ip, &web}}, WallTime(std::chrono::hours(999))).empty());
  BOOST_TEST(daemon::host_grants_from_policy(policy, host, {{ip, &web}}, WallTime(std::chrono::hours(1001))).size() == 1u);
}
