// Revocation lists apply only to their issuer's subtree (identity/revocation_set.h): a list of
// root B cannot revoke root A's certificates, a node CA's list cannot revoke a sibling node's
// workloads (nor its own issuer), and a node CA's list (carrying its chain) revokes what that
// node CA issued, on validation and on recheck of a path validated earlier.
#define BOOST_TEST_MODULE identity_revocation_scope
#include <boost/test/unit_test.hpp>

#include "identity/chain.h"
#include "identity/revocation.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

// Two roots, both trusted. Under A: node CAs a1 and a2, each with one workload. Under B: a
// node CA b1 and its workload.
struct TwoRoots {
  Ca root_a = make_root("root-a");
  Ca root_b = make_root("root-b");
  Ca a1 = make_node_ca(root_a, "node-a");
  Ca a2 = make_node_ca(root_a, "node-b",
                       {.allowed_networks = {cidr("10.2.0.0/24")}, .name_pattern = "node-b/*",
                        .max_lifetime_seconds = 24 * 3600, .may_sign_ca = false});
  Ca b1 = make_node_ca(root_b, "node-a");
  Certificate w_a1 = make_leaf(a1);
  Certificate w_a2 = make_leaf(a2, {.name = "node-b/db", .networks = {cidr("10.2.0.5/32")}});
  Certificate w_b1 = make_leaf(b1);
  TrustStore store;
  TwoRoots() {
    BOOST_REQUIRE(store.add_root(root_a.cert));
    BOOST_REQUIRE(store.add_root(root_b.cert));
  }
  bool valid(const Chain& c) const { return store.validate(c, at(kT0)).has_value(); }
  RevocationList node_list(const Ca& ca, std::vector<Fingerprint> revoked, std::int64_t t = kT0) {
    return must(sign_revocation_list(ca.cert, ca.key, std::move(revoked), t, Chain{ca.cert}));
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_root_list_cannot_revoke_another_roots_certificates, TwoRoots) {
  // Root B lists A's workload, A's node CA and root A itself: none of them is under B.
  BOOST_REQUIRE(store.set_revocation_list(must(sign_revocation_list(
      root_b.cert, root_b.key,
      {w_a1.fingerprint(), a1.cert.fingerprint(), root_a.cert.fingerprint()}, kT0))));
  BOOST_TEST(valid({w_a1, a1.cert}));
  BOOST_TEST(valid({w_a2, a2.cert}));
  const auto id = must(store.validate(Chain{w_a1, a1.cert}, at(kT0)));
  BOOST_TEST(store.recheck(id, at(kT0)).has_value());
  // The same list from root A does revoke them.
  BOOST_REQUIRE(store.set_revocation_list(
      must(sign_revocation_list(root_a.cert, root_a.key, {w_a1.fingerprint()}, kT0))));
  const auto r = store.validate(Chain{w_a1, a1.cert}, at(kT0));
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == to_string(CertError::Revoked));
  BOOST_TEST(!store.recheck(id, at(kT0)));
  BOOST_TEST(valid({w_b1, b1.cert}));
}

BOOST_FIXTURE_TEST_CASE(a_node_ca_revokes_what_it_issued_and_nothing_else, TwoRoots) {
  const auto id_a1 = must(store.validate(Chain{w_a1, a1.cert}, at(kT0)));
  // Node CA a1 lists its own workload, its sibling's workload, the sibling node CA, its root
  // and B's workload.
  const RevocationList list =
      node_list(a1, {w_a1.fingerprint(), w_a2.fingerprint(), a2.cert.fingerprint(),
                     root_a.cert.fingerprint(), w_b1.fingerprint(), a1.cert.fingerprint()});
  BOOST_TEST(!list.issuer_chain().empty());
  // A node CA's list needs the time to check the chain it carries.
  BOOST_TEST(!store.set_revocation_list(list));
  BOOST_REQUIRE(store.set_revocation_list(list, at(kT0)));
  const auto r = store.validate(Chain{w_a1, a1.cert}, at(kT0));
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == to_string(CertError::Revoked));
  BOOST_TEST(!store.recheck(id_a1, at(kT0)));
  BOOST_TEST(valid({w_a2, a2.cert}));  // a sibling node's workload
  BOOST_TEST(valid({w_b1, b1.cert}));  // another root's
  // Its own certificate is not below it: a1's other workloads still go through.
  const Certificate w_a1b = make_leaf(a1, {.name = "node-a/api", .networks = {cidr("10.1.0.6/32")}});
  BOOST_TEST(valid({w_a1b, a1.cert}));
}

BOOST_FIXTURE_TEST_CASE(a_node_ca_list_is_checked_like_a_chain, TwoRoots) {
  // A CA under an untrusted root.
  const Ca stranger = make_root("stranger");
  const Ca rogue = make_node_ca(stranger, "node-a");
  const auto untrusted = store.set_revocation_list(node_list(rogue, {w_a1.fingerprint()}), at(kT0));
  BOOST_REQUIRE(!untrusted);
  BOOST_TEST(to_string(untrusted.error().reason) == to_string(CertError::UnknownRoot));
  // The library refuses to sign as one CA with another's key.
  BOOST_TEST(!sign_revocation_list(a2.cert, a1.key, {}, kT0, Chain{a2.cert}));
  // A stale list is refused, and so is the list of a revoked node CA.
  BOOST_REQUIRE(store.set_revocation_list(node_list(a1, {w_a1.fingerprint()}), at(kT0)));
  const auto stale = store.set_revocation_list(node_list(a1, {}, kT0 - 10), at(kT0));
  BOOST_REQUIRE(!stale);
  BOOST_TEST(to_string(stale.error().reason) == to_string(CertError::StaleRevocationList));
  BOOST_REQUIRE(store.set_revocation_list(
      must(sign_revocation_list(root_a.cert, root_a.key, {a2.cert.fingerprint()}, kT0))));
  BOOST_TEST(!store.set_revocation_list(node_list(a2, {w_a2.fingerprint()}), at(kT0)));
  // A root's list carries no chain; a node CA's must.
  BOOST_TEST(!sign_revocation_list(a1.cert, a1.key, {}, kT0));
  BOOST_TEST(!sign_revocation_list(root_a.cert, root_a.key, {}, kT0, Chain{root_a.cert}));
}

BOOST_FIXTURE_TEST_CASE(the_carried_chain_survives_the_wire, TwoRoots) {
  const RevocationList list = node_list(a1, {w_a1.fingerprint()});
  const auto again = must(RevocationList::parse(list.encoded()));
  BOOST_TEST(again.issuer_chain() == list.issuer_chain());
  BOOST_TEST(again.issuer() == a1.cert.fingerprint());
  const auto text = armor_revocation_list(list);
  const auto parsed = must(parse_revocation_list_text(
      ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
  BOOST_TEST(parsed.encoded() == list.encoded());
}
