// The node CA's revocations (node/revocation_issuer.h): a deleted workload's certificate is
// named in a list the node CA signs, which a TrustStore with only the root accepts and which
// then refuses that workload (and only it); the list survives closing and reopening the state
// database; issued_at strictly increases; certificates of another CA are refused.
#define BOOST_TEST_MODULE node_revocation
#include <boost/test/unit_test.hpp>

#include "node/revocation_issuer.h"
#include "tests/unit/node_test_util.h"

using namespace keymesh;
using namespace keymesh::node;
using namespace keymesh::node::test;

namespace {
const WallTime kNow = at(kT0);
}  // namespace

BOOST_FIXTURE_TEST_CASE(a_deleted_workload_is_revoked_by_its_node_ca_and_stays_revoked,
                        NodeFixture) {
  std::int64_t first_issued = 0;
  std::vector<identity::Certificate> gone, kept;
  {
    WorkloadStore store = open();
    RevocationIssuer issuer = must(RevocationIssuer::open(store.state(), store.node_ca(), kNow));
    BOOST_TEST(!issuer.current());
    gone = must(store.add(spec("c1", "node-a/web-1"), kNow))->chain;
    kept = must(store.add(spec("c2", "node-a/web-2"), kNow))->chain;
    BOOST_REQUIRE(must(store.remove("c1", "eth0")));
    const auto list = must(issuer.revoke(gone.front(), kNow));
    first_issued = list.issued_at();
    BOOST_TEST(list.contains(gone.front().fingerprint()));
    BOOST_TEST(list.issuer() == node.cert.fingerprint());
    // Any host that trusts only the root accepts it, and refuses the deleted workload only.
    identity::TrustStore peer = trust;
    BOOST_REQUIRE(peer.set_revocation_list(list, kNow));
    BOOST_TEST(!peer.validate(gone, kNow));
    BOOST_TEST(peer.validate(kept, kNow).has_value());
    // Not its own: refused with a message.
    const Ca other = make_node_ca(root, "node-b", node_constraints("100.64.2.0/24"));
    const auto stranger = make_leaf(other, {.name = "node-b/x", .networks = {cidr("100.64.2.5/32")}});
    BOOST_TEST(!issuer.revoke(stranger, kNow));
  }
  // Reopened (a restart): the list is signed again, newer, still naming the workload.
  WorkloadStore store = open();
  RevocationIssuer issuer = must(RevocationIssuer::open(store.state(), store.node_ca(), kNow));
  BOOST_REQUIRE(issuer.current());
  BOOST_TEST(issuer.current()->contains(gone.front().fingerprint()));
  BOOST_TEST(issuer.current()->issued_at() > first_issued);
  // Once the certificate has expired it leaves the list.
  const auto later = must(issuer.revoke(kept.front(), at(kT0 + 25 * kHour)));
  BOOST_TEST(!later.contains(gone.front().fingerprint()));
  BOOST_TEST(issuer.size() == 0u);  // web-2 expired by then too
}
