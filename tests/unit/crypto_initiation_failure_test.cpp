// An initiation that cannot be created (a certificate chain too large for a handshake, as a
// renewal could produce) must not leave the previous initiation outstanding: the daemon
// releases that initiation's index before creating the next one, so a still-armed state
// would point at an index another path may get, and its retransmit timer would keep firing.
#define BOOST_TEST_MODULE crypto_initiation_failure
#include <boost/test/unit_test.hpp>

#include "crypto/noise.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;

BOOST_AUTO_TEST_CASE(a_failed_keymesh_initiation_disarms_the_earlier_one) {
  test::TwoIdentities ids;
  Handshake hi{ids.a, ids.b.public_key, nullptr};
  const Bytes chain(100, 0x42);
  Bytes out(keymesh_initiation_size(kMaxHandshakePayload + 1));
  std::size_t n = 0;
  BOOST_TEST_REQUIRE(hi.create_keymesh_initiation(out, 5, ids.clock.wall_now(), chain, n) ==
                     HandshakeError::None);
  BOOST_TEST_REQUIRE(hi.pending_local_index().value_or(0) == 5u);

  const Bytes too_big(kMaxHandshakePayload + 1, 0x42);
  BOOST_TEST(hi.create_keymesh_initiation(out, 6, ids.clock.wall_now(), too_big, n) ==
             HandshakeError::BadLength);
  BOOST_TEST(n == 0u);
  BOOST_TEST(!hi.pending_local_index().has_value());  // nothing half-armed
}

BOOST_AUTO_TEST_CASE(too_small_an_output_disarms_too) {
  test::TwoIdentities ids;
  Handshake hi{ids.a, ids.b.public_key, nullptr};
  MessageInitiation plain;
  BOOST_TEST_REQUIRE(hi.create_initiation(plain, 7, ids.clock.wall_now()) == HandshakeError::None);
  BOOST_TEST_REQUIRE(hi.pending_local_index().has_value());
  Bytes small(10);
  std::size_t n = 0;
  BOOST_TEST(hi.create_keymesh_initiation(small, 8, ids.clock.wall_now(), Bytes(20, 1), n) ==
             HandshakeError::BadLength);
  BOOST_TEST(!hi.pending_local_index().has_value());
}
