// A node CA bound to one node (issue 15, section 1; docs/identity.md, "One node CA, one
// node"): the binding survives encoding, chain validation refuses a node certificate of
// another name below it (and a sub-CA that drops the binding), and the start check keymeshd
// runs before minting (node::check_node_binding) refuses a host of another name, naming both.
#define BOOST_TEST_MODULE identity_node_binding
#include <boost/test/unit_test.hpp>

#include "identity/chain.h"
#include "node/node_binding.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

CaConstraints bound_to(const std::string& node) {
  return {.allowed_networks = {cidr("10.1.0.0/24")}, .name_pattern = "node-a*",
          .max_lifetime_seconds = 24 * 3600, .node = node};
}

Certificate node_cert(const Ca& ca, const std::string& name) {
  return make_leaf(ca, {.name = name, .kind = Kind::Node, .networks = {cidr("10.1.0.1/32")}});
}

struct Pki {
  Ca root = make_root();
  TrustStore store;
  Pki() { BOOST_REQUIRE(store.add_root(root.cert)); }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(the_binding_is_signed_and_read_back, Pki) {
  const Ca ca = make_node_ca(root, "node-a-ca", bound_to("node-a"));
  auto again = Certificate::parse(ca.cert.encoded());
  BOOST_REQUIRE(again);
  BOOST_TEST(again->constraints().node == "node-a");
  // Unbound CAs read back unbound (certificates from before the field existed).
  BOOST_TEST(make_node_ca(root).cert.constraints().node.empty());
}

BOOST_FIXTURE_TEST_CASE(a_bound_ca_vouches_for_its_own_node_only, Pki) {
  const Ca ca = make_node_ca(root, "node-a-ca", bound_to("node-a"));
  BOOST_TEST(store.validate(Chain{node_cert(ca, "node-a"), ca.cert}, at(kT0)).has_value());
  // Workloads below it are not affected by the binding.
  BOOST_TEST(store.validate(Chain{make_leaf(ca, {.name = "node-a/web-1"}), ca.cert}, at(kT0))
                 .has_value());
  const Certificate other = node_cert(ca, "node-a2");
  const auto r = store.validate(Chain{other, ca.cert}, at(kT0));
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == "node_binding_violated");
  BOOST_TEST(r.error().message.find("bound to node node-a only") != std::string::npos,
             r.error().message);
  BOOST_TEST(!check_issued_by(other, ca.cert));  // what `cert sign` runs refuses it too
}

BOOST_FIXTURE_TEST_CASE(a_sub_ca_below_a_bound_ca_keeps_the_binding, Pki) {
  CaConstraints c = bound_to("node-a");
  c.may_sign_ca = true;
  c.max_lifetime_seconds = 0;  // the sub-CA lives as long as its issuer
  const Ca ca = make_node_ca(root, "node-a-ca", c);
  const Ca unbound = make_node_ca(ca, "node-a-sub", bound_to(""));
  const auto r = check_issued_by(unbound.cert, ca.cert);
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == "node_binding_violated");
  const Ca kept = make_node_ca(ca, "node-a-sub", bound_to("node-a"));
  const auto ok = check_issued_by(kept.cert, ca.cert);
  BOOST_TEST(ok.has_value(), (ok ? "" : ok.error().message));
}

BOOST_FIXTURE_TEST_CASE(keymeshd_refuses_a_node_ca_bound_to_another_node, Pki) {
  const Ca ca = make_node_ca(root, "node-a-ca", bound_to("node-a"));
  const std::vector<Certificate> chain{ca.cert};
  // The host it is for.
  const Certificate a = node_cert(ca, "node-a");
  BOOST_TEST(node::check_node_binding(chain, &a).has_value());
  // Another host (its own certificate, from its own node CA) handed node-a's CA.
  const Ca ca_b = make_node_ca(root, "node-b-ca", {.name_pattern = "node-b*"});
  const Certificate b = make_leaf(ca_b, {.name = "node-b", .kind = Kind::Node});
  const auto r = node::check_node_binding(chain, &b);
  BOOST_REQUIRE(!r);
  const std::string& m = r.error().message;
  BOOST_TEST(m.find("\"node-a-ca\"") != std::string::npos, m);
  BOOST_TEST(m.find("bound to node \"node-a\"") != std::string::npos, m);
  BOOST_TEST(m.find("this host is node \"node-b\"") != std::string::npos, m);
  // No host certificate at all: nothing shows this is node-a.
  BOOST_TEST(!node::check_node_binding(chain, nullptr));
  // A workload certificate named node-a is not the node.
  const Certificate w = make_leaf(ca, {.name = "node-a"});
  BOOST_TEST(!node::check_node_binding(chain, &w));
  // An unbound node CA may be used anywhere (then discovery's claim guards it).
  const std::vector<Certificate> unbound{ca_b.cert};
  BOOST_TEST(node::check_node_binding(unbound, &a).has_value());
}
