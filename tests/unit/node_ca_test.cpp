// The node CA as keymeshd uses it: what it mints validates with the root, what its constraints
// forbid is refused before signing with a message that says why, and loading refuses a key or
// certificate that cannot mint.
#define BOOST_TEST_MODULE node_ca
#include <boost/test/unit_test.hpp>

#include "identity/cert_file.h"
#include "tests/unit/node_test_util.h"

using namespace keymesh;
using namespace keymesh::node;
using namespace keymesh::node::test;

namespace {

MintRequest request(const char* name = "node-a/web-1", const char* address = "100.64.1.7") {
  return MintRequest{.name = name,
                     .address = *IpAddress::parse(address),
                     .groups = {"web", "prod"},
                     .labels = {{"app", "web"}},
                     .lifetime = std::chrono::hours(12)};
}

void require_error(const auto& r, const std::string& part) {
  BOOST_REQUIRE_MESSAGE(!r, "expected an error mentioning: " + part);
  BOOST_TEST_MESSAGE("refused: " << r.error().message);
  BOOST_TEST(keymesh::test::has(r.error().message, part), r.error().message);
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(minted_certificate_validates_with_the_root, NodeFixture) {
  const NodeCa ca = node_ca();
  BOOST_TEST(ca.pool().to_string() == "100.64.1.0/24");
  const Minted m = must(ca.mint(request(), at(kT0)));
  BOOST_REQUIRE(m.chain.size() == 2u);
  BOOST_TEST(m.chain[1].fingerprint() == node.cert.fingerprint());
  const auto id = trust.validate(m.chain, at(kT0));
  BOOST_REQUIRE_MESSAGE(id.has_value(), (id ? "" : id.error().message));
  BOOST_TEST(id->name == "node-a/web-1");
  BOOST_TEST(identity::kind_name(id->kind) == "workload");
  BOOST_TEST(id->public_key == crypto::public_key(m.key));
  BOOST_REQUIRE(id->networks.size() == 1u);
  BOOST_TEST(id->networks[0].to_string() == "100.64.1.7/32");
  BOOST_TEST(id->groups == (std::vector<std::string>{"web", "prod"}));
  BOOST_TEST(id->labels.at("app") == "web");
  const auto& f = m.chain[0].fields();
  BOOST_TEST(f.not_before == kT0 - 60);
  BOOST_TEST(f.not_after == kT0 + 12 * kHour);
  // Two mints, two keys.
  const Minted other = must(ca.mint(request(), at(kT0)));
  BOOST_TEST(crypto::public_key(other.key) != crypto::public_key(m.key));
}

BOOST_FIXTURE_TEST_CASE(lifetime_is_clamped_to_the_node_ca, NodeFixture) {
  MintRequest r = request();
  r.lifetime = std::chrono::hours(48);  // the node CA allows 24 h
  const Minted m = must(node_ca().mint(r, at(kT0)));
  BOOST_TEST(m.chain[0].fields().not_after - m.chain[0].fields().not_before == 24 * kHour);
  BOOST_TEST(trust.validate(m.chain, at(kT0 + 23 * kHour)).has_value());

  // A node CA that expires in 2 h: the workload certificate ends with it.
  Ca short_ca = make_node_ca(root, "node-a", node_constraints(), kT0 - kDay, kT0 + 2 * kHour);
  const NodeCa ca2 = must(NodeCa::create({short_ca.cert}, copy_key(short_ca.key)));
  const Minted m2 = must(ca2.mint(request(), at(kT0)));
  BOOST_TEST(m2.chain[0].fields().not_after == kT0 + 2 * kHour);
  BOOST_TEST(trust.validate(m2.chain, at(kT0)).has_value());
  // Once it has expired, nothing more is minted.
  require_error(ca2.mint(request(), at(kT0 + 3 * kHour)),
                "\"node-a\" (" + short_ca.cert.short_fingerprint() + ") expired at");
}

BOOST_FIXTURE_TEST_CASE(constraint_violations_are_refused, NodeFixture) {
  const NodeCa ca = node_ca();
  require_error(ca.mint(request("node-b/web-1"), at(kT0)),
                "does not match the pattern \"node-a/*\"");
  require_error(ca.mint(request("node-a/web 1"), at(kT0)), "is not valid");
  require_error(ca.mint(request("node-a/web-1", "100.64.2.7"), at(kT0)),
                "outside the node range 100.64.1.0/24");
  require_error(ca.check_name("db"), "node-a/*");
  BOOST_TEST(ca.check_name("node-a/db").has_value());
}

BOOST_FIXTURE_TEST_CASE(every_ca_on_the_chain_constrains_the_name, NodeFixture) {
  // root -> "cluster" (names cluster/*) -> node CA (names *): the intermediate still binds.
  Ca inter = make_node_ca(root, "cluster",
                          {.allowed_networks = {cidr("100.64.0.0/16")},
                           .name_pattern = "cluster/*",
                           .may_sign_ca = true});
  Ca loose = make_node_ca(inter, "node-x",
                          {.allowed_networks = {cidr("100.64.9.0/24")}, .name_pattern = "*"});
  const NodeCa ca = must(NodeCa::create({loose.cert, inter.cert, root.cert}, copy_key(loose.key)));
  BOOST_TEST(ca.chain().size() == 2u);  // the root is dropped
  require_error(ca.mint(request("web-1", "100.64.9.5"), at(kT0)), "\"cluster/*\"");
  const Minted m = must(ca.mint(request("cluster/web-1", "100.64.9.5"), at(kT0)));
  BOOST_TEST(m.chain.size() == 3u);
  BOOST_TEST(trust.validate(m.chain, at(kT0)).has_value());
}

BOOST_FIXTURE_TEST_CASE(create_refuses_what_cannot_mint, NodeFixture) {
  require_error(NodeCa::create({node.cert}, identity::CaKey::generate()),
                "the key does not belong to");
  require_error(NodeCa::create({}, copy_key(node.key)), "no certificate");
  const auto leaf = make_leaf(node);
  require_error(NodeCa::create({leaf}, copy_key(node.key)), "not a CA");
  Ca v6_only = make_node_ca(root, "node-6", {.allowed_networks = {cidr("fd00:1::/64")}});
  require_error(NodeCa::create({v6_only.cert}, copy_key(v6_only.key)), "allows no IPv4");
  Ca unconstrained = make_node_ca(root, "node-u", {});
  require_error(NodeCa::create({unconstrained.cert}, copy_key(unconstrained.key)),
                "allows no IPv4");
  // A chain whose links do not hold: the node CA followed by an unrelated CA.
  Ca other_root = make_root("other");
  require_error(NodeCa::create({node.cert, make_node_ca(other_root).cert}, copy_key(node.key)),
                "was not issued by");
}

BOOST_FIXTURE_TEST_CASE(load_node_ca_reads_the_files_keymesh_cert_sign_writes, NodeFixture) {
  const std::string cert = dir / "node.crt", key = dir / "node.key";
  const std::vector<identity::Certificate> chain{node.cert, root.cert};
  BOOST_REQUIRE(identity::write_certificates_file(cert, chain, false));
  BOOST_REQUIRE(identity::write_ca_key_file(key, node.key, false));
  const NodeCa ca = must(load_node_ca(cert, key));
  BOOST_TEST(ca.chain().size() == 1u);
  BOOST_TEST(ca.range().front().to_string() == "100.64.1.0/24");
  BOOST_TEST(trust.validate(must(ca.mint(request(), at(kT0))).chain, at(kT0)).has_value());

  const std::string wrong = dir / "other.key";
  BOOST_REQUIRE(identity::write_ca_key_file(wrong, root.key, false));
  require_error(load_node_ca(cert, wrong), cert + ": node CA: the key does not belong to");
  require_error(load_node_ca(dir / "missing.crt", key), "missing.crt");
}
